"""The business's catalogue and hours (`domain.catalogue`, `domain.hours`): data an operator
edits, validated, matched and read by the reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from session_reply.domain.assignment import Manager, team_for
from session_reply.domain.catalogue import CatalogueError, match_entry, parse_catalogue
from session_reply.domain.hours import ScheduleError, is_open, next_opening, parse_schedule
from session_reply.domain.replies import SHIPPED, when_back
from session_reply.domain.request import summarise

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "ops" / "catalogue.example.json").read_text(encoding="utf-8"))
HOURS = json.loads((ROOT / "ops" / "hours.example.json").read_text(encoding="utf-8"))
ENTRIES = parse_catalogue(EXAMPLE["entries"])


def at(text: str) -> float:
    """A UTC time given as ISO text."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# -- the catalogue -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("Is the grey corner sofa in stock?", "corner-sofas"),
        ("есть угловые диваны серые?", "corner-sofas"),
        ("how much is teeth whitening", "teeth-whitening"),
        ("сколько стоит отбеливание зубов", "teeth-whitening"),
        ("I'd like to know more about your CRM for a sales team", "crm-sales"),
        ("hola, ¿hacen envíos a Valencia?", None),
    ],
)
def test_request_matches_the_catalogue_entry_when_its_words_are_in_it(
    text: str, entry_id: str | None
) -> None:
    found = match_entry(text, ENTRIES)
    assert (found.id if found else None) == entry_id


TYPO_ENTRIES = parse_catalogue(
    [
        {"id": "whitening", "names": {"ru": "Отбеливание зубов"}, "match": ["отбеливание"]},
        {"id": "corner", "names": {"en": "Corner sofas"}, "match": ["corner sofa"]},
        {"id": "corned", "names": {"en": "Corned beef"}, "match": ["corned beef"]},
    ]
)


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("Is the grey cornr sofa in stock?", "corner"),  # a letter missing
        ("do you have a coorner sofa", "corner"),  # a letter added
        ("cornre sofa price", "corner"),  # two letters swapped
        ("сколько стоит отбеливане?", "whitening"),  # a letter missing in a long word
        ("отбеливнаие зубов", "whitening"),  # swapped, and a form of the word
    ],
)
def test_request_matches_the_entry_when_the_client_made_a_typo(text: str, entry_id: str) -> None:
    found = match_entry(text, TYPO_ENTRIES)
    assert (found.id if found else None) == entry_id


@pytest.mark.parametrize(
    "text",
    [
        "a soda and a sofa",  # short words must be right: no "sofa" entry here either way
        "cornflakes sofa",  # far from "corner"
        "orner sofa",  # the first letter is wrong
        "отслеживание заказа",  # another long word, several letters away
        "отбел",  # too little of the word
        "hola, ¿hacen envíos a Valencia?",
    ],
)
def test_request_matches_no_entry_when_its_words_are_only_alike(text: str) -> None:
    assert match_entry(text, TYPO_ENTRIES) is None


def test_entry_written_right_wins_when_another_matches_with_a_typo() -> None:
    # "corner sofa" and "corned sofa" are one typo apart: each text names one of them exactly
    entries = parse_catalogue(
        [
            {"id": "corner", "names": {"en": "Corner sofas"}, "match": ["corner sofa"]},
            {"id": "corned", "names": {"en": "Corned sofas"}, "match": ["corned sofa"]},
        ]
    )
    assert match_entry("a corned sofa", entries).id == "corned"  # type: ignore[union-attr]
    assert match_entry("a corner sofa", entries).id == "corner"  # type: ignore[union-attr]


