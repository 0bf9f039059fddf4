"""`python -m ops.managers` against the state table of template.yaml in moto (in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from session_reply.domain.assignment import Manager, from_names
from session_reply.store import MANAGERS_PK, Store

from ops import managers
from tests.conftest import state_table_in_moto

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture
def table(aws_env: None) -> Iterator[str]:
    """The template's StateTable, created in moto; yields its name."""
    with state_table_in_moto() as name:
        yield name


def cli(table: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = managers.main(["--table", table, "--region", REGION, *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def roster(table: str) -> dict[str, dict[str, Any]]:
    store = Store(table, boto3.client("dynamodb", region_name=REGION))
    return {str(m["id"]): m for m in store.list_managers()}


def test_manager_stored_with_its_profile_when_added(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When an operator adds a manager with topics and a capacity
    code, output = cli(
        table, capsys, "add", "Anna Petrova", "--topics", "Delivery, prices", "--capacity", "5"
    )
    # Then the table holds them where the app reads managers, load starting at 0
    assert code == 0, output
    item = roster(table)["anna-petrova"]
    assert item["PK"] == MANAGERS_PK and item["SK"] == "MANAGER#anna-petrova"
    assert item["name"] == "Anna Petrova"
    assert item["topics"] == ["delivery", "prices"]
    assert (item["capacity"], item["active"], item["load"]) == (5, True, 0)
    # and the app's own model reads the same manager
    manager = Manager.from_item(item)
    assert manager.available and manager.topics == ("delivery", "prices")
    assert "first manager in the table" in output


def test_id_matches_the_managers_parameter_when_derived_from_the_name(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Leads assigned from the Managers parameter keep their manager once the table has them
    assert cli(table, capsys, "add", "Boris Ivanov")[0] == 0
    assert set(roster(table)) == {m.id for m in from_names(["Boris Ivanov"])}
    assert roster(table)["boris-ivanov"]["topics"] == []  # no topics = any topic


def test_refused_when_the_id_exists(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(table, capsys, "add", "Anna Petrova", "--capacity", "5")[0] == 0
    code, output = cli(table, capsys, "add", "Anna Petrova", "--capacity", "9")
    assert code == 2
    assert "exists" in output and "set anna-petrova" in output
    assert roster(table)["anna-petrova"]["capacity"] == 5


def test_unknown_topic_refused_unless_allowed(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A typo would make a specialist nobody's request ever matches
    code, output = cli(table, capsys, "add", "Anna Petrova", "--topics", "deliveries")
    assert code == 2
    assert "unknown topic" in output and "delivery" in output
    assert roster(table) == {}
    code, output = cli(
        table, capsys, "add", "Anna Petrova", "--topics", "deliveries", "--allow-unknown-topics"
    )
    assert code == 0, output
    assert roster(table)["anna-petrova"]["topics"] == ["deliveries"]


def test_manager_gets_no_new_leads_and_keeps_load_when_disabled(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a manager with two leads waiting for them (load is the app's count)
    assert cli(table, capsys, "add", "Anna Petrova", "--capacity", "3")[0] == 0
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName=table,
        Key={"PK": {"S": MANAGERS_PK}, "SK": {"S": "MANAGER#anna-petrova"}},
        UpdateExpression="SET #l = :l",
        ExpressionAttributeNames={"#l": "load"},
        ExpressionAttributeValues={":l": {"N": "2"}},
    )
    # When disabled
    code, output = cli(table, capsys, "disable", "anna-petrova")
    # Then inactive, the load untouched, and the operator told the leads stay
    assert code == 0, output
    item = roster(table)["anna-petrova"]
    assert item["active"] is False and item["load"] == 2
    assert not Manager.from_item(item).available
    assert "2 lead(s) already assigned" in output
    # When enabled again; Then active
    assert cli(table, capsys, "enable", "anna-petrova")[0] == 0
    assert roster(table)["anna-petrova"]["active"] is True


def test_only_the_given_fields_change_when_set(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(table, capsys, "add", "Anna Petrova", "--topics", "delivery")[0] == 0
    code, output = cli(table, capsys, "set", "anna-petrova", "--capacity", "8")
    assert code == 0, output
    item = roster(table)["anna-petrova"]
    assert (item["capacity"], item["topics"], item["name"]) == (8, ["delivery"], "Anna Petrova")
    # 'any' clears the topics: a generalist again
    assert cli(table, capsys, "set", "anna-petrova", "--topics", "any")[0] == 0
    assert roster(table)["anna-petrova"]["topics"] == []


def test_nothing_created_when_set_names_an_unknown_id(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli(table, capsys, "set", "anna-petrva", "--capacity", "8")
    assert code == 2
    assert "no manager 'anna-petrva'" in output
    assert roster(table) == {}


def test_roster_listed_as_a_table_and_as_json(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(table, capsys, "add", "Boris Ivanov", "--topics", "prices")[0] == 0
    assert cli(table, capsys, "add", "Anna Petrova", "--capacity", "4", "--inactive")[0] == 0
    code, output = cli(table, capsys, "list")
    assert code == 0
    lines = output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ACTIVE", "CAPACITY", "LOAD", "LANGUAGES", "TOPICS"]
    assert lines[1].split() == ["anna-petrova", "Anna", "Petrova", "no", "4", "0", "-", "any"]
    assert lines[2].split() == [
        "boris-ivanov", "Boris", "Ivanov", "yes", "-", "0", "-", "prices"
    ]  # fmt: skip
    code, output = cli(table, capsys, "--json", "list")
    assert [m["id"] for m in json.loads(output)] == ["anna-petrova", "boris-ivanov"]


def test_says_the_parameter_is_used_when_the_table_has_no_manager(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli(table, capsys, "list")
    assert code == 0
    assert "Managers template parameter" in output


def test_bad_capacity_refused_when_parsing(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        managers.main(["--table", table, "add", "Anna", "--capacity", "-1"])
    assert "0 (no limit) or more" in capsys.readouterr().err


def test_table_found_through_the_stack_outputs_when_only_the_env_is_given(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the dev stack of samconfig.toml, whose StateTableName output names the table
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="session-reply-dev",
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"StateTableName": {"Value": table}},
            }
        ),
    )
    # When the operator adds a manager naming only the env
    code = managers.main(["--env", "dev", "add", "Anna Petrova"])
    # Then it landed in that table
    assert code == 0, capsys.readouterr()
    assert set(roster(table)) == {"anna-petrova"}


def test_clear_error_when_the_table_does_not_exist(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = cli("no-such-table", capsys, "list")
    assert code == 2
    assert "no-such-table" in output and "ResourceNotFoundException" in output
