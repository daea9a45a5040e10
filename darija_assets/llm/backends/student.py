"""The ``student`` backend: a trained emotion_classifier labels sentences itself.

Like ``offline``, it answers no prompts: teacher_labels hands the student the
sentences directly (``darija_assets.classifier.distill``), so a source labelled
through it costs no teacher request. Rows record backend ``student``, the student
as model and its confidence. ``model`` names the student: an emotion_classifier
kind (``linear``, ``encoder``: the asset's saved model under the data directory)
or a saved student directory. scikit-learn and torch load only when it labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from darija_assets.llm.base import Backend, BackendUnavailable, Completion, Prompt

if TYPE_CHECKING:
    from darija_assets.classifier.student import Student
    from darija_assets.storage import Layout

DEFAULT_STUDENT = "linear"


class StudentBackend(Backend):
    name = "student"

    def __init__(self, model: str | None = None):
        self.model = model or DEFAULT_STUDENT

    def directory(self, layout: Layout) -> Path:
        """Where the student lives: ``model`` itself when it is a directory, else the
        emotion_classifier partition of that name under ``layout``."""
        from darija_assets.classifier import KINDS

        given = Path(self.model)
        if given.is_dir():
            return given
        if self.model not in KINDS:
            raise BackendUnavailable(
                f"student {self.model!r} is neither a saved student directory nor one of "
                f"the emotion_classifier kinds ({', '.join(KINDS)})"
            )
        return layout.artifact("emotion_classifier", self.model)

    def load(self, layout: Layout) -> Student:
        """The trained student; raises ``BackendUnavailable`` when none was saved there."""
        from darija_assets.classifier.student import load_student

        directory = self.directory(layout)
        try:
            return load_student(directory)
        except FileNotFoundError as missing:
            raise BackendUnavailable(
                f"{missing}: materialize emotion_classifier first (it needs teacher or "
                "imported labels)"
            ) from missing

    def complete(self, prompt: Prompt) -> Completion:
        # Reaching this is a wiring mistake: the student labels sentences, not prompts.
        raise BackendUnavailable(
            "the student backend labels sentences in teacher_labels only; it answers no prompts"
        )
