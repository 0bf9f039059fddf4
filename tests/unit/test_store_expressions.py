"""The pure parts of `session_reply.store`: UpdateItem requests and (de)serialisation."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from session_reply.store import (
    Update,
    deserialize,
    inbound_sk,
    lead_pk,
    new_lead_update,
    out_sk,
    pmid_key,
    serialize,
)

TABLE = "session-reply"
KEY = {"PK": "LEAD#77011234567@c.us", "SK": "LEAD"}
NAME = re.compile(r"#\w+")
VALUE = re.compile(r":\w+")


def placeholders(request: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The #names and :values the request's expressions use."""
    text = request["UpdateExpression"] + " " + request.get("ConditionExpression", "")
    return set(NAME.findall(text)), set(VALUE.findall(text))


def assert_valid(request: dict[str, Any]) -> None:
    """What DynamoDB checks before it runs an UpdateItem: every placeholder used is defined,
    every one defined is used, and no map is empty."""
    names, values = placeholders(request)
    assert set(request.get("ExpressionAttributeNames", {})) == names
    assert set(request.get("ExpressionAttributeValues", {})) == values
    assert request.get("ExpressionAttributeNames") != {}
    assert request.get("ExpressionAttributeValues") != {}
    assert request["UpdateExpression"].strip()


# -- Update.expression ---------------------------------------------------------------------


def test_expression_uses_placeholders_when_setting_reserved_words() -> None:
    # Given attributes named like DynamoDB reserved words
    update = Update(key=KEY, sets={"status": "new", "name": "Anna", "time": 5})

    request = update.expression(TABLE)

    # Then the expression never names them directly
    assert request["UpdateExpression"] == "SET #s0 = :s0, #s1 = :s1, #s2 = :s2"
    assert request["ExpressionAttributeNames"] == {"#s0": "status", "#s1": "name", "#s2": "time"}
    assert request["ExpressionAttributeValues"] == {
        ":s0": {"S": "new"},
        ":s1": {"S": "Anna"},
        ":s2": {"N": "5"},
    }
    assert_valid(request)


def test_expression_targets_table_and_serialised_key_when_built() -> None:
    request = Update(key=KEY, sets={"a": 1}).expression(TABLE)

    assert request["TableName"] == TABLE
    assert request["Key"] == {"PK": {"S": KEY["PK"]}, "SK": {"S": "LEAD"}}


def test_expression_sets_only_missing_values_when_set_if_missing_is_given() -> None:
    update = Update(key=KEY, sets={"updated_at": 2}, set_if_missing={"created_at": 1})

    request = update.expression(TABLE)

    assert request["UpdateExpression"] == "SET #s0 = :s0, #m0 = if_not_exists(#m0, :m0)"
    assert request["ExpressionAttributeNames"]["#m0"] == "created_at"
    assert_valid(request)


def test_expression_has_clauses_in_order_when_set_add_and_remove_are_all_given() -> None:
    update = Update(
        key=KEY,
        sets={"status": "new"},
        adds={"inbound_count": 1, "session_count": 1},
        removes=("auto_reply_at", "closed_reason"),
    )

    request = update.expression(TABLE)

    assert request["UpdateExpression"] == ("SET #s0 = :s0 ADD #a0 :a0, #a1 :a1 REMOVE #r0, #r1")
    assert request["ExpressionAttributeNames"] == {
        "#s0": "status",
        "#a0": "inbound_count",
        "#a1": "session_count",
        "#r0": "auto_reply_at",
        "#r1": "closed_reason",
    }
    assert request["ExpressionAttributeValues"][":a1"] == {"N": "1"}
    assert_valid(request)


def test_expression_has_no_values_map_when_update_only_removes() -> None:
    request = Update(key=KEY, sets={}, removes=("lease_until",)).expression(TABLE)

    assert request["UpdateExpression"] == "REMOVE #r0"
    assert "ExpressionAttributeValues" not in request
    assert_valid(request)


def test_expression_names_condition_attributes_when_condition_uses_hash_names() -> None:
    update = Update(
        key=KEY,
        sets={"status": "auto_replied", "status_rank": 1},
        condition="#session_id = :sid AND #status_rank < :rank",
        values={":sid": "wamid.IN1", ":rank": 1},
    )

    request = update.expression(TABLE)

    assert request["ConditionExpression"] == "#session_id = :sid AND #status_rank < :rank"
    assert request["ExpressionAttributeNames"]["#session_id"] == "session_id"
    assert request["ExpressionAttributeNames"]["#status_rank"] == "status_rank"
    assert request["ExpressionAttributeValues"][":sid"] == {"S": "wamid.IN1"}
    assert_valid(request)


def test_expression_names_attributes_inside_functions_when_condition_uses_them() -> None:
    update = Update(
        key=KEY,
        sets={"state": "SENDING"},
        condition="attribute_not_exists(#state) OR (#state = :sending AND #lease_until < :now)",
        values={":sending": "SENDING", ":now": 10.5},
    )

    request = update.expression(TABLE)

    assert request["ExpressionAttributeNames"]["#lease_until"] == "lease_until"
    assert request["ExpressionAttributeValues"][":now"] == {"N": "10.5"}
    assert_valid(request)


