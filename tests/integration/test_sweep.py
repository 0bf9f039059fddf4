"""A request recorded by the webhook whose reply was never queued (it stopped in between
and 1MSG did not retry): the poller's sweep queues it, once, and leaves settled ones be."""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_reply.errors import StoreUnavailableError
from session_reply.flows.context import Context

from tests.conftest import INBOUND_ID, LambdaContext, Stack, hook_event, load_handler, reset_caches


@pytest.fixture
def sweep_now(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("SWEEP_AFTER_SECONDS", "0")
    reset_caches()
    return stack


def run_poller() -> dict[str, Any]:
    result: dict[str, Any] = load_handler("status_poller").lambda_handler({}, LambdaContext())
    return result


def test_sweep_queues_the_reply_once_when_the_webhook_stopped_before_queueing_it(
    sweep_now: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = sweep_now
    queue = Context.default().queue
    real_enqueue = queue.enqueue

    def lost(command: Any) -> None:
        raise StoreUnavailableError("SQS SendMessage failed: EndpointConnectionError")

    # Given the opener was recorded but queueing its reply failed, and 1MSG never retried
    monkeypatch.setattr(queue, "enqueue", lost)
    response = stack.post_hook(hook_event("webhook/inbound.json"))
    assert response["statusCode"] == 500
    assert stack.lead()["lead"]["session_id"] == INBOUND_ID
    monkeypatch.setattr(queue, "enqueue", real_enqueue)
    # When the poller runs
    summary = run_poller()
    # Then the reply is queued again, and sent once
    assert summary["requeued"] == 1
    queued = stack.receive()
    assert [json.loads(m["Body"])["key"] for m in queued] == [INBOUND_ID]
    stack.run_sender(queued)
    out = next(m for m in stack.lead()["messages"] if m["direction"] == "out")
    assert out["state"] == "ACCEPTED"
    assert len(stack.sends()) == 1
    # And the next runs find nothing more to queue
    assert run_poller()["requeued"] == 0
    assert stack.receive() == []


def test_sweep_leaves_a_request_alone_when_its_reply_is_queued_or_settled(
    sweep_now: Stack,
) -> None:
    stack = sweep_now
    # Given a request whose reply was refused for good (a closed window, no template)
    stack.post_hook(hook_event("webhook/inbound.json", time=1_700_000_000))
    stack.drain()
    out = next(m for m in stack.lead()["messages"] if m["direction"] == "out")
    assert out["state"] == "SKIPPED"
    # When the poller runs twice
    first, second = run_poller(), run_poller()
    # Then nothing is queued again, and the lead no longer waits for a reply
    assert (first["requeued"], second["requeued"]) == (0, 0)
    assert stack.receive() == []
    assert "awaiting_pk" not in stack.lead()["lead"]
