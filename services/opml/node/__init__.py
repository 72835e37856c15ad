"""The opML node: submitter and challenger daemons, the requester SDK, and the devnet (docs/operators.md).

Pipeline (DESIGN.md §6, STYLE.md §1), one module per step:

    monitor    chain heads and contract logs from a start block, `confirmations` behind the head
    scheduler  one asyncio task per request, submission or game (dedup, retry with backoff, wake on new heads)
    player     reads a game through the bindings and asks the pure solver (opml.game.solver) for the move
    responder  sends through TxSender, journaling each intent first: a move is never sent twice

    daemon     what both daemons share; submitter, challenger: what each does with chain events
    backends   the model plug-in point: model id → native result + trace providers (toy; ml_backend)
    cache      the journal and the claim cache on disk       config, logging, metrics, bus (MQTT)
    sdk, cli, devnet, deployment, testing (real processes for integration tests and the demo)
    broker (mosquitto as a subprocess), embedded_broker (amqtt in process: the default bus)
    demo (`opml demo`: devnet + three daemons on MNIST), demo_story (its narrator: chain events → lines)
"""
