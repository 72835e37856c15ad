"""Contract stacks on a chain: deploying them (deploy: the shared game contracts; ml, llm, kernel, toy: the four kinds
of levels) and playing disputes on them (driver; dispute: one ML or generation dispute end to end). Uses chain, levels, game and
below; no daemons (that is node).
"""
