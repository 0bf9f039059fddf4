"""The one table the bench prints: ratio first, then the target, the verdict and the figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COLUMNS = ("ratio", "target", "ok", "section", "measure", "bundle", "floor", "notes")


@dataclass
class Row:
    section: str
    measure: str
    bundle: str
    floor: str = ""
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None  # None: informational, no target
    notes: str = ""

    def cells(self) -> tuple[str, ...]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        ok = {True: "ok", False: "MISS", None: ""}[self.ok]
        return (
            ratio,
            self.target,
            ok,
            self.section,
            self.measure,
            self.bundle,
            self.floor,
            self.notes,
        )


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def render(rows: Sequence[Row], columns: Sequence[str] = COLUMNS) -> str:
    """A Markdown table (readable in a terminal, pasteable into the README)."""
    body = [tuple(_escape(c) for c in row.cells()) for row in rows]
    index = [COLUMNS.index(c) for c in columns]
    cells = [[r[i] for i in index] for r in body]
    widths = [max([len(columns[j]), *(len(r[j]) for r in cells)]) for j in range(len(index))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines)


def well_formed(row: Row) -> bool:
    """What the smoke test checks: every row names its measure and figure, a ratio is a
    positive number, and a verdict exists exactly when there is a target."""
    if not (row.section and row.measure and row.bundle):
        return False
    if row.ratio is not None and not (row.ratio > 0):
        return False
    return (row.ok is None) == (row.target == "")


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
