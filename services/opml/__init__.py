"""opml: optimistic machine learning — verifiable ML inference on Ethereum through fraud proofs."""

__version__ = "0.1.0"
