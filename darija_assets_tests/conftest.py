"""Fixtures of the whole suite.

No test may reach a model or dataset hub (none is reachable here, and CI must not depend
on one): the Hugging Face libraries run offline for every test, and the subprocesses the
tests start inherit it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


@pytest.fixture(scope="session", autouse=True)
def _offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in OFFLINE_VARIABLES:
            patch.setenv(name, "1")
        yield
