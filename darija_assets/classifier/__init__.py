"""The student emotion classifier: a cheap model trained on teacher labels.

Two kinds share one interface (``student.Student``):

- ``linear`` (default): character n-gram TF-IDF + logistic regression (scikit-learn),
  seconds on a CPU; on 17,500 real Atlas-Chat-9B labels it scores about accuracy 0.72
  and macro-F1 0.50-0.54 on the held-out rest (issue 12).
- ``encoder``: a transformer encoder fine-tuned with LoRA, the original emotion
  classifier's recipe (r=8, alpha=16, dropout 0.1 on the attention query/value
  projections), on a preset base (DarijaBERT, MARBERT, or a tiny encoder built
  locally for offline runs and tests).

This package imports no heavy library at import time: scikit-learn, torch and
matplotlib load inside the functions that need them, so the code location stays
fast to load.
"""

from __future__ import annotations

#: the student kinds, one ``emotion_classifier`` partition each; ``linear`` is the default
KINDS: tuple[str, ...] = ("linear", "encoder")
DEFAULT_KIND = "linear"
#: the metadata file every saved student carries (its kind, labels and settings)
STUDENT_FILE = "student.json"
