"""The opML node: submitter and challenger daemons, the requester SDK, and the devnet.

Pipeline (DESIGN.md §6, STYLE.md §1): `monitor` (chain heads and logs) → `scheduler` (one task per request or
game) → `player` (reads the game, asks the pure solver) → `responder` (transactions, journaled). A model's level
stack plugs in through `backends` (model id → native inference and trace providers).
"""
