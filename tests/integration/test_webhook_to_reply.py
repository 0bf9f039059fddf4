"""The core path through the real handlers: webhook -> queue -> sender -> 1MSG."""

from __future__ import annotations

import json

import httpx
import pytest
from session_reply.flows import send_reply

from tests.conftest import INBOUND_ID, REPLY_ID, Stack, hook_event, load_event


def test_new_lead_is_answered_once_with_the_rendered_template_when_a_client_writes(
    stack: Stack,
) -> None:
    # Given a client's first message
    response = stack.post_hook(hook_event("webhook/inbound.json"))
    # When the sender runs
    stack.drain()
    # Then the webhook answered 200 and 1MSG got exactly one sendMessage with the reply
    assert response["statusCode"] == 200
    sends = stack.sends()
    assert len(sends) == 1
    assert sends[0]["phone"] == "77011234567"
    assert sends[0]["body"].startswith(
        "Hello, Maria! We received your request about «delivery to Almaty»."
    )
    lead = stack.lead()
    assert lead["lead"]["status"] == "auto_replied"
    assert (lead["lead"]["topic"], lead["lead"]["category"]) == ("delivery to Almaty", "delivery")
    assert lead["lead"]["language"] == "en"
    assert lead["lead"]["manager"] in sends[0]["body"]
    out = [m for m in lead["messages"] if m["direction"] == "out"]
    assert out[0]["provider_id"] == REPLY_ID


def test_duplicate_webhook_is_answered_once_when_delivered_twice(stack: Stack) -> None:
    event = hook_event("webhook/inbound.json")
    stack.post_hook(event)
    stack.post_hook(event)
    stack.drain()
    assert len(stack.sends()) == 1
    lead = stack.lead()
    assert [m["id"] for m in lead["messages"] if m["direction"] == "in"] == [INBOUND_ID]
    assert lead["lead"]["inbound_count"] == 1


def test_echo_is_recorded_not_answered_when_our_reply_comes_back(stack: Stack) -> None:
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    response = stack.post_hook(hook_event("webhook/echo_of_reply.json"))
    stack.drain()
    assert json.loads(response["body"])["outcomes"] == {"echo": 1}
    assert len(stack.sends()) == 1
    assert stack.receive() == []


def test_bad_secret_is_refused_and_nothing_stored_when_the_path_secret_is_wrong(
    stack: Stack,
) -> None:
    response = stack.post_hook(load_event("webhook/bad_secret.json"))
    assert response["statusCode"] == 401
    assert stack.ddb.scan(TableName=stack.aws.ctx.physical_name("StateTable"))["Count"] == 0


def test_ack_moves_status_forward_when_delivered_then_read(stack: Stack) -> None:
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    stack.post_hook(load_event("webhook/ack_delivered.json"))
    stack.post_hook(load_event("webhook/ack_read.json"))
    stack.post_hook(load_event("webhook/ack_sent.json"))  # late: must not move it back
    out = next(m for m in stack.lead()["messages"] if m["direction"] == "out")
    assert out["status"] == "read"
    assert {"sent_at", "delivered_at", "read_at"} <= out.keys()
    assert stack.lead()["lead"]["auto_reply_delivered_at"] == out["delivered_at"]


def test_rate_limited_send_is_retried_when_1msg_answers_429(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 1MSG answers 429 once, then accepts; backoff shortened to 0 s for the test
    monkeypatch.setattr(send_reply, "backoff_seconds", lambda attempt, cap: 0)
    stack.onemsg.routes["send"].side_effect = [
        httpx.Response(429, json={"error": "Too many requests"}),
        httpx.Response(200, json={"sent": True, "id": REPLY_ID}),
    ]
    stack.post_hook(hook_event("webhook/inbound.json"))
    # When the sender runs twice
    first = stack.run_sender()
    stack.drain()
    # Then the first record failed for a retry, the second attempt sent it: one reply out
    assert len(first["batchItemFailures"]) == 1
    assert [s["phone"] for s in stack.sends()] == ["77011234567", "77011234567"]
    assert stack.lead()["lead"]["status"] == "auto_replied"
    out = next(m for m in stack.lead()["messages"] if m["direction"] == "out")
    assert (out["state"], out["attempt"], out["provider_id"]) == ("ACCEPTED", 2, REPLY_ID)


def test_echo_without_self_flag_is_matched_to_our_send_when_1msg_omits_it(stack: Stack) -> None:
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    event = hook_event("webhook/echo_of_reply.json")
    body = json.loads(event["body"])
    del body["messages"][0]["self"]
    response = stack.post_hook({**event, "body": json.dumps(body, ensure_ascii=False)})
    assert json.loads(response["body"])["outcomes"] == {"echo": 1}
    assert stack.lead()["lead"]["status"] == "auto_replied"  # not a human response
