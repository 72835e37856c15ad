"""opml: optimistic machine learning — verifiable ML inference on Ethereum through fraud proofs.

The rooms, each importing only from those before it (tests/unit/test_layers.py):
vm → kernels → ml → llm → game → levels → chain → stacks → node → demos, then cli.py (the `opml` command). The root
modules (hashing, merkle, paths, logs, processes, progress, cliargs) are the floor every room may use.
"""

__version__ = "0.1.0"
