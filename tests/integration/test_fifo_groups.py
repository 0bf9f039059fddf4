"""One chat's FIFO group under waits and failures: a record that waits (the burst) or
backs off holds its chat only for the time it asked, and a record reaches the dead-letter
queue only after it was itself tried as often as allowed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from session_reply.flows import send_reply
from session_reply.flows.context import Context

from tests.conftest import REPLY_ID, Stack, hook_event, load_event, reset_caches

MANAGER_TEXT = json.loads(load_event("manager_api/post_message.json")["body"])["body"]


def kind(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["kind"])


def test_later_record_of_the_chat_is_handed_back_at_once_when_the_first_waits_for_the_burst(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an auto-reply that must wait out the burst, and a manager's message queued
    # behind it in the same chat
    monkeypatch.setenv("BURST_SECONDS", "30")
    reset_caches()
    queue = Context.default().queue
    seen: dict[str, int] = {}
    real = queue.delay
    monkeypatch.setattr(queue, "delay", lambda r, s: (seen.__setitem__(r, s), real(r, s)))
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.call_api(load_event("manager_api/post_message.json"))
    messages = stack.receive()
    assert [kind(m) for m in messages] == ["auto_reply", "manager_message"]
    # When the sender gets both in one batch
    result = stack.run_sender(messages)
    # Then both are kept; the auto-reply holds the chat for the burst wait it asked, and
    # the manager's message goes back at once instead of holding the chat for the queue's
    # visibility timeout
    assert len(result["batchItemFailures"]) == 2
    auto, manager = (m["ReceiptHandle"] for m in messages)
    assert 1 <= seen[auto] <= 30
    assert seen[manager] == 0
    assert stack.sends() == []


def test_record_queued_behind_a_failing_one_is_sent_not_dead_lettered_when_the_first_gives_up(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send_reply, "backoff_seconds", lambda attempt, cap: 0)

    # Given 1MSG keeps failing the auto-reply (503) but takes the manager's message
    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["body"] == MANAGER_TEXT:
            return httpx.Response(200, json={"sent": True, "id": "wamid.MANAGER1"})
        return httpx.Response(503, json={"error": "maintenance"})

    stack.onemsg.routes["send"].side_effect = answer
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.call_api(load_event("manager_api/post_message.json"))
    # When the sender runs until the queue is empty
    stack.drain(rounds=30)
    # Then only the auto-reply, tried 8 times, is in the dead-letter queue; the manager's
    # message, queued behind it, was sent once
    dead = stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)
    assert [kind(m) for m in dead.get("Messages", [])] == ["auto_reply"]
    bodies = [s["body"] for s in stack.sends()]
    assert bodies.count(MANAGER_TEXT) == 1
    assert len(bodies) == 9
    outs = {m["kind"]: m for m in stack.lead()["messages"] if m["direction"] == "out"}
    assert outs["manager_message"]["state"] == "ACCEPTED"
    assert (outs["auto_reply"]["state"], outs["auto_reply"]["attempt"]) == ("PENDING", 8)
    assert REPLY_ID not in {s.get("id") for s in stack.sends()}
