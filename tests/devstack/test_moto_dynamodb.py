"""The local stack's narrowed moto DynamoDB keeps moto's own transaction semantics.

Each scenario runs twice on the template's state table, in moto's in-process mock: once with
moto as shipped (which restores a deep copy of the whole table when it cancels a transaction)
and once narrowed (`devstack.moto_dynamodb`: only the items the transaction names are backed
up and put back). After every step both must give the same answer (the response, or the error
code, message and `CancellationReasons` with their `ALL_OLD` items) and hold the same data (a
full scan, a partition query, the sparse index). A rollback that left a write behind, dropped
an item it should have put back, or put back too much would make them differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import moto_dynamodb
from devstack.aws import LocalAws, Secrets
from devstack.template import ResolveContext, Template
from tests.conftest import state_table_in_moto

Step = tuple[str, dict[str, Any]]


@pytest.fixture
def state_table(aws_env: None, template: Template) -> Iterator[str]:
    """A fresh mock with the template's tables; the name of the state table."""
    with state_table_in_moto(template) as name:
        yield name


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": s(pk), "SK": s(sk)}


def put(table: str, item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table, "Item": item}
    if condition:
        body["ConditionExpression"] = condition
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Put": body}


def update(
    table: str,
    k: dict[str, Any],
    expression: str,
    values: dict[str, Any],
    condition: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TableName": table,
        "Key": k,
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values,
    }
    if condition:
        body["ConditionExpression"] = condition
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": body}


