"""How a prompt becomes chat messages, for chat templates with and without a system role.

Gemma-family chat templates (gemma, gemma2, gemma3, and models fine-tuned from them
such as Atlas-Chat) refuse a system turn: rendering one raises jinja2's
``TemplateError: System role not supported``. For them the system text is folded
into the first user turn, which is what Google's own Gemma prompt guide does with
instructions. ``system_role``: ``native`` sends a system turn, ``fold`` never does,
``auto`` folds for known Gemma-family model ids (and, for a local template, when a
probe render raises).
"""

from __future__ import annotations

import json
import re

from darija_assets.llm.base import Prompt

SYSTEM_ROLE_MODES = ("auto", "native", "fold")
#: model ids whose chat template has no system role: the Gemma family, and Atlas-Chat
#: (MBZUAI-Paris; its model card names google/gemma-2-*-it as the base model)
_NO_SYSTEM_ROLE = re.compile(r"gemma|atlas-chat", re.IGNORECASE)


def system_with_schema(prompt: Prompt) -> str:
    """The system text, with the answer's JSON schema appended (for servers that cannot
    enforce a schema: JSON mode only, or no structured output at all)."""
    if prompt.response_schema is None:
        return prompt.system
    schema = json.dumps(prompt.response_schema, ensure_ascii=False)
    return f"{prompt.system}\n\nAnswer with JSON only, matching this JSON schema:\n{schema}"


def check_system_role(mode: str) -> str:
    if mode not in SYSTEM_ROLE_MODES:
        raise ValueError(f"system_role must be one of {', '.join(SYSTEM_ROLE_MODES)}, got {mode!r}")
    return mode


def folds_system_role(mode: str, model: str) -> bool:
    """Whether ``model`` gets its system text folded into the user turn under ``mode``
    (``auto`` decides by the model family)."""
    check_system_role(mode)
    return mode == "fold" or (mode == "auto" and bool(_NO_SYSTEM_ROLE.search(model)))


def chat_messages(system: str, user: str, *, fold: bool) -> list[dict[str, str]]:
    """``[system, user]`` turns, or one user turn that starts with the system text."""
    if not system:
        return [{"role": "user", "content": user}]
    if fold:
        return [{"role": "user", "content": f"{system}\n\n{user}"}]
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
