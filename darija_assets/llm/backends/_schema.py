"""Shared by backends whose API cannot enforce a JSON schema (Groq's JSON mode, a
local model): the schema is written into the system message instead."""

from __future__ import annotations

import json

from darija_assets.llm.base import Prompt


def system_with_schema(prompt: Prompt) -> str:
    if prompt.response_schema is None:
        return prompt.system
    schema = json.dumps(prompt.response_schema, ensure_ascii=False)
    return f"{prompt.system}\n\nAnswer with JSON only, matching this JSON schema:\n{schema}"
