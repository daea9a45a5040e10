"""The GPU benchmark must say plainly that it measured nothing when there is no CUDA GPU.

Its measuring path needs a CUDA machine and is run there by hand; here we check
the path every CPU machine (and CI) takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_qlora.py"


def test_without_cuda_it_exits_2_with_the_reason() -> None:
    # An empty CUDA_VISIBLE_DEVICES hides any GPU, so the test means the same on every machine.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert "no CUDA GPU here (torch.cuda.is_available() is False)" in done.stderr
    assert "No figures were recorded." in done.stderr
