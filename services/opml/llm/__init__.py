"""LLMs in integers: llama GGUF import, the float reference, the integer decode-step graph, generation.

Above ``opml.ml`` in the layer order (it builds graphs from the op table); see docs/llm.md.
"""
