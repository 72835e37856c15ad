"""The ML dispute levels (docs/levels.md): request → graph → tile → VM.

commitments   tensor commitments, the model's roots (graph, constants, kernel set), the anchor
merkle        fixed-depth keccak trees (slot tree, node tree, kernel set)
tiling        each node's tiles and VM trace length (committed in its node leaf)
vmstart       a tile run's initial VM state from region roots alone, the OUTPUT region's proof
links         the link proofs (abi-encoded for contracts/levels/*) and the same checks in Python
request_level, graph_level, tile_level, vm_level   the trace providers, one per level
faults        how a lying party's claims differ (tests, demos)
stack         deploying the contracts for committed models
cli           `opml levels commit MODEL`
"""
