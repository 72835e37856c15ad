"""Talking to Ethereum: contract build, the Anvil process, bindings, the transaction sender. Uses game (the types a
game view decodes into) and the root modules; nothing that deploys or plays (that is stacks).
"""
