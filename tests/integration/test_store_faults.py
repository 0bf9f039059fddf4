"""DynamoDB's own failures, injected into the real client against moto (which cannot
throttle): only a `ConditionalCheckFailed` reason is a condition outcome; throttling, a
transaction conflict or a validation error is tried again, or answered 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_reply.flows.context import Context

from tests.conftest import CHAT, INBOUND_ID, Stack, hook_event
from tests.dynamodb_faults import FlakyDynamoDB, opens_session


@pytest.fixture
def flaky(stack: Stack) -> FlakyDynamoDB:
    store = Context.default().store
    client = FlakyDynamoDB(store.client)
    store.client = client
    return client


def queued(stack: Stack) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in stack.receive()]


def test_opener_is_retried_and_opens_the_request_when_its_transaction_is_throttled_once(
    stack: Stack, flaky: FlakyDynamoDB
) -> None:
    # Given the opener's transaction is throttled once (on the lead item)
    flaky.fail(opens_session, "ThrottlingError", index=3, times=1)
    # When 1MSG posts the client's message
    response = stack.post_hook(hook_event("webhook/inbound.json"))
    # Then it is tried again inside the call: the request opens and its reply is queued
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["outcomes"] == {"opened": 1}
    assert flaky.injected == 1
    assert [c["key"] for c in queued(stack)] == [INBOUND_ID]
    assert stack.lead()["lead"]["session_id"] == INBOUND_ID


@pytest.mark.parametrize(
    "code",
    ["ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict", "ValidationError"],
)
def test_webhook_answers_5xx_and_the_retry_opens_the_request_when_the_cancellation_persists(
    stack: Stack, flaky: FlakyDynamoDB, code: str
) -> None:
    # Given every try of the opener's transaction is cancelled for a reason that is not a
    # condition
    flaky.fail(opens_session, code, index=3, times=100)
    # When 1MSG posts the client's message
    first = stack.post_hook(hook_event("webhook/inbound.json"))
    # Then nothing is read as "a request is already open": 5xx, nothing queued or stored
    assert first["statusCode"] == 500
    assert queued(stack) == []
    assert stack.ddb.scan(TableName=stack.aws.ctx.physical_name("StateTable"))["Count"] == 0
    # And when DynamoDB recovers, 1MSG's retry opens the request and queues its reply
    flaky.plan.clear()
    again = stack.post_hook(hook_event("webhook/inbound.json"))
    assert json.loads(again["body"])["outcomes"] == {"opened": 1}
    assert [c["key"] for c in queued(stack)] == [INBOUND_ID]
    assert stack.lead()["lead"]["session_id"] == INBOUND_ID


def test_follow_up_is_recorded_once_when_its_transaction_meets_a_conflict(
    stack: Stack, flaky: FlakyDynamoDB
) -> None:
    # Given an open request
    stack.post_hook(hook_event("webhook/inbound.json"))
    # When a follow-up's transaction meets a conflict with the sender's claim, twice
    flaky.fail(lambda items: len(items) == 3, "TransactionConflict", index=2, times=2)
    second = hook_event("webhook/inbound.json", id="wamid.FOLLOWUP1", body="and the price?")
    response = stack.post_hook(second)
    # Then it is retried inside the webhook and recorded as a follow-up, counted once
    assert json.loads(response["body"])["outcomes"] == {"follow_up": 1}
    assert flaky.injected == 2
    assert stack.lead()["lead"]["inbound_count"] == 2
    assert CHAT in {m["chat_id"] for m in stack.lead()["messages"]}
