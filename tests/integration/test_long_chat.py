"""A chat with a long history: the sender reads only the current request, and the lead API
pages through every message exactly once, in time order. DynamoDB's answers are counted
with a botocore hook on the client the handlers use."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from session_reply.flows.send_reply import REQUEST_MESSAGES_READ
from session_reply.store import (
    TIMELINE_ATTR,
    _dynamodb_client,
    inbound_sk,
    lead_pk,
    serialize,
    timeline_key,
)

from devstack import moto_dynamodb
from tests.conftest import CHAT, REPLY_ID, Stack, load_event, with_body

HISTORY = 500
DAY = 86_400


def inbound(message_id: str, text: str, at: int, chat: str = CHAT) -> dict[str, Any]:
    return {
        "id": message_id,
        "body": text,
        "type": "chat",
        "senderName": "Maria",
        "chatId": chat,
        "fromMe": False,
        "self": 0,
        "time": at,
    }


def post(stack: Stack, *messages: dict[str, Any]) -> None:
    event = load_event("webhook/inbound.json")
    for start in range(0, len(messages), 50):
        body = {"instanceId": "100001", "messages": list(messages[start : start + 50])}
        assert stack.post_hook(with_body(event, body))["statusCode"] == 200


def write_history(stack: Stack, chat: str = CHAT, length: int = HISTORY) -> None:
    """`length` client messages ten days ago (an old request, long closed), stored as the
    webhook stores them; written in batches: 500 webhook calls would only make this slow."""
    old = int(time.time()) - 10 * DAY
    items = []
    for i in range(length):
        sk = inbound_sk(old + i, f"wamid.old{i:04d}")
        item = {
            "PK": lead_pk(chat),
            "SK": sk,
            TIMELINE_ATTR: timeline_key(old + i, sk),
            "id": f"wamid.old{i:04d}",
            "chat_id": chat,
            "direction": "in",
            "author": "client",
            "type": "chat",
            "body": f"old message {i}",
            "time": old + i,
        }
        items.append({"PutRequest": {"Item": serialize(item)}})
    table = table_name()
    for start in range(0, len(items), 25):
        stack.ddb.batch_write_item(RequestItems={table: items[start : start + 25]})


def table_name() -> str:
    return str(os.environ["TABLE_NAME"])


class ReadCounter:
    """Items DynamoDB read for each call the handlers' client made while counting."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.on = False

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.on or not isinstance(parsed, dict):
            return
        if "ScannedCount" in parsed:
            read = int(parsed["ScannedCount"])
        elif "Responses" in parsed:
            read = sum(len(items) for items in parsed["Responses"].values())
        elif "Item" in parsed:
            read = 1
        else:
            return
        self.calls.append((model.name, read))

    def take(self) -> list[tuple[str, int]]:
        calls, self.calls = self.calls, []
        return calls

    @property
    def items(self) -> int:
        return sum(read for _, read in self.calls)


@pytest.fixture(autouse=True)
def narrowed_moto() -> Iterator[None]:
    """moto's DynamoDB as the local stack runs it: a transaction copies the items it names,
    not the table (else each of the 500 messages would copy all the ones before it)."""
    with moto_dynamodb.installed():
        yield


@pytest.fixture
def reads(stack: Stack) -> Iterator[ReadCounter]:
    counter = ReadCounter()
    client = _dynamodb_client()
    client.meta.events.register("after-call.dynamodb", counter)
    yield counter
    client.meta.events.unregister("after-call.dynamodb", counter)


def sender_reads(stack: Stack, reads: ReadCounter) -> list[int]:
    """Items read by each sender run until the queue is empty."""
    per_run = []
    for _ in range(5):
        queued = stack.receive()
        if not queued:
            break
        reads.on = True
        failed = {f["itemIdentifier"] for f in stack.run_sender(queued)["batchItemFailures"]}
        reads.on = False
        per_run.append(reads.items)
        reads.take()
        for message in queued:  # a backoff is over at once
            if message["MessageId"] in failed:
                stack.sqs.change_message_visibility(
                    QueueUrl=stack.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
    return per_run


def a_request(stack: Stack, chat: str, texts: tuple[str, ...]) -> None:
    now = int(time.time()) - 5
    post(
        stack,
        *(
            inbound(f"wamid.now-{chat[:11]}-{i}", text, now + i, chat)
            for i, text in enumerate(texts)
        ),
    )


@pytest.mark.parametrize(
    "texts",
    [
        ("How much is delivery to Almaty?",),
        ("hi", "I want to ask", "how much is delivery to Almaty?"),
    ],
    ids=["one message", "a burst"],
)
def test_sender_reads_as_much_for_500_old_messages_as_for_100_when_a_request_comes(
    stack: Stack, reads: ReadCounter, texts: tuple[str, ...]
) -> None:
    # Given a chat with 100 old messages and one with 500 write the same request, and the
    # first send of each is refused with a 500 (so each is tried twice)
    shorter = "77019876543@c.us"
    write_history(stack, CHAT, HISTORY)
    write_history(stack, shorter, 100)
    a_request(stack, "77015550000@c.us", texts)
    stack.drain()  # the roster, texts and catalogue are read (and cached) for this one
    stack.onemsg.routes["send"].side_effect = [
        httpx.Response(500, json={"error": "busy"}),
        httpx.Response(200, json={"sent": True, "id": REPLY_ID}),
        httpx.Response(500, json={"error": "busy"}),
        httpx.Response(200, json={"sent": True, "id": REPLY_ID + "2"}),
    ]
    # When the sender answers each
    a_request(stack, CHAT, texts)
    longer_reads = sender_reads(stack, reads)
    a_request(stack, shorter, texts)
    shorter_reads = sender_reads(stack, reads)
    # Then every attempt read as many items for both: a page of the lead and the chat's
    # first messages, and on the first, the request's; never the history
    assert len(longer_reads) == 2 and longer_reads == shorter_reads
    first, retry = longer_reads
    assert first == (1 + REQUEST_MESSAGES_READ) + len(texts)
    assert retry == 1 + REQUEST_MESSAGES_READ
    # And the reply names the current request
    sent = [json.loads(c.request.content)["body"] for c in stack.onemsg.calls]
    assert len(sent) == 5 and all("delivery to Almaty" in body for body in sent)


def test_sender_reads_a_new_chat_in_one_page_when_its_request_comes(
    stack: Stack, reads: ReadCounter
) -> None:
    a_request(stack, "77015550000@c.us", ("hi",))
    stack.drain()  # the roster, texts and catalogue are read (and cached) for this one
    a_request(stack, CHAT, ("hi", "how much is delivery to Almaty?"))
    assert sender_reads(stack, reads) == [3]  # the lead and its two messages


def get_page(stack: Stack, limit: str | None, cursor: str | None) -> tuple[int, dict[str, Any]]:
    event = load_event("manager_api/get_lead.json")
    params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
    event["queryStringParameters"] = params or None
    event["rawQueryString"] = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return stack.call_api(event)


def all_messages(stack: Stack) -> list[tuple[float, str]]:
    """Every message of the chat in the table, in time order (read past the API)."""
    items: list[dict[str, Any]] = []
    for page in stack.ddb.get_paginator("query").paginate(
        TableName=table_name(),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"LEAD#{CHAT}"}},
    ):
        items += page["Items"]
    found = [
        (float(i["time"]["N"]), i["id"]["S"])
        for i in items
        if i["SK"]["S"].startswith(("MSG#", "OUT#"))
    ]
    return sorted(found)


