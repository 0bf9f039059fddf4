"""A sender killed (Lambda timeout, OOM, crash) after 1MSG accepted its message, or one
that could not store the result: the next attempt finds out what 1MSG has before any
resend, and a send 1MSG may have is never repeated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_reply.flows.context import Context

from tests.conftest import REPLY_ID, Stack, hook_event, load_event, reset_caches
from tests.dynamodb_faults import FlakyDynamoDB, records_acceptance


class Killed(BaseException):
    """The execution environment went away mid-call (nothing after it runs)."""


def auto_out(stack: Stack) -> dict[str, Any]:
    return next(m for m in stack.lead()["messages"] if m["direction"] == "out")


@pytest.fixture
def expired_leases(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """Leases end at once: the next attempt may come as soon as the record is back."""
    monkeypatch.setenv("SEND_LEASE_SECONDS", "0")
    reset_caches()
    return stack


KILLED_CALLS: list[Any] = []


def send_calls(stack: Stack) -> int:
    """sendMessage calls that reached 1MSG, the one the sender died in included."""
    return len(stack.sends()) + len(KILLED_CALLS)


def killed_after_accept(stack: Stack) -> list[dict[str, Any]]:
    """1MSG accepts the reply, and the sender dies before it hears the answer."""
    KILLED_CALLS.clear()

    def accept_then_die(request: Any) -> Any:
        KILLED_CALLS.append(request)
        raise Killed

    stack.onemsg.routes["send"].side_effect = accept_then_die
    stack.post_hook(hook_event("webhook/inbound.json"))
    messages = stack.receive()
    with pytest.raises(Killed):
        stack.run_sender(messages)
    stack.onemsg.routes["send"].side_effect = None
    assert auto_out(stack)["state"] == "SENDING"
    return messages


def redeliver(stack: Stack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """SQS brings the record back (its visibility timeout ended)."""
    for message in messages:
        stack.sqs.change_message_visibility(
            QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return stack.run_sender()


def test_status_settles_a_killed_send_and_nothing_is_resent_when_1msg_had_accepted_it(
    expired_leases: Stack,
) -> None:
    stack = expired_leases
    # Given the sender was killed after 1MSG accepted the reply
    messages = killed_after_accept(stack)
    # When the reply's `sent` status arrives, and then SQS redelivers the record
    response = stack.post_hook(load_event("webhook/ack_sent.json"))
    result = redeliver(stack, messages)
    # Then the status settled the send, and the redelivery sends nothing
    assert json.loads(response["body"])["outcomes"] == {"status_applied": 1}
    out = auto_out(stack)
    assert (out["state"], out["provider_id"]) == ("ACCEPTED", REPLY_ID)
    assert result["batchItemFailures"] == []
    assert send_calls(stack) == 1


def test_1msg_history_settles_a_killed_send_when_no_echo_or_status_came(
    expired_leases: Stack,
) -> None:
    stack = expired_leases
    # Given the sender was killed after 1MSG accepted the reply, and nothing came back
    messages = killed_after_accept(stack)
    body = auto_out(stack)["body"]
    history = stack.onemsg.get("/messages").respond(
        200,
        json={
            "messages": [
                {
                    "id": REPLY_ID,
                    "body": body,
                    "fromMe": True,
                    "self": 1,
                    "chatId": "77011234567@c.us",
                    "type": "chat",
                    "time": 1,
                }
            ]
        },
    )
    # When SQS redelivers the record
    redeliver(stack, messages)
    # Then the chat's history in 1MSG settles it with its id; nothing is sent again
    out = auto_out(stack)
    assert (out["state"], out["provider_id"], out["attempt"]) == ("ACCEPTED", REPLY_ID, 2)
    assert history.call_count == 1
    assert history.calls[0].request.url.params["chatId"] == "77011234567@c.us"
    assert send_calls(stack) == 1
    # and asked from a day before the send: 1MSG filters by its own clock, maybe behind ours
    min_time = int(history.calls[0].request.url.params["min_time"])
    assert min_time <= int(out["created_at"]) - 86_400


def test_killed_send_is_recorded_unknown_not_resent_when_1msg_cannot_tell(
    expired_leases: Stack,
) -> None:
    stack = expired_leases
    # Given the sender was killed mid-send, and 1MSG's history cannot be read
    messages = killed_after_accept(stack)
    stack.onemsg.get("/messages").respond(500, json={"error": "Internal server error"})
    # When SQS redelivers the record
    result = redeliver(stack, messages)
    # Then the send is recorded as unknown (and alarmed), never sent a second time
    out = auto_out(stack)
    assert (out["state"], out["reason"], out["status"]) == ("UNKNOWN", "outcome_unknown", "unknown")
    assert result["batchItemFailures"] == []
    assert send_calls(stack) == 1
    # And its echo, when it comes at last, still settles it
    stack.post_hook(hook_event("webhook/echo_of_reply.json", body=out["body"]))
    out = auto_out(stack)
    assert (out["state"], out["provider_id"]) == ("ACCEPTED", REPLY_ID)
    assert send_calls(stack) == 1


def test_accepted_send_is_settled_not_resent_when_its_result_cannot_be_stored(
    expired_leases: Stack,
) -> None:
    stack = expired_leases
    store = Context.default().store
    flaky = FlakyDynamoDB(store.client)
    store.client = flaky
    # Given 1MSG accepts the reply but every try to store the result is throttled
    flaky.fail(records_acceptance, "ThrottlingError", index=0, times=4)
    stack.post_hook(hook_event("webhook/inbound.json"))
    messages = stack.receive()
    first = stack.run_sender(messages)
    assert len(first["batchItemFailures"]) == 1
    assert auto_out(stack)["state"] == "SENDING"
    # When DynamoDB recovers and the record comes back
    redeliver(stack, messages)
    # Then the id 1MSG gave is stored, and nothing is sent again
    out = auto_out(stack)
    assert (out["state"], out["provider_id"]) == ("ACCEPTED", REPLY_ID)
    assert flaky.injected == 4
    assert len(stack.sends()) == 1
