"""The subject and language rules against the labelled requests
(`tests/data/subjects_labelled.jsonl`): the same numbers as `make topics`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from scripts.subject_accuracy import Case, fits, load_cases, main, predict

LABELLED = Path(__file__).parents[1] / "data" / "subjects_labelled.jsonl"
CASES = load_cases(LABELLED)
NINE = {"en", "ru", "es", "pt", "de", "fr", "it", "tr", "uk"}


def test_labelled_set_covers_nine_languages_and_eight_kinds_of_business_when_loaded() -> None:
    languages = Counter(case.lang for case in CASES)
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 400
    assert set(languages) == NINE and min(languages.values()) >= 40
    assert len(kinds) >= 8
    assert all(case.subjects for case in CASES)


def test_labelled_set_keeps_a_holdout_in_every_language_when_loaded() -> None:
    holdout = Counter(case.lang for case in CASES if case.split == "holdout")
    assert set(holdout) == NINE and min(holdout.values()) >= 10


def test_holdout_subject_is_acceptable_for_90_percent_when_scored() -> None:
    outcomes = [predict(case) for case in CASES if case.split == "holdout"]
    assert sum(o.subject_ok for o in outcomes) / len(outcomes) >= 0.90


def test_holdout_language_is_right_for_97_percent_when_scored() -> None:
    outcomes = [predict(case) for case in CASES if case.split == "holdout"]
    assert sum(o.language_ok for o in outcomes) / len(outcomes) >= 0.97


def test_subject_fits_a_label_when_it_is_the_label_cut_or_one_word_longer() -> None:
    assert fits("Delivery to Almaty!", "delivery to almaty")
    assert fits(
        "week in bali for 2 people all inclusive", "a week in bali for 2 people all inclusive"
    )
    assert fits("is dr smith available", "dr smith available")
    assert not fits("the price of", "the price of delivery to Almaty")
    assert not fits("price for full detailing", "full detailing")


def test_report_exits_1_when_a_bar_is_missed(tmp_path: Path) -> None:
    # Given a set whose only line wants another subject and another language
    row = {"text": "how much is delivery", "lang": "de", "kind": "shop", "subjects": ["sofas"]}
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")
    # Then it is a report (0) unless a bar is set
    assert main(["--data", str(data)]) == 0
    assert main(["--data", str(data), "--min-subject", "0.9"]) == 1
    assert main(["--data", str(data), "--min-language", "0.9"]) == 1


def test_case_uses_the_chats_known_language_when_the_text_cannot_tell() -> None:
    case = Case("👍", "es", "shop", ("__neutral__",), "tuning", known="es")
    outcome = predict(case)
    assert (outcome.subject, outcome.language) == ("tu solicitud", "es")