def test_typo_matching_loads_rapidfuzz_only_when_a_request_meets_a_catalogue() -> None:
    code = (
        "import sys\n"
        "from session_reply.domain.catalogue import parse_catalogue\n"
        "from session_reply.domain.request import summarise\n"
        "summarise('Is the grey cornr sofa in stock?')\n"
        "before = 'rapidfuzz' in sys.modules\n"
        "entries = parse_catalogue([{'id': 'c', 'names': {'en': 'C'}, 'match': ['corner sofa']}])\n"
        "summary = summarise('Is the grey cornr sofa in stock?', catalogue=entries)\n"
        "print(before, 'rapidfuzz' in sys.modules, summary.subject.phrase)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["False", "True", "C"]


def test_subject_is_the_entrys_name_in_the_clients_language_when_a_request_matches() -> None:
    summary = summarise("Добрый день! Есть угловые диваны в наличии?", catalogue=ENTRIES)
    assert (summary.subject.phrase, summary.subject.rule) == ("Угловые диваны", "catalogue")
    assert summary.fields()["catalogue_entry"] == "corner-sofas"


def test_subject_is_the_default_languages_name_when_the_entry_has_none_in_the_clients() -> None:
    summary = summarise("merhaba, CRM satış ekibi için fiyat nedir", catalogue=ENTRIES)
    assert summary.language.code == "tr"
    assert summary.subject.phrase == "CRM for sales teams"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"id": "Bad Id", "names": {"en": "x"}, "match": ["x"]}, "id"),
        ({"id": "a", "names": {}, "match": ["x"]}, "names"),
        ({"id": "a", "names": {"en": "x" * 41}, "match": ["x"]}, "40"),
        ({"id": "a", "names": {"en": "«x»"}, "match": ["x"]}, "« »"),
        ({"id": "a", "names": {"en": "x"}, "match": []}, "match"),
        ({"id": "a", "names": {"en": "x"}, "match": ["x"], "team": "anna"}, "team"),
    ],
)
def test_catalogue_entry_is_refused_when_it_breaks_a_rule(entry: dict, problem: str) -> None:
    with pytest.raises(CatalogueError, match=problem):
        parse_catalogue([entry])


def test_catalogue_is_refused_when_an_id_appears_twice() -> None:
    entry = {"id": "a", "names": {"en": "x"}, "match": ["x"]}
    with pytest.raises(CatalogueError, match="twice"):
        parse_catalogue([entry, entry])


# -- business hours ------------------------------------------------------------------------


def test_business_is_open_within_its_hours_in_its_own_time_zone() -> None:
    schedule = parse_schedule(HOURS)  # Asia/Almaty (UTC+5), Mon-Fri 09:00-18:00, Sat 10-14
    assert is_open(at("2026-12-01T05:00:00"), schedule)  # Tuesday 10:00 in Almaty
    assert not is_open(at("2026-12-01T14:00:00"), schedule)  # Tuesday 19:00
    assert not is_open(at("2026-12-06T05:00:00"), schedule)  # Sunday


def test_business_is_closed_on_a_closed_date_when_it_is_a_weekday() -> None:
    schedule = parse_schedule({**HOURS, "closed": ["2026-12-16"]})
    assert not is_open(at("2026-12-16T05:00:00"), schedule)


def test_next_opening_is_monday_morning_when_a_request_comes_on_sunday_night() -> None:
    schedule = parse_schedule(HOURS)
    opens = next_opening(at("2026-12-06T22:00:00"), schedule)  # Monday 03:00 in Almaty
    assert opens is not None and opens.isoformat() == "2026-12-07T09:00:00+05:00"


def test_no_schedule_means_always_open() -> None:
    assert is_open(at("2026-12-06T22:00:00"), None)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"timezone": "Mars/Base", "week": {"mon": ["09:00-18:00"]}}, "timezone"),
        ({"timezone": "UTC", "week": {"monday": ["09:00-18:00"]}}, "day"),
        ({"timezone": "UTC", "week": {"mon": ["9-18"]}}, "HH:MM"),
        ({"timezone": "UTC", "week": {"mon": ["18:00-09:00"]}}, "before"),
        ({"timezone": "UTC", "week": {"mon": ["09:00-18:00"]}, "closed": ["31.12"]}, "date"),
    ],
)
def test_schedule_is_refused_when_it_breaks_a_rule(raw: dict, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem):
        parse_schedule(raw)


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Monday at 09:00"),
        ("ru", "понедельник, 09:00"),
        ("de", "Montag, 09:00 Uhr"),
        ("es", "lunes a las 09:00"),
    ],
)
def test_when_back_is_said_in_the_clients_language_when_the_team_is_closed(
    language: str, text: str
) -> None:
    opens = datetime.fromisoformat("2026-12-07T09:00:00+05:00")
    now = datetime.fromisoformat("2026-12-05T22:00:00+05:00")
    assert when_back(opens, now, SHIPPED[language]) == text


