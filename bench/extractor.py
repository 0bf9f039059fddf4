"""Section 1b: what the request extractor costs per request (rules mode).

Every request of the labelled set (`tests/data/subjects_labelled.jsonl`) goes through
`summarise` as the sender calls it for an auto-reply: subject, language and category, with
the shipped example catalogue (`ops/catalogue.example.json`) to match against. The rules
and the language model are loaded first (their load is measured with the cold start);
then each request is timed on its own, in `rounds` passes over the set, and the p50 and
p99 of all of them are kept: the process's CPU time (a busy neighbour's preemptions are not
the extractor's), with the wall time's p99 beside it.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.table import Row

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "subjects_labelled.jsonl"
CATALOGUE = ROOT / "ops" / "catalogue.example.json"
TARGET_P99_MS = 5.0


@dataclass
class ExtractorResult:
    requests: int
    rounds: int
    entries: int
    samples_ms: list[float] = field(default_factory=list)  # CPU time of each request
    wall_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float, wall: bool = False) -> float:
        ordered = sorted(self.wall_ms if wall else self.samples_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure_extractor(rounds: int = 5, labelled: Path = LABELLED) -> ExtractorResult:
    from session_reply.domain.catalogue import parse_catalogue
    from session_reply.domain.request import summarise
    from session_reply.settings import Settings

    settings = Settings()
    languages = settings.language_list
    entries = parse_catalogue(json.loads(CATALOGUE.read_text(encoding="utf-8"))["entries"])
    cases = [
        json.loads(line)
        for line in labelled.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    summarise("hello, how much is delivery?", languages=languages, catalogue=entries)  # loads
    result = ExtractorResult(len(cases), rounds, len(entries))
    for _ in range(rounds):
        for case in cases:
            started, cpu = time.perf_counter(), time.process_time()
            summarise(
                case["text"],
                case.get("type", "chat"),
                case.get("known"),
                settings.default_language,
                languages,
                catalogue=entries,
            )
            result.samples_ms.append((time.process_time() - cpu) * 1000)
            result.wall_ms.append((time.perf_counter() - started) * 1000)
    return result


def extractor_rows(result: ExtractorResult) -> list[Row]:
    p50, p99 = result.percentile(0.5), result.percentile(0.99)
    basis = (
        f"{result.requests} labelled requests x {result.rounds} rounds, each timed alone, "
        f"subject + language + category, {result.entries} catalogue entries, rules and "
        "model already loaded"
    )
    return [
        Row(
            section="1b extractor",
            measure="subject + language + category per request, p99 (rules mode)",
            bundle=f"{p99:.2f} ms",
            ratio=p99 / TARGET_P99_MS,
            target=f"<= {TARGET_P99_MS:.0f} ms",
            ok=p99 <= TARGET_P99_MS,
            notes=f"{basis}; CPU time (wall p99 {result.percentile(0.99, wall=True):.2f} ms); "
            f"max {max(result.samples_ms, default=0.0):.2f} ms",
        ),
        Row(
            section="1b extractor",
            measure="subject + language + category per request, p50 (rules mode)",
            bundle=f"{p50:.2f} ms",
            notes=f"{basis}; mean {statistics.fmean(result.samples_ms or [0.0]):.2f} ms",
        ),
    ]
