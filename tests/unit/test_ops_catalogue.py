"""`python -m ops.catalogue` against the state table of template.yaml in moto (in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from session_reply.store import Store

from ops import catalogue, managers
from tests.conftest import state_table_in_moto

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture
def table(aws_env: None) -> Iterator[str]:
    with state_table_in_moto() as name:
        yield name


def cli(table: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = catalogue.main(["--table", table, "--region", REGION, *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def entries(table: str) -> dict[str, dict[str, Any]]:
    store = Store(table, boto3.client("dynamodb", region_name=REGION))
    items = store.query_partition("CATALOGUE", "ENTRY#")
    return {str(i["id"]): i for i in items if not i.get("removed")}


def test_entry_is_stored_with_names_match_and_team_when_added(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli(
        table, capsys, "add", "corner-sofas", "--name", "en=Corner sofas",
        "--name", "ru=Угловые диваны", "--match", "corner sofa, углов диван", "--team", "anna",
    )  # fmt: skip
    assert code == 0, output
    entry = entries(table)["corner-sofas"]
    assert entry["names"] == {"en": "Corner sofas", "ru": "Угловые диваны"}
    assert (entry["match"], entry["team"]) == (["corner sofa", "углов диван"], ["anna"])


def test_entry_is_refused_and_nothing_written_when_a_name_is_too_long(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli(table, capsys, "add", "x", "--name", "en=" + "y" * 41, "--match", "x")
    assert code != 0 and "40" in output
    assert entries(table) == {}


def test_example_catalogue_is_imported_whole_when_every_entry_is_valid(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli(table, capsys, "import", str(ROOT / "ops" / "catalogue.example.json"))
    assert code == 0, output
    assert set(entries(table)) == {"corner-sofas", "teeth-whitening", "crm-sales"}


def test_import_writes_nothing_when_one_entry_is_invalid(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"id": "a", "names": {"en": "A"}, "match": ["a thing"]}
    bad = {"id": "b", "names": {"en": "B"}, "match": []}
    path = tmp_path / "c.json"
    path.write_text(json.dumps([good, bad]), encoding="utf-8")
    code, output = cli(table, capsys, "import", str(path))
    assert code != 0 and "match" in output
    assert entries(table) == {}


def test_entry_is_gone_from_the_list_when_removed(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(table, capsys, "add", "a", "--name", "en=A", "--match", "a thing")
    code, output = cli(table, capsys, "remove", "a")
    assert code == 0, output
    assert entries(table) == {}
    code, output = cli(table, capsys, "list")
    assert "empty" in output


def test_hours_are_stored_and_shown_when_set_from_a_valid_file(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli(table, capsys, "hours", "--set", str(ROOT / "ops" / "hours.example.json"))
    assert code == 0, output
    assert "Asia/Tashkent" in output
    code, output = cli(table, capsys, "hours", "--clear")
    assert "always open" in output


def test_hours_are_refused_when_the_time_zone_is_unknown(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"timezone": "Mars/Base", "week": {"mon": ["09:00-18:00"]}}))
    code, output = cli(table, capsys, "hours", "--set", str(path))
    assert code != 0 and "timezone" in output


def test_manager_languages_are_stored_when_set(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        managers.main(
            ["--table", table, "--region", REGION, "add", "Anna", "--languages", "en, RU"]
        )
        == 0
    )
    assert (
        managers.main(["--table", table, "--region", REGION, "set", "anna", "--languages", "en,kk"])
        == 0
    )
    capsys.readouterr()
    store = Store(table, boto3.client("dynamodb", region_name=REGION))
    assert store.list_managers()[0]["languages"] == ["en", "kk"]


def test_reply_texts_are_stored_when_every_text_keeps_its_placeholders(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    texts = {"ru": {"reply": "Привет, {{1}}! Вопрос «{{2}}» у {{3}}."}}
    path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    code, output = cli(table, capsys, "replies", "--set", str(path))
    assert code == 0, output
    assert "Вопрос" in output


def test_reply_texts_are_refused_when_the_subject_loses_its_guillemets(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"es": {"reply": "Hola {{1}}, {{2}}, {{3}}"}}), encoding="utf-8")
    code, output = cli(table, capsys, "replies", "--set", str(path))
    assert code != 0 and "«{{2}}»" in output
    code, output = cli(table, capsys, "replies")
    assert "shipped" in output
