"""A therapy_pairs run in its own process, for the kill -9 test (and nothing else).

    python -m darija_assets_tests.therapy.resume_child LABELS CACHE OUT BASE_URL

Generates the Sadness pairs of LABELS through the groq SDK at BASE_URL, one request
at a time, 4 pairs per request, with the answer cache at CACHE; writes the table to OUT.
"""

from __future__ import annotations

import sys

import polars as pl

from darija_assets.llm.backends import make_backend
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.tasks.pairs import TherapyPairTask
from darija_assets.storage import write_parquet
from darija_assets.therapy.pairs import generate_pairs
from darija_assets_tests.therapy.teachers import FAKE_KEY

QUOTA, BATCH = 24, 4


def main(labels_path: str, cache_path: str, out_path: str, base_url: str) -> None:
    backend = make_backend("groq", api_key=FAKE_KEY, base_url=base_url, timeout_s=60)
    with AnswerCache(cache_path) as cache:
        result = generate_pairs(
            pl.read_parquet(labels_path),
            "Sadness",
            backend,
            cache,
            quota=QUOTA,
            seed=1,
            task=TherapyPairTask(batch_size=BATCH),
            concurrency=1,
        )
    write_parquet(result.pairs, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:5])
