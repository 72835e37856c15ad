"""The opML node (docs/operators.md): submitter and challenger daemons, the requester SDK and the devnet. Uses stacks,
chain, levels, game, ml and below.

    monitor    chain heads and contract logs from a start block, `confirmations` behind the head
    scheduler  one asyncio task per request, submission or game (dedup, retry with backoff, wake on new heads)
    player     reads a game through the bindings and asks the pure solver (opml.game.solver) for the move
    responder  sends through TxSender, journaling each intent first: a move is never sent twice

    daemon     what both daemons share; submitter, challenger: what each does with chain events
    backends   the model plug-in point (interface: backend_api): model id → native result + trace providers;
               kinds toy, ml (ml_backend) and llm (llm_backend: generation requests; llm_requests: a prompt → the
               request, the output → text; llm_deploy: LLM files on an LLM stack)
    cache      the journal and the claim cache on disk       config, metrics, bus (MQTT)
    sdk, cli, devnet, deployment, process (a daemon as a real process: the network demo, benchmarks, tests)
    broker (mosquitto as a subprocess), embedded_broker (amqtt in process: the default bus)
"""
