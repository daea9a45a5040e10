"""Serving a trained adapter to people: the crisis guard, the evaluation gate, export
for Ollama and vLLM, and the chat page.

Nothing here imports torch, transformers or peft at module import time; the
functions that need them import them when called, so the code location stays fast
to load.
"""