def test_expression_leaves_plain_attributes_alone_when_condition_has_no_hash_names() -> None:
    request = Update(key=KEY, sets={"a": 1}, condition="attribute_exists(PK)").expression(TABLE)

    assert request["ExpressionAttributeNames"] == {"#s0": "a"}
    assert_valid(request)


def test_expression_serialises_floats_as_numbers_when_values_are_floats() -> None:
    request = Update(key=KEY, sets={"received_at": 1_700_000_000.123}).expression(TABLE)

    assert request["ExpressionAttributeValues"][":s0"] == {"N": "1700000000.123"}


def test_expression_serialises_nested_values_when_value_is_a_map() -> None:
    request = Update(key=KEY, sets={"meta": {"score": 0.5, "tags": ["a"]}}).expression(TABLE)

    assert request["ExpressionAttributeValues"][":s0"] == {
        "M": {"score": {"N": "0.5"}, "tags": {"L": [{"S": "a"}]}}
    }


def test_new_lead_update_is_a_valid_request_when_session_opens() -> None:
    update = new_lead_update(
        "77011234567@c.us",
        {"session_id": "wamid.IN1", "topic": "delivery", "window_expires_at": 1_700_086_400},
        condition="attribute_not_exists(#last_inbound_at) OR #last_inbound_at < :threshold",
        values={":threshold": 1_699_913_600},
    )

    request = update.expression(TABLE)

    assert request["Key"] == serialize({"PK": "LEAD#77011234567@c.us", "SK": "LEAD"})
    assert "REMOVE" in request["UpdateExpression"]
    assert "ADD" in request["UpdateExpression"]
    assert_valid(request)


def test_expression_is_valid_when_a_set_value_is_none() -> None:
    update = Update(
        key=KEY,
        sets={"status": "failed", "reason": "provider_rejected", "reason_detail": None},
        condition="attribute_exists(PK)",
    )

    assert_valid(update.expression(TABLE))


# -- keys ----------------------------------------------------------------------------------


def test_keys_follow_the_table_layout_when_built() -> None:
    assert lead_pk("77011234567@c.us") == "LEAD#77011234567@c.us"
    assert out_sk("wamid.IN1") == "OUT#wamid.IN1"
    assert pmid_key("wamid.X") == {"PK": "PMID#wamid.X", "SK": "PMID"}


def test_inbound_sort_keys_sort_by_time_when_times_differ_in_length() -> None:
    # Zero-padded: 999 must sort before 1000 as a string, as DynamoDB sorts it
    assert inbound_sk(999, "b") < inbound_sk(1000, "a")
    assert inbound_sk(1_700_000_000, "wamid.X") == "MSG#1700000000#wamid.X"


# -- serialize / deserialize ---------------------------------------------------------------


def test_serialize_turns_floats_into_numbers_when_item_has_floats() -> None:
    item = serialize({"at": 1_700_000_000.5, "nested": {"x": 0.1}, "list": [2.25]})

    assert item == {
        "at": {"N": "1700000000.5"},
        "nested": {"M": {"x": {"N": "0.1"}}},
        "list": {"L": [{"N": "2.25"}]},
    }


def test_serialize_drops_attributes_when_value_is_none() -> None:
    assert serialize({"PK": "a", "name": None}) == {"PK": {"S": "a"}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000.25, 1_700_000_000.25),
        (0.1, 0.1),
        (3.0, 3),  # a whole float comes back as an int
        (7, 7),
        (-2, -2),
        (10**20, 10**20),
        (True, True),
        ("text", "text"),
        ("", ""),
        ({"a": 1.5, "b": [1, 2.0, "x"]}, {"a": 1.5, "b": [1, 2, "x"]}),
        ([], []),
    ],
)
def test_round_trip_gives_plain_python_values_when_item_is_stored(
    value: object, expected: object
) -> None:
    back = deserialize(serialize({"v": value}))

    assert back == {"v": expected}
    assert back is not None
    assert type(back["v"]) is type(expected)


def test_deserialize_turns_decimals_into_int_or_float_when_read_back() -> None:
    raw = {"n": {"N": "5"}, "f": {"N": "5.5"}, "m": {"M": {"d": {"N": "1.0"}}}}

    assert deserialize(raw) == {"n": 5, "f": 5.5, "m": {"d": 1}}


def test_deserialize_turns_sets_into_lists_when_item_has_a_number_set() -> None:
    back = deserialize({"ns": {"NS": ["1", "2.5"]}})

    assert back is not None
    assert sorted(back["ns"]) == [1, 2.5]
    assert not any(isinstance(v, Decimal) for v in back["ns"])


@pytest.mark.parametrize("item", [None, {}])
def test_deserialize_is_none_when_item_is_missing(item: dict[str, Any] | None) -> None:
    assert deserialize(item) is None
