"""The LLM layer shared by teacher_labels, therapy_pairs and translations.

- ``base``: the contract (WorkItem, Prompt, Completion, Accepted/Rejected, LLMTask, Backend, errors)
- ``runner.run_task``: batching, cache, rate limits, retries, quarantine, resumability
- ``cache.AnswerCache``: the SQLite answer cache that makes runs resumable
- ``limiter.RateLimiter``: client-side RPM/TPM limits and bounded concurrency
- ``backends.make_backend``: gemini, groq, transformers, offline, and ``auto``
- ``stub_server.StubServer``: the Gemini/Groq wire-format stub for tests and benchmarks
- ``tasks``: one module per task; ``lexicon``: the offline emotion labeller

Nothing here imports Dagster; SDKs, torch and transformers load only when used.
"""
