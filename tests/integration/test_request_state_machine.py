"""The whole request as a state machine (hypothesis): any order of what 1MSG, AWS and people do.

Rules: clients write (new requests, bursts, follow-ups), 1MSG redelivers any webhook, the sender
runs and may be killed at any point (after choosing the manager but before its claim, before
1MSG is called, after 1MSG accepted, after its writes but before SQS deleted the record), time
passes (leases and visibility timeouts end), 1MSG's acks and echoes come early, late, twice or
never, managers answer (app or lead API), the poller runs. After every step: at most one
auto-reply per opened request and at most one send per manager idempotency key reached 1MSG,
no message status went back, and each manager's load equals the leads waiting for that
manager's first answer. At the end, once everything had time to settle: every opened request
has exactly one reply or one recorded reason.

Real handlers on moto (in process) and a fake 1MSG (respx) that remembers what it accepted, so
it answers `hookInfo` and the chat's `GET messages` as 1MSG would.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import moto.core.utils
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from session_reply.flows.context import Context
from session_reply.store import Store

from tests.conftest import (
    CHANNEL,
    SECRET,
    LambdaContext,
    Stack,
    load_event,
    load_handler,
    reset_caches,
)

CHATS = ("77011110001@c.us", "77011110002@c.us")
MANAGERS = (("anna", "Anna Petrova"), ("boris", "Boris Ivanov"))
TEXTS = ("hi", "How much is delivery to Almaty?", "Is the grey sofa in stock?", "ok thanks")
STATUS_RANK = {"queued": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
SEQ = itertools.count(1)
SETTLE_SECONDS = 400  # past the send lease and the queue's visibility timeout (360 s)
FINAL_STATES = {"ACCEPTED", "QUEUED", "FAILED", "SKIPPED", "UNKNOWN"}


class Killed(BaseException):
    """The execution environment ends mid-call (timeout, OOM): nothing after it runs."""


class Clock:
    """Wall time for the product (time.time) and for moto (SQS visibility): stopped, and moved
    only by the `time_passes` rule, so that a run depends on its steps alone."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        start, start_utc = time.time(), moto.core.utils.utcnow()
        monkeypatch.setattr(time, "time", lambda: start + self.offset)
        monkeypatch.setattr(
            moto.core.utils, "utcnow", lambda: start_utc + dt.timedelta(seconds=self.offset)
        )

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class OneMsg:
    """What 1MSG accepted, by id; the kill switch for the next send."""

    def __init__(self) -> None:
        self.accepted: dict[str, dict[str, Any]] = {}
        self.kill: str | None = None  # "before" the request leaves, or "after" 1MSG accepted
        self.ids = itertools.count(1)

    def install(self, stack: Stack) -> None:
        stack.onemsg.routes["send"].side_effect = self.send
        stack.onemsg.get("/hookInfo", name="hookInfo").mock(side_effect=self.hook_info)
        stack.onemsg.get("/messages", name="history").mock(side_effect=self.history)

    def send(self, request: httpx.Request) -> httpx.Response:
        if self.kill == "before":
            self.kill = None
            raise Killed
        payload = json.loads(request.content)
        mid = f"wamid.SM{next(self.ids):06d}"
        chat = payload.get("chatId") or f"{payload['phone']}@c.us"
        self.accepted[mid] = {"chat": chat, "body": payload["body"], "time": int(time.time())}
        self.accepted[mid]["status"] = "sent"
        if self.kill == "after":
            self.kill = None
            raise Killed
        return httpx.Response(200, json={"sent": True, "id": mid, "message": f"Sent to {chat}"})

    def hook_info(self, request: httpx.Request) -> httpx.Response:
        mid = request.url.params.get("messageId", "")
        known = self.accepted.get(mid)
        hooks = (
            []
            if known is None
            else [{"id": mid, "status": known["status"], "timestamp": known["time"]}]
        )
        return httpx.Response(200, json={"hooks": hooks})

    def history(self, request: httpx.Request) -> httpx.Response:
        chat = request.url.params.get("chatId", "")
        since = int(float(request.url.params.get("min_time", 0)))
        items = [
            {
                "id": mid,
                "body": m["body"],
                "type": "chat",
                "chatId": chat,
                "fromMe": True,
                "self": 1,
                "time": m["time"],
            }
            for mid, m in self.accepted.items()
            if m["chat"] == chat and m["time"] >= since
        ]
        return httpx.Response(200, json={"messages": items})

    def sends_to(self, chat: str, auto: bool) -> list[dict[str, Any]]:
        return [
            m
            for m in self.accepted.values()
            if m["chat"] == chat and m["body"].startswith("Hello, ") == auto
        ]


def webhook(body: dict[str, Any]) -> dict[str, Any]:
    event = load_event("webhook/inbound.json")
    event["body"] = json.dumps(body, ensure_ascii=False)
    event["headers"]["content-length"] = str(len(event["body"].encode()))
    event["pathParameters"] = {"secret": SECRET}
    return event


