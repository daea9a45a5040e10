"""LLM tasks: what to ask and how to judge the answer (labels, pairs, translations).

Each module holds one ``LLMTask`` subclass; the runner (``llm/runner.py``) runs any
of them on any backend.
"""
