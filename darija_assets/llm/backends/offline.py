"""The offline backend: no network, no key, no model. The runner asks each task's
own ``offline`` answer (a lexicon, templates) instead of sending prompts, and rows
record the task's ``offline_backend`` / ``offline_model`` so nobody mistakes them
for a teacher model's answers."""

from __future__ import annotations

from darija_assets.llm.base import Backend, BackendUnavailable, Completion, Prompt


class OfflineBackend(Backend):
    name = "offline"
    model = "offline"

    def complete(self, prompt: Prompt) -> Completion:
        # Reaching this is a wiring mistake: the runner answers offline work per item.
        raise BackendUnavailable("the offline backend answers through task.offline, not prompts")