class Request(RuleBasedStateMachine):
    stack: Stack
    clock: Clock
    kill_claim = False  # the sender's next claim dies before it is written

    def __init__(self) -> None:
        super().__init__()
        _reset(self.stack)
        self.onemsg = OneMsg()
        self.onemsg.install(self.stack)
        self.poller = load_handler("status_poller")
        self.posted: list[dict[str, Any]] = []  # every webhook body 1MSG may redeliver
        self.in_flight: list[dict[str, Any]] = []  # SQS records a killed sender held
        self.ranks: dict[str, int] = {}
        self.keys: list[tuple[str, str]] = []  # (chat, idempotency key) posted to the lead API
        self.seq = SEQ  # ids stay unique across examples (SQS dedupes by them)

    # -- what clients and 1MSG do ------------------------------------------------------------
    def _post(self, body: dict[str, Any]) -> None:
        response = self.stack.post_hook(webhook(body))
        assert response["statusCode"] == 200, response
        self.posted.append(body)

    @rule(chat=st.sampled_from(CHATS), text=st.sampled_from(TEXTS), ago=st.sampled_from([0, 2]))
    def client_writes(self, chat: str, text: str, ago: int) -> None:
        message = {
            "id": f"wamid.IN{next(self.seq):06d}",
            "body": text,
            "type": "chat",
            "senderName": "Client",
            "chatId": chat,
            "fromMe": False,
            "self": 0,
            "time": int(time.time()) - ago,
        }
        self._post({"instanceId": CHANNEL, "messages": [message]})

    @rule(data=st.data())
    def onemsg_redelivers(self, data: st.DataObject) -> None:
        if self.posted:
            self._post(data.draw(st.sampled_from(self.posted)))

    @rule(data=st.data(), status=st.sampled_from(["sent", "delivered", "read", "failed"]))
    def ack_arrives(self, data: st.DataObject, status: str) -> None:
        if not self.onemsg.accepted:
            return
        mid = data.draw(st.sampled_from(sorted(self.onemsg.accepted)))
        known = self.onemsg.accepted[mid]
        if STATUS_RANK[status] > STATUS_RANK[known["status"]]:
            known["status"] = status
        item = {"id": mid, "status": status, "chatId": known["chat"]}
        self._post({"instanceId": CHANNEL, "ack": [item]})

    @rule(data=st.data())
    def echo_arrives(self, data: st.DataObject) -> None:
        if not self.onemsg.accepted:
            return
        mid = data.draw(st.sampled_from(sorted(self.onemsg.accepted)))
        known = self.onemsg.accepted[mid]
        echo = {
            "id": mid,
            "body": known["body"],
            "type": "chat",
            "chatId": known["chat"],
            "fromMe": True,
            "self": 1,
            "time": known["time"],
        }
        self._post({"instanceId": CHANNEL, "messages": [echo]})

    # -- what people do ----------------------------------------------------------------------
    @rule(chat=st.sampled_from(CHATS))
    def manager_types_in_the_app(self, chat: str) -> None:
        typed = {
            "id": f"wamid.MG{next(self.seq):06d}",
            "body": "Hello from the team, how can I help?",
            "type": "chat",
            "chatId": chat,
            "fromMe": True,
            "self": 0,
            "time": int(time.time()),
        }
        self._post({"instanceId": CHANNEL, "messages": [typed]})

    @rule(chat=st.sampled_from(CHATS), again=st.booleans())
    def manager_posts_through_the_api(self, chat: str, again: bool) -> None:
        key = self.keys[-1][1] if again and self.keys else f"crm-{next(self.seq)}"
        event = load_event("manager_api/post_message.json")
        event["pathParameters"] = {"chatId": chat}
        event["body"] = json.dumps({"body": f"Answer {key}", "idempotency_key": key})
        status, _ = self.stack.call_api(event)
        assert status in (202, 404, 409), status
        if status == 202:
            self.keys.append((chat, key))

    # -- what AWS does -----------------------------------------------------------------------
    @rule(kill=st.sampled_from([None, None, "claim", "before", "after", "lost_delete"]))
    def sender_runs(self, kill: str | None) -> None:
        messages = self.stack.receive()
        if not messages:
            return
        self.onemsg.kill = kill if kill in ("before", "after") else None
        Request.kill_claim = kill == "claim"
        try:
            if kill == "lost_delete":  # the invocation ended before Lambda deleted the records
                from tests.conftest import sqs_record

                records = [sqs_record(m, self.stack.aws.ctx.region) for m in messages]
                self.stack.sender.lambda_handler({"Records": records}, LambdaContext())
            else:
                self.stack.run_sender(messages)
        except Killed:
            pass  # the records stay in flight until their visibility ends
        finally:
            self.onemsg.kill = None
            Request.kill_claim = False

    @rule(seconds=st.sampled_from([1, 4, 70, SETTLE_SECONDS]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def poller_runs(self) -> None:
        self.poller.lambda_handler(load_event("status_poller/schedule.json"), LambdaContext())

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def at_most_one_reply_per_request_and_one_send_per_key(self) -> None:
        for chat in CHATS:
            sessions = [i for i in _items(self.stack, chat) if i["SK"].startswith("SESSION#")]
            assert len(self.onemsg.sends_to(chat, auto=True)) <= len(sessions)
        for chat, key in set(self.keys):
            bodies = [
                m for m in self.onemsg.sends_to(chat, auto=False) if m["body"] == f"Answer {key}"
            ]
            assert len(bodies) <= 1, f"{key} sent {len(bodies)} times"

    @invariant()
    def statuses_never_go_back(self) -> None:
        for chat in CHATS:
            for item in _items(self.stack, chat):
                status = item.get("status")
                if not item["SK"].startswith("OUT#") or status not in STATUS_RANK:
                    continue
                rank = STATUS_RANK[status]
                assert rank >= self.ranks.get(item["SK"], 0), f"{item['SK']}: back to {status}"
                self.ranks[item["SK"]] = rank

    @invariant()
    def manager_load_equals_waiting_leads(self) -> None:
        """A lead waits for its manager's first answer while its current request has a
        manager, no human response yet, and a reply that was not dropped."""
        waiting: dict[str, int] = {}
        for chat in CHATS:
            items = {i["SK"]: i for i in _items(self.stack, chat)}
            lead = items.get("LEAD")
            if not lead or not lead.get("manager_id") or lead.get("assignment") == "unassigned":
                continue
            if lead.get("first_human_response_at"):
                continue
            reply = items.get(f"OUT#auto:{lead.get('session_id')}", {})
            if reply.get("state") in ("SKIPPED", "FAILED"):
                continue
            waiting[str(lead["manager_id"])] = waiting.get(str(lead["manager_id"]), 0) + 1
        loads = {m["id"]: int(m.get("load") or 0) for m in Context.default().store.list_managers()}
        assert loads == {manager: waiting.get(manager, 0) for manager in loads}

    def teardown(self) -> None:
        """Everything settles: time passes, the sender and the poller run until the queue is
        empty; then every opened request has exactly one reply or one recorded reason."""
        for _ in range(12):
            self.clock.advance(SETTLE_SECONDS)
            self.stack.drain()
            self.poller.lambda_handler(load_event("status_poller/schedule.json"), LambdaContext())
            if not self.stack.receive():
                break
        for chat in CHATS:
            items = _items(self.stack, chat)
            sessions = [i for i in items if i["SK"].startswith("SESSION#")]
            autos = [i for i in items if i["SK"].startswith("OUT#auto:")]
            assert len(autos) == len(sessions), (chat, len(autos), len(sessions))
            for out in autos:
                assert out.get("state") in FINAL_STATES, (out["SK"], out.get("state"))
                if out["state"] != "ACCEPTED":
                    assert out.get("reason"), (out["SK"], out["state"])


def _items(stack: Stack, chat: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    table = stack.aws.ctx.physical_name("StateTable")
    pages = stack.ddb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"LEAD#{chat}"}},
    )
    return [
        {k: plain.deserialize(v) for k, v in item.items()}
        for page in pages
        for item in page["Items"]
    ]


