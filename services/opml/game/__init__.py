"""The off-chain side of the dispute game: trace providers, the pure solver, and a synchronous driver.

Pipeline (STYLE.md §1): chain bindings read a `GameView` → `solver.next_action` picks a move from the party's
trace providers → the driver (or a daemon) sends it through `TxSender`.
"""