def check(table: str, k: dict[str, Any], condition: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": k,
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def delete(table: str, k: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table, "Key": k}
    if condition:
        body["ConditionExpression"] = condition
    return {"Delete": body}


def tx(*items: dict[str, Any], token: str | None = None) -> Step:
    request: dict[str, Any] = {"TransactItems": list(items)}
    if token:
        request["ClientRequestToken"] = token
    return "transact_write_items", request


LEAD = key("LEAD#1@c.us", "LEAD")
MSG = key("LEAD#1@c.us", "MSG#0000000001#m1")
PMID = key("PMID#m1", "PMID")
OTHER = key("LEAD#2@c.us", "LEAD")


def seed(t: str) -> list[Step]:
    return [
        ("put_item", {"TableName": t, "Item": {**LEAD, "status": s("new"), "n": n(1)}}),
        ("put_item", {"TableName": t, "Item": {**OTHER, "status": s("new")}}),
        ("put_item", {"TableName": t, "Item": {**PMID, "sk": s("MSG#0000000001#m1")}}),
    ]


def scenarios(t: str) -> dict[str, list[Step]]:
    failing = check(t, key("LEAD#nobody", "LEAD"), "attribute_exists(PK)")
    return {
        "a failed condition undoes an update, a new item, a delete and an upsert before it": [
            *seed(t),
            tx(
                update(t, LEAD, "SET #s = :s ADD n :one", {":s": s("auto"), ":one": n(1)}),
                put(t, {**MSG, "body": s("hi")}),
                delete(t, OTHER),
                update(t, key("LEAD#3@c.us", "LEAD"), "SET v = :v", {":v": s("new lead")}),
                failing,
            ),
        ],
        "the failed item's old value comes back in the reasons": [
            *seed(t),
            tx(
                put(t, {**MSG, "body": s("hi")}),
                put(t, {**PMID, "sk": s("other")}, "attribute_not_exists(PK)"),
            ),
        ],
        "every reason is reported when several conditions fail": [
            *seed(t),
            tx(
                put(t, {**PMID}, "attribute_not_exists(PK)"),
                update(t, LEAD, "SET #s = :s", {":s": s("x"), ":old": s("auto")}, "#s = :old"),
                put(t, {**MSG}),
            ),
        ],
        "a new partition written before the failure is gone": [
            *seed(t),
            tx(
                put(t, key("LEAD#9@c.us", "LEAD")),
                put(t, key("LEAD#9@c.us", "SESSION#1")),
                failing,
            ),
        ],
        "an item named twice is refused and its first write undone": [
            *seed(t),
            tx(
                update(t, LEAD, "SET #s = :s", {":s": s("twice")}),
                put(t, {**MSG}),
                update(t, LEAD, "SET #s = :s", {":s": s("again")}),
            ),
        ],
        "an update that cannot apply cancels the writes before it": [
            *seed(t),
            tx(
                put(t, {**MSG, "body": s("hi")}),
                update(t, LEAD, "SET n = n + :x", {":x": s("not a number")}),
            ),
        ],
        "a write that leaves the sparse index comes back into it": [
            *seed(t),
            (
                "put_item",
                {
                    "TableName": t,
                    "Item": {**MSG, "awaiting_pk": s("AWAIT"), "awaiting_since": n(5)},
                },
            ),
            tx(
                update(t, MSG, "SET #s = :d REMOVE awaiting_pk", {":d": s("delivered")}),
                put(t, {**key("LEAD#1@c.us", "OUT#k"), "awaiting_pk": s("AWAIT")}),
                failing,
            ),
        ],
        "a transaction that holds commits everything": [
            *seed(t),
            tx(
                put(t, {**MSG, "body": s("hi")}),
                update(t, LEAD, "SET n = n + :one", {":one": n(1)}, "attribute_exists(PK)"),
                delete(t, OTHER, "attribute_exists(PK)"),
                check(t, PMID, "attribute_exists(PK)"),
            ),
        ],
        "the same transaction again (with its token) meets its own condition": [
            *seed(t),
            tx(put(t, {**key("PMID#m2", "PMID")}, "attribute_not_exists(PK)"), token="tok-1"),
            tx(put(t, {**key("PMID#m2", "PMID")}, "attribute_not_exists(PK)"), token="tok-1"),
        ],
        "an unknown table is refused and nothing is written": [
            *seed(t),
            tx(put(t, {**MSG}), put("no-such-table", {**MSG})),
        ],
        "a partition reads in pages, backwards and by prefix": [
            *seed(t),
            *[
                ("put_item", {"TableName": t, "Item": key("LEAD#1@c.us", f"MSG#{i}")})
                for i in "31524"
            ],
            ("put_item", {"TableName": t, "Item": key("LEAD#10@c.us", "MSG#1")}),
            (
                "query",
                {
                    "TableName": t,
                    "KeyConditionExpression": "PK = :pk AND begins_with(SK, :p)",
                    "ExpressionAttributeValues": {":pk": s("LEAD#1@c.us"), ":p": s("MSG#")},
                    "Limit": 2,
                    "ScanIndexForward": False,
                },
            ),
            (
                "query",
                {
                    "TableName": t,
                    "KeyConditionExpression": "PK = :pk AND SK > :sk",
                    "ExpressionAttributeValues": {":pk": s("LEAD#1@c.us"), ":sk": s("MSG#2")},
                    "ExclusiveStartKey": key("LEAD#1@c.us", "MSG#3"),
                },
            ),
            (
                "query",
                {
                    "TableName": t,
                    "KeyConditionExpression": "PK = :pk",
                    "ExpressionAttributeValues": {":pk": s("LEAD#nobody")},
                },
            ),
        ],
        "the sparse index reads only what carries its key, in its order": [
            *[
                (
                    "put_item",
                    {
                        "TableName": t,
                        "Item": {
                            **key(f"LEAD#{c}@c.us", "OUT#k"),
                            **(
                                {"awaiting_pk": s(kind), "awaiting_since": n(since)} if kind else {}
                            ),
                        },
                    },
                )
                for c, kind, since in (
                    (1, "AWAIT", 30),
                    (2, "HUMAN", 10),
                    (3, "AWAIT", 10),
                    (4, "", 0),
                    (5, "AWAIT", 20),
                )
            ],
            (
                "query",
                {
                    "TableName": t,
                    "IndexName": "AwaitingStatus",
                    "KeyConditionExpression": "awaiting_pk = :a AND awaiting_since < :t",
                    "ExpressionAttributeValues": {":a": s("AWAIT"), ":t": n(25)},
                    "Limit": 5,
                },
            ),
        ],
        "an index on the table's hash key reads one partition, in its order, from a place": [
            *[
                (
                    "put_item",
                    {
                        "TableName": t,
                        "Item": {
                            **key(f"LEAD#{c}@c.us", sk),
                            **({"timeline": s(place)} if place else {}),
                        },
                    },
                )
                for c, sk, place in (
                    (1, "OUT#b", "0000000030.000#OUT#b"),
                    (1, "MSG#1", "0000000010.000#MSG#1"),
                    (2, "MSG#0", "0000000001.000#MSG#0"),
                    (1, "LEAD", ""),
                    (1, "MSG#2", "0000000020.000#MSG#2"),
                )
            ],
            (
                "query",
                {
                    "TableName": t,
                    "IndexName": "Timeline",
                    "KeyConditionExpression": "PK = :pk AND #t > :after",
                    "ExpressionAttributeNames": {"#t": "timeline"},
                    "ExpressionAttributeValues": {
                        ":pk": s("LEAD#1@c.us"),
                        ":after": s("0000000010.000#MSG#1"),
                    },
                    "Limit": 5,
                },
            ),
        ],
    }


def _names(request: dict[str, Any]) -> dict[str, Any]:
    """`#s` in the expressions above means the attribute `status`."""
    for entry in request.get("TransactItems", []):
        for body in entry.values():
            text = f"{body.get('UpdateExpression', '')} {body.get('ConditionExpression', '')}"
            if "#s" in text:
                body["ExpressionAttributeNames"] = {"#s": "status"}
    return request


def _outcome(ddb: Any, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    try:
        response = getattr(ddb, operation)(**_names(request))
    except ClientError as exc:
        return {
            "error": exc.response["Error"].get("Code"),
            "message": exc.response["Error"].get("Message"),
            "reasons": exc.response.get("CancellationReasons"),
        }
    response.pop("ResponseMetadata", None)
    return {"ok": response}


def _data(ddb: Any, table: str) -> dict[str, Any]:
    scan = ddb.scan(TableName=table)["Items"]
    partition = ddb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": s("LEAD#1@c.us")},
        ScanIndexForward=False,
    )["Items"]
    awaiting = ddb.query(
        TableName=table,
        IndexName="AwaitingStatus",
        KeyConditionExpression="awaiting_pk = :a",
        ExpressionAttributeValues={":a": s("AWAIT")},
    )["Items"]
    return {
        "scan": sorted(scan, key=lambda i: (i["PK"]["S"], i["SK"]["S"])),
        "partition": partition,
        "awaiting": awaiting,
    }


SCENARIOS = list(scenarios("T"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_narrowed_transactions_answer_and_roll_back_as_moto_does_when_replayed(
    aws_env: None, template: Template, scenario: str
) -> None:
    traces = []
    for mode in (moto_dynamodb.moto_as_shipped, moto_dynamodb.installed):
        with state_table_in_moto(template) as table:
            steps = scenarios(table)[scenario]
            ddb = boto3.client("dynamodb", region_name="us-east-1")
            trace = []
            with mode():
                for operation, request in steps:
                    trace.append((_outcome(ddb, operation, request), _data(ddb, table)))
            traces.append(trace)
    shipped, narrowed = traces
    assert len(shipped) == len(scenarios("T")[scenario])
    assert narrowed == shipped


def _backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def test_cancelled_transaction_puts_back_each_item_it_named_when_a_condition_fails(
    state_table: str,
) -> None:
    t = state_table
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    with moto_dynamodb.installed():
        for _, request in seed(t):
            ddb.put_item(**request)
        outcome = _outcome(
            ddb,
            *tx(
                update(t, LEAD, "SET #s = :s", {":s": s("auto")}),
                put(t, {**MSG, "body": s("hi")}),
                delete(t, OTHER),
                put(t, {**PMID, "sk": s("x")}, "attribute_not_exists(PK)"),
            ),
        )
        assert outcome["error"] == "TransactionCanceledException"
        assert [r["Code"] for r in outcome["reasons"]] == [
            "None",
            "None",
            "None",
            "ConditionalCheckFailed",
        ]
        assert outcome["reasons"][3]["Item"]["sk"] == s("MSG#0000000001#m1")
        assert ddb.get_item(TableName=t, Key=LEAD)["Item"]["status"] == s("new")
        assert "Item" not in ddb.get_item(TableName=t, Key=MSG)
        assert ddb.get_item(TableName=t, Key=OTHER)["Item"]["status"] == s("new")
        assert ddb.get_item(TableName=t, Key=PMID)["Item"]["sk"] == s("MSG#0000000001#m1")


def test_narrowed_rollback_never_copies_the_table_when_a_transaction_is_cancelled(
    state_table: str,
) -> None:
    t = state_table
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    failing = tx(put(t, {**MSG}), check(t, key("LEAD#none", "LEAD"), "attribute_exists(PK)"))
    with moto_dynamodb.moto_as_shipped():
        before = _backend().tables[t]
        assert "error" in _outcome(ddb, *failing)
        assert _backend().tables[t] is not before  # moto put a copy of the whole table back
    with moto_dynamodb.installed():
        before = _backend().tables[t]
        assert "error" in _outcome(ddb, *failing)
        assert _backend().tables[t] is before


def test_write_to_another_item_during_a_cancelled_transaction_is_kept_when_narrowed(
    state_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request's write landing while a transaction runs (made here from inside the
    transaction's first put): moto as shipped restores its table copy over it."""
    from moto.dynamodb.models import DynamoDBBackend

    t = state_table
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    original = DynamoDBBackend.put_item

    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], **kw: Any) -> Any:
        result = original(self, table_name, item_attrs, **kw)
        if item_attrs.get("SK") == MSG["SK"]:
            original(self, table_name, {**OTHER, "status": s("written meanwhile")})
        return result

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)
    failing = tx(put(t, {**MSG}), check(t, key("LEAD#none", "LEAD"), "attribute_exists(PK)"))
    kept = {}
    for name, mode in (
        ("shipped", moto_dynamodb.moto_as_shipped),
        ("narrowed", moto_dynamodb.installed),
    ):
        with mode():
            ddb.delete_item(TableName=t, Key=OTHER)
            assert "error" in _outcome(ddb, *failing)
            kept[name] = "Item" in ddb.get_item(TableName=t, Key=OTHER)
            assert "Item" not in ddb.get_item(TableName=t, Key=MSG)
    assert kept == {"shipped": False, "narrowed": True}


def test_local_stack_installs_the_narrowed_moto_when_its_server_starts(
    template: Template,
) -> None:
    ctx = ResolveContext.for_template(template, {"OneMsgChannelId": "100001"})
    aws = LocalAws(template, ctx, Secrets("t", "s"))
    with moto_dynamodb.moto_as_shipped():
        aws.start_server()
        try:
            assert moto_dynamodb.installed_now()
        finally:
            aws.stop()
