"""The topic rules against the labelled set (`tests/data/topics_labelled.jsonl`).

The same numbers as `make topics` (`python -m scripts.topic_accuracy`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from session_reply.domain.topic import NEUTRAL_TOPIC, RULES, extract_topic

from scripts.topic_accuracy import EXCERPT, Case, accuracy, load_cases, main, predict

LABELLED = Path(__file__).parents[1] / "data" / "topics_labelled.jsonl"
CASES = load_cases(LABELLED)
GREETINGS_ONLY = [case for case in CASES if case.expected == NEUTRAL_TOPIC]
NO_TOPIC = [case for case in CASES if case.expected == EXCERPT]


def test_labelled_set_is_large_and_covers_four_languages_when_loaded() -> None:
    per_language = Counter(case.lang for case in CASES)

    assert len(CASES) >= 200
    assert set(per_language) == {"en", "ru", "es", "pt"}
    assert min(per_language.values()) >= 45


def test_labelled_set_uses_only_known_labels_when_loaded() -> None:
    known = {rule.topic for rule in RULES} | {EXCERPT, NEUTRAL_TOPIC}

    assert {case.expected for case in CASES} <= known
    assert {rule.topic for rule in RULES} <= {case.expected for case in CASES}


def test_labelled_set_has_requests_with_no_topic_when_loaded() -> None:
    # About 15% of real requests match no rule; greetings alone are counted apart
    assert len(NO_TOPIC) / len(CASES) >= 0.1
    assert len(GREETINGS_ONLY) >= 4 * 3


def test_shipped_rules_score_at_least_90_percent_when_run_on_the_labelled_set() -> None:
    outcomes = [predict(case) for case in CASES]

    assert accuracy(outcomes) >= 0.90


@pytest.mark.parametrize("case", GREETINGS_ONLY, ids=lambda case: case.text)
def test_extract_topic_gives_no_topic_when_labelled_line_is_a_greeting(case: Case) -> None:
    topic = extract_topic(case.text, case.message_type)

    assert topic.rule_id == "neutral"
    assert topic.label == NEUTRAL_TOPIC


def test_report_exits_1_when_accuracy_is_below_the_bar(tmp_path: Path) -> None:
    # Given a set whose only line is labelled wrong on purpose
    data = tmp_path / "set.jsonl"
    row = {"text": "Where is my order?", "lang": "en", "expected": "payment"}
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")

    # Then it is a report (0) unless a bar is set
    assert main(["--data", str(data)]) == 0
    assert main(["--data", str(data), "--min-accuracy", "0.9"]) == 1


def test_report_exits_0_when_accuracy_meets_the_bar() -> None:
    assert main(["--data", str(LABELLED), "--min-accuracy", "0.9"]) == 0
