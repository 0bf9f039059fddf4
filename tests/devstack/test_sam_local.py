"""Real `sam local invoke` on every sample event (`make sam-local`), as a test.

Marked `docker` and so not run by `make test`: it needs a Docker daemon and the image
public.ecr.aws/lambda/python:3.12-<arch>. Run it with `.venv/bin/python -m pytest -m docker`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.docker
def test_every_sample_event_gives_its_outcome_when_run_by_sam_local_invoke() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "sam-local", "--start-api"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "sam-local: every outcome as documented" in done.stdout
