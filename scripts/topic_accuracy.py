"""How well the topic rules label the labelled set: precision, recall, accuracy, misses.

Run from the repo root, with the layer on the path the way Lambda has it:

    PYTHONPATH=layers/common:. .venv/bin/python -m scripts.topic_accuracy
    PYTHONPATH=layers/common:. .venv/bin/python -m scripts.topic_accuracy --min-accuracy 0.9

Each line of the set is `{"text", "lang", "expected"[, "type", "split"]}`. `expected` is a topic
label, `__excerpt__` (no rule should match: the request's own words stand in) or the neutral
phrase (a greeting alone); `type` is the message type (a media caption: "image"); `split` says
how honest the line's score is:

- no split ("tuning"): written before the rules were tuned, then tuned on;
- "holdout-1": written after, scored once untouched (75.0%), then tuned on;
- "holdout-2": written after that, scored once untouched (85.4%); two bug fixes since.

To measure how the rules generalise again, write a new split before changing the rules for it.
It is a report: the exit code is 0 unless `--min-accuracy` is given and the overall accuracy
is below it. A miss shows the stems that matched ("~" marks a typo match).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from session_reply.domain.topic import extract_topic, matched_stems

from scripts.labelled import rows, short

DEFAULT_SET = Path("tests/data/topics_labelled.jsonl")
EXCERPT = "__excerpt__"


@dataclass(frozen=True, slots=True)
class Case:
    text: str
    lang: str
    expected: str
    message_type: str
    split: str


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    predicted: str
    rule_id: str


@dataclass(frozen=True, slots=True)
class Score:
    label: str
    precision: float
    recall: float
    support: int


def load_cases(path: Path) -> list[Case]:
    return [
        Case(
            row["text"],
            row["lang"],
            row["expected"],
            row.get("type", "chat"),
            row.get("split", "tuning"),
        )
        for row in rows(path)
    ]


def predict(case: Case) -> Outcome:
    """The set's label for what `extract_topic` returns: an excerpt is any excerpt."""
    topic = extract_topic(case.text, case.message_type)
    label = EXCERPT if topic.rule_id == "excerpt" else topic.label
    return Outcome(case, label, topic.rule_id)


def scores(outcomes: list[Outcome]) -> list[Score]:
    expected = Counter(o.case.expected for o in outcomes)
    predicted = Counter(o.predicted for o in outcomes)
    right = Counter(o.predicted for o in outcomes if o.predicted == o.case.expected)
    return [
        Score(
            label,
            right[label] / predicted[label] if predicted[label] else 0.0,
            right[label] / expected[label] if expected[label] else 0.0,
            expected[label],
        )
        for label in sorted(expected.keys() | predicted.keys())
    ]


def accuracy(outcomes: list[Outcome]) -> float:
    return sum(o.predicted == o.case.expected for o in outcomes) / len(outcomes)


def _accuracy_by(outcomes: list[Outcome], key: Callable[[Case], str]) -> str:
    total = Counter(key(o.case) for o in outcomes)
    right = Counter(key(o.case) for o in outcomes if o.predicted == o.case.expected)
    return ", ".join(
        f"{group} {right[group] / n:.1%} ({right[group]}/{n})" for group, n in sorted(total.items())
    )


def _why(text: str) -> str:
    stems = matched_stems(text)
    return ", ".join(f"{rule_id} {stem!r}" for rule_id, stem in stems) or "no stem matched"


def report(outcomes: list[Outcome]) -> str:
    lines = [f"{'topic':<22} {'precision':>9} {'recall':>7} {'support':>8}"]
    lines += [
        f"{s.label:<22} {s.precision:>9.2f} {s.recall:>7.2f} {s.support:>8}"
        for s in scores(outcomes)
    ]
    right = sum(o.predicted == o.case.expected for o in outcomes)
    lines += [
        "",
        f"accuracy: {accuracy(outcomes):.1%} ({right}/{len(outcomes)})",
        f"  by language: {_accuracy_by(outcomes, lambda c: c.lang)}",
        f"  by split:    {_accuracy_by(outcomes, lambda c: c.split)}",
    ]
    misses = [o for o in outcomes if o.predicted != o.case.expected]
    if misses:
        lines += ["", f"misclassified ({len(misses)}):"]
        lines += [
            f"  [{o.case.lang}] {short(o.case.text)!r}: expected {o.case.expected!r}, "
            f"got {o.predicted!r}: {_why(o.case.text)}"
            for o in misses
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_SET, help="the labelled set (JSONL)")
    parser.add_argument(
        "--min-accuracy", type=float, default=None, help="exit 1 when accuracy is below this"
    )
    args = parser.parse_args(argv)
    outcomes = [predict(case) for case in load_cases(args.data)]
    print(report(outcomes))
    if args.min_accuracy is not None and accuracy(outcomes) < args.min_accuracy:
        print(f"\naccuracy is below {args.min_accuracy:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