def test_when_back_says_tomorrow_when_the_team_opens_the_next_day() -> None:
    opens = datetime.fromisoformat("2026-12-08T09:00:00+05:00")
    now = datetime.fromisoformat("2026-12-07T20:00:00+05:00")
    assert when_back(opens, now, SHIPPED["en"]) == "tomorrow at 09:00"


# -- managers' languages -------------------------------------------------------------------


def test_team_prefers_managers_who_speak_the_clients_language_when_some_do() -> None:
    managers = [
        Manager("anna", "Anna", languages=("en",)),
        Manager("boris", "Boris", languages=("ru", "uk")),
        Manager("carla", "Carla"),
    ]
    _, team = team_for("delivery", managers, language="ru")
    assert [m.id for m in team] == ["boris"]
    _, team = team_for("delivery", managers, language="tr")
    assert [m.id for m in team] == ["anna", "boris", "carla"]


def test_team_is_the_catalogue_entrys_team_when_the_request_matched_one() -> None:
    managers = [Manager("anna", "Anna"), Manager("boris", "Boris"), Manager("carla", "Carla")]
    key, team = team_for("delivery", managers, team_ids=("carla",))
    assert (key, [m.id for m in team]) == ("entry:carla", ["carla"])


# -- the operator's reply texts ------------------------------------------------------------


def test_operators_text_replaces_the_shipped_one_when_its_placeholders_are_kept() -> None:
    from session_reply.domain.replies import with_overrides

    table = with_overrides({"it": {"reply": "Ciao {{1}}! «{{2}}»: ci pensa {{3}}."}})
    assert table["it"].reply == "Ciao {{1}}! «{{2}}»: ci pensa {{3}}."
    assert table["it"].out_of_hours == SHIPPED["it"].out_of_hours
    assert table["ru"] == SHIPPED["ru"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"it": {"reply": "Ciao {{1}}! {{2}} {{3}}"}},  # no « »
        {"it": {"out_of_hours": "Ciao {{1}}! «{{2}}» {{3}}"}},  # no {{4}}
        {"kk": {"reply": "Сәлем {{1}}! «{{2}}» {{3}}"}},  # a new language without names
        {"it": {"greeting": "Ciao"}},  # an unknown field
    ],
)
def test_operators_texts_are_refused_when_one_breaks_a_rule(overrides: dict) -> None:
    from session_reply.domain.replies import with_overrides

    with pytest.raises(ValueError):
        with_overrides(overrides)


def test_welcome_is_the_operators_text_when_one_is_set_and_none_is_shipped() -> None:
    from session_reply.domain.replies import with_overrides

    table = with_overrides({"ru": {"welcome": "Добро пожаловать, {{1}}!"}})
    assert table["ru"].welcome == "Добро пожаловать, {{1}}!"
    assert table["ru"].reply == SHIPPED["ru"].reply
    assert not any(texts.welcome for texts in SHIPPED.values())


@pytest.mark.parametrize(
    "welcome",
    [
        "Welcome! Your request «{{2}}»",  # only the name may be filled in
        "Welcome, {{1}}, {{1}}!",  # the name once
        "   ",  # no words
        "W" * 4090,  # too long once the name is in
    ],
)
def test_welcome_is_refused_when_it_breaks_a_rule(welcome: str) -> None:
    from session_reply.domain.replies import with_overrides

    with pytest.raises(ValueError, match="welcome"):
        with_overrides({"en": {"welcome": welcome}})
