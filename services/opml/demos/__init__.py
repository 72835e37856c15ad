"""The narrated demos: `opml demo` (network: devnet + three daemon processes, story: its narrator; llm: the same on
the LLM stack, `opml demo --llm`), `opml demo --kernel` (kernel) and `opml dispute-demo` (dispute), with one
formatting module (fmt). Uses every room below.
"""
