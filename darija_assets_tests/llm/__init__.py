"""Tests of the LLM layer: runner, cache, limiter, backends (real SDKs against the stub), tasks."""
