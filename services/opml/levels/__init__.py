"""The ML dispute levels (docs/levels.md), pure: request → graph → tile → VM trace providers over committed models.
Uses game, llm, ml, kernels and vm; no chain (deploying and playing them is `opml.stacks`).

commitments   tensor commitments, the model's roots (graph, constants, kernel set), the anchor
tiling        each node's tiles and VM trace length (committed in its node leaf)
links         the link proofs (abi-encoded for contracts/levels/*) and the same checks in Python
abi_struct    ABI structs: node defs, graphs and link proofs take their tuple type and encoding from their fields
request_level, graph_level, tile_level, vm_level   the trace providers, one per level (vm_level: one VM level
              and its one lie, for ML tiles and single-kernel requests alike)
kernel_level  the request level of a single-kernel request (one kernel run as the whole request)
faults        how a lying party's claims differ; lies: the lying request, graph and tile levels, each built around
              the honest one (which never uses faults); scenarios: a random fault of each class (demos, benchmarks)
cli           `opml levels commit MODEL`

Generation requests (an LLM's decode-step graph, one more level on top):
llm_commitment   the LLM commitment (named slots in the graph root), token states, input/output commitments
token_level      the request level (`GenerationParty`) and the token level (one transition per decode step)
llm_links        the request → token and token → graph link proofs and their Python checks
generation_lies  the lying generation party and the fault spec texts; generation_scenarios: random fault classes
"""
