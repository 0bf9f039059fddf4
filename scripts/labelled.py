"""What the accuracy reports share: the labelled sets' lines and a miss's text, shortened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TEXT_WIDTH = 60


def rows(path: Path) -> list[dict[str, Any]]:
    """The JSON object of each non-blank line of a JSONL file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def short(text: str) -> str:
    """A request's text on one line, cut to `TEXT_WIDTH` characters for a report."""
    flat = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= TEXT_WIDTH else f"{flat[: TEXT_WIDTH - 1]}…"
