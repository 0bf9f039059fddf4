"""`make demo`, run as the README's first command runs it: the whole local stack, three scenes,
exit status 0 only when each client got the reply the scene is about."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO_SECONDS = 240  # the demo's own steps have deadlines of 20 s each; this only stops a hang


@pytest.fixture(scope="module")
def demo(project_root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ONEMSG_API_URL", "LOG_LEVEL")}
    env["API_PORT"] = "0"  # a free port: another stack may hold 3000
    return subprocess.run(
        [sys.executable, "-m", "devstack", "demo"],
        cwd=project_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_SECONDS,
        check=False,
    )


def test_demo_exits_0_and_prints_three_scenes_when_the_stack_runs(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert demo.returncode == 0, demo.stderr[-2000:]
    scenes = [line for line in demo.stdout.splitlines() if line.startswith("== ")]
    assert [s[:5] for s in scenes] == ["== 1.", "== 2.", "== 3."]
    assert "Demo finished" in demo.stdout


def test_demo_answers_english_and_russian_with_their_subjects_when_two_clients_write(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert "'Hello, Maria! We received your request about «delivery to Almaty»." in demo.stdout
    assert (
        "'Здравствуйте, Айгуль! Мы получили ваш запрос по теме «доставка углового дивана в "
        "Астану»." in demo.stdout
    )


def test_demo_answers_with_the_out_of_hours_text_when_the_business_is_closed(
    demo: subprocess.CompletedProcess[str],
) -> None:
    third = demo.stdout.split("== 3.", 1)[-1]
    assert "'Hello, Daniel! We received your request about «grey corner sofa in stock»." in third
    assert "We are closed now; " in third and " will reply when we open: " in third
    # and only the third scene: the first two were answered while open
    assert "We are closed now" not in demo.stdout.split("== 3.", 1)[0]