def _reset(stack: Stack) -> None:
    """An empty table and queue for each example (the resources stay: moto is slow to build)."""
    for logical_id in ("StateTable", "IdempotencyTable"):
        table = stack.aws.ctx.physical_name(logical_id)
        keys = [
            k["AttributeName"]
            for k in stack.ddb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        for item in stack.ddb.scan(TableName=table)["Items"]:
            stack.ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)
    stack.onemsg.calls.clear()
    reset_caches()
    for manager_id, name in MANAGERS:
        Context.default().store.put_manager(
            {"id": manager_id, "name": name, "active": True, "capacity": 5, "topics": []}
        )
    reset_caches()


@pytest.fixture
def machine(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Request]]:
    monkeypatch.setenv("BURST_SECONDS", "3")
    # Each example starts from an empty queue, in-flight records included (moto refuses a
    # second purge within 60 s by default, as SQS does).
    monkeypatch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
    reset_caches()
    original = Store.claim_send

    def claim_send(self: Store, *args: Any, **kwargs: Any) -> Any:
        if Request.kill_claim:
            Request.kill_claim = False
            raise Killed  # the manager is chosen; nothing of the claim is written
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "claim_send", claim_send)
    Request.stack = stack
    Request.clock = Clock(monkeypatch)
    yield Request


def test_request_keeps_its_guarantees_when_anything_happens_in_any_order(
    machine: type[Request],
) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=int(os.environ.get("STATE_MACHINE_EXAMPLES", "25")),
            stateful_step_count=30,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
