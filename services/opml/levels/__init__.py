"""The ML dispute levels (docs/levels.md): commitments of models and tensors, the request → graph → tile → VM
trace providers, their link proofs (checked on chain by `contracts/levels/*`), and fault injection for lying
parties."""