def page_through(
    stack: Stack, limit: str, reads: ReadCounter
) -> tuple[list[tuple[float, str]], list[int]]:
    listed: list[tuple[float, str]] = []
    per_page: list[int] = []
    cursor = None
    for _ in range(HISTORY):
        reads.on = True
        status, body = get_page(stack, limit, cursor)
        reads.on = False
        per_page.append(reads.items)
        reads.take()
        assert status == 200, body
        assert body["lead"]["chat_id"] == CHAT
        listed += [(float(m["time"]), m["id"]) for m in body["messages"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    return listed, per_page


@pytest.fixture
def long_chat(stack: Stack) -> Stack:
    """500 old messages, then a request answered now."""
    write_history(stack)
    a_request(stack, CHAT, ("How much is delivery to Almaty?",))
    stack.drain()
    return stack


def test_lead_api_lists_every_message_once_in_time_order_when_paged_with_its_cursor(
    long_chat: Stack, reads: ReadCounter
) -> None:
    listed, per_page = page_through(long_chat, "200", reads)
    assert listed == all_messages(long_chat)
    assert len(listed) == HISTORY + 2  # the history, the request and its reply
    assert len(per_page) == 3
    # Each page read its own items (and the lead, the request's reply), not the chat
    assert max(per_page) <= 200 + 200 + 3


def test_lead_api_answers_the_first_50_when_no_limit_is_given(long_chat: Stack) -> None:
    status, body = get_page(long_chat, None, None)
    assert status == 200
    assert [(float(m["time"]), m["id"]) for m in body["messages"]] == all_messages(long_chat)[:50]
    assert body["next_cursor"]


def test_lead_api_keeps_the_delivery_time_when_the_reply_is_on_another_page(
    long_chat: Stack,
) -> None:
    # Given the reply was delivered
    ack = load_event("webhook/ack_delivered.json")
    assert json.loads(long_chat.post_hook(ack)["body"])["outcomes"] == {"status_applied": 1}
    # When the first page (old messages only) is read
    status, body = get_page(long_chat, "1", None)
    # Then the lead still says when the reply reached the client
    assert status == 200 and body["messages"][0]["id"] == "wamid.old0000"
    assert body["lead"]["auto_reply_delivered_at"]


@pytest.mark.parametrize("limit", ["0", "201", "abc", "-1", "1.5", "٣"])
def test_lead_api_answers_400_when_the_limit_is_not_1_to_200(stack: Stack, limit: str) -> None:
    post(stack, inbound("wamid.a", "hi", int(time.time())))
    status, body = get_page(stack, limit, None)
    assert status == 400
    assert "limit" in body["message"]


@pytest.mark.parametrize("cursor", ["nonsense", "bm9uc2Vuc2U", "%%%", "MTIz"])
def test_lead_api_answers_400_when_the_cursor_is_not_one_it_gave(stack: Stack, cursor: str) -> None:
    post(stack, inbound("wamid.a", "hi", int(time.time())))
    status, body = get_page(stack, None, cursor)
    assert status == 400
    assert "cursor" in body["message"]


def strip_timeline(stack: Stack) -> None:
    """The chat as the table held it before the Timeline index: no `timeline` on its
    messages, no `timeline_from` on the lead."""
    table = table_name()
    for page in stack.ddb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"LEAD#{CHAT}"}},
    ):
        for item in page["Items"]:
            stack.ddb.update_item(
                TableName=table,
                Key={"PK": item["PK"], "SK": item["SK"]},
                UpdateExpression="REMOVE timeline, timeline_from",
            )


def test_lead_api_pages_a_lead_older_than_the_index_the_same_way_when_read(
    long_chat: Stack, reads: ReadCounter
) -> None:
    strip_timeline(long_chat)
    listed, _ = page_through(long_chat, "200", reads)
    assert listed == all_messages(long_chat)
