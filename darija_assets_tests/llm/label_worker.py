"""A labelling run in its own process, for the kill -9 test (``test_resume_kill``).

python -m darija_assets_tests.llm.label_worker BASE_URL CACHE_PATH N_SENTENCES
"""

from __future__ import annotations

import sys

from darija_assets.llm.backends import make_backend
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.runner import run_task
from darija_assets.llm.tasks.labels import LabelTask
from darija_assets_tests.llm.conftest import FAKE_KEY, darija_items

BATCH_SIZE = 5


def main(base_url: str, cache_path: str, n: int) -> None:
    backend = make_backend("groq", api_key=FAKE_KEY, base_url=base_url)
    with AnswerCache(cache_path) as cache:
        run_task(LabelTask(batch_size=BATCH_SIZE), darija_items(n), backend, cache, concurrency=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
