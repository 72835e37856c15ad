"""Contract stacks on a chain: deploying them (deploy: the shared game contracts; ml, kernel, toy: the three kinds of
levels) and playing disputes on them (driver; dispute: one ML dispute end to end). Uses chain, levels, game and
below; no daemons (that is node).
"""
