"""The dispute game off chain, pure: game types, the trace-provider protocol, bisection, the solver, the toy
levels. No chain, no I/O; uses only the root modules. Playing on a chain is `opml.stacks.driver`.
"""
