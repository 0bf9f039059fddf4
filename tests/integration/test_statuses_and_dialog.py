"""Statuses out of order, early and duplicated; the manager's dialog; the lead lifecycle;
the CRM events; the hookInfo poller. All through the real handlers on events/."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from session_reply.settings import get_settings

from tests.conftest import (
    CHAT,
    REPLY_ID,
    LambdaContext,
    Stack,
    hook_event,
    load_event,
    load_handler,
    with_body,
)


def auto_reply(stack: Stack) -> dict[str, Any]:
    return next(m for m in stack.lead()["messages"] if m.get("author") == "auto")


@pytest.fixture
def answered(stack: Stack) -> Stack:
    """A client wrote and got the auto-reply (1MSG id REPLY_ID)."""
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    return stack


def test_status_keeps_every_timestamp_and_ends_at_read_when_acks_arrive_reversed(
    answered: Stack,
) -> None:
    response = answered.post_hook(
        load_event("webhook/ack_out_of_order.json")
    )  # read, delivered, sent
    out = auto_reply(answered)
    assert json.loads(response["body"])["outcomes"] == {
        "status_applied": 1,
        "status_out_of_order": 2,
    }
    assert out["status"] == "read"
    assert out["read_at"] and out["delivered_at"] and out["sent_at"]
    assert [h["status"] for h in out["history"]] == ["read", "delivered", "sent"]


def test_duplicate_ack_is_recorded_once_when_1msg_repeats_it(answered: Stack) -> None:
    answered.post_hook(load_event("webhook/ack_delivered.json"))
    second = answered.post_hook(load_event("webhook/ack_delivered.json"))
    assert json.loads(second["body"])["outcomes"] == {"status_duplicate": 1}
    assert auto_reply(answered)["status"] == "delivered"
    assert [h["status"] for h in auto_reply(answered)["history"]] == ["delivered"]


def test_legacy_viewed_counts_as_read_when_it_comes_without_delivered(answered: Stack) -> None:
    answered.post_hook(load_event("webhook/ack_viewed_legacy.json"))
    out = auto_reply(answered)
    assert out["status"] == "read"
    assert "delivered_at" not in out
    # read implies delivered for the lead's "when was the auto-reply delivered"
    assert answered.lead()["lead"]["auto_reply_delivered_at"] == out["read_at"]


def test_failed_ack_keeps_reason_and_marks_lead_unreachable_when_number_is_not_on_whatsapp(
    answered: Stack,
) -> None:
    answered.post_hook(load_event("webhook/ack_failed.json"))
    out = auto_reply(answered)
    assert out["status"] == "failed"
    assert out["reason"] == "invalid_recipient"
    assert "not a WhatsApp user" in out["reason_detail"]
    assert answered.lead()["lead"]["status"] == "unreachable"


def test_hooks_array_status_is_applied_with_its_timestamp_when_1msg_uses_hooks(
    answered: Stack,
) -> None:
    answered.post_hook(load_event("webhook/hooks_status.json"))
    out = auto_reply(answered)
    assert out["status"] == "delivered"
    assert out["delivered_at"] == 1764500030


def test_early_ack_is_parked_then_applied_when_the_send_result_is_stored(stack: Stack) -> None:
    # Given the client's message is in the queue and acks for the reply come first
    stack.post_hook(hook_event("webhook/inbound.json"))
    early = stack.post_hook(load_event("webhook/ack_delivered.json"))
    assert json.loads(early["body"])["outcomes"] == {"status_parked": 1}
    # When the sender stores the send result
    stack.drain()
    # Then the parked status is on the message
    out = auto_reply(stack)
    assert out["status"] == "delivered"
    assert stack.lead()["lead"]["auto_reply_delivered_at"] == out["delivered_at"]


def test_echo_settles_the_send_when_it_overtakes_the_senders_write(stack: Stack) -> None:
    # Given 1MSG times out on sendMessage after it sent the reply
    stack.onemsg.routes["send"].side_effect = httpx.ReadTimeout("slow")
    stack.post_hook(hook_event("webhook/inbound.json"))
    result = stack.run_sender()
    assert len(result["batchItemFailures"]) == 1
    assert auto_reply(stack)["state"] == "SENDING"
    # When the echo of that reply arrives
    stack.post_hook(hook_event("webhook/echo_of_reply.json"))
    # Then the send is settled with the echo's id and nothing is sent again
    out = auto_reply(stack)
    assert (out["state"], out["provider_id"]) == ("ACCEPTED", REPLY_ID)
    stack.onemsg.routes["send"].side_effect = None
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)
    assert len(stack.sends()) == 1


def test_manager_typing_in_1msg_app_moves_lead_to_in_progress_when_echo_has_self_0(
    answered: Stack,
) -> None:
    response = answered.post_hook(hook_event("webhook/manager_typed_in_app.json"))
    answered.drain()
    lead = answered.lead()["lead"]
    assert json.loads(response["body"])["outcomes"] == {"manager_message": 1}
    assert lead["status"] == "in_progress"
    assert lead["first_human_response_at"] >= lead["auto_reply_at"]
    assert len(answered.sends()) == 1  # never answered


def test_manager_api_reply_is_sent_in_the_session_when_posted(answered: Stack) -> None:
    status, body = answered.call_api(load_event("manager_api/post_message.json"))
    assert status == 202
    answered.drain()
    sends = answered.sends()
    assert len(sends) == 2
    assert sends[1]["body"].startswith("Maria, delivery to Almaty is 2500 KZT")
    lead = answered.lead()
    assert lead["lead"]["status"] == "in_progress"
    manager = next(m for m in lead["messages"] if m["id"] == body["message_id"])
    assert (manager["author"], manager["state"]) == ("manager", "ACCEPTED")


def test_manager_api_reply_is_queued_once_when_the_same_key_is_posted_twice(
    answered: Stack,
) -> None:
    first = answered.call_api(load_event("manager_api/post_message.json"))
    second = answered.call_api(load_event("manager_api/post_message.json"))
    answered.drain()
    assert first == second  # the retry gets the first answer back
    assert len(answered.sends()) == 2  # the auto-reply and one manager message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"body": "  ", "idempotency_key": "k1"}, "body must be a non-empty string"),
        ({"body": "x" * 4097, "idempotency_key": "k2"}, "at most 4096 characters"),
        ({"body": "Hello"}, "idempotency_key is required"),
        ("not json", "must be JSON"),
    ],
)
def test_manager_api_answers_400_with_a_message_when_the_request_is_invalid(
    answered: Stack, payload: Any, message: str
) -> None:
    status, body = answered.call_api(
        with_body(load_event("manager_api/post_message.json"), payload)
    )
    assert status == 400
    assert message in body["message"]


def test_manager_api_answers_404_when_the_lead_is_unknown(stack: Stack) -> None:
    assert stack.call_api(load_event("manager_api/post_message_unknown_lead.json"))[0] == 404
    assert stack.call_api(load_event("manager_api/get_lead.json"))[0] == 404


def test_manager_api_answers_409_with_the_closing_time_when_the_window_is_closed(
    stack: Stack,
) -> None:
    stack.post_hook(hook_event("webhook/inbound.json", time=1_700_000_000))  # long ago
    status, body = stack.call_api(load_event("manager_api/post_message.json"))
    assert status == 409
    assert body["window_closed_at"].startswith("2023-11-15")


def test_manager_api_answers_409_when_a_key_is_reused_for_another_text(answered: Stack) -> None:
    event = load_event("manager_api/post_message.json")
    assert answered.call_api(event)[0] == 202
    other = with_body(event, {"body": "Something else", "idempotency_key": "crm-42"})
    status, body = answered.call_api(other)
    assert status == 409
    assert "already used" in body["message"]
    answered.drain()
    assert len(answered.sends()) == 2  # the auto-reply and the first text only


def test_get_lead_shows_lead_and_messages_in_order_when_asked(answered: Stack) -> None:
    status, body = answered.call_api(load_event("manager_api/get_lead.json"))
    assert status == 200
    assert body["lead"]["name"] == "Maria"
    assert [m["author"] for m in body["messages"]] == ["client", "auto"]
    assert "PK" not in body["lead"]


def test_crm_receives_inbound_lead_and_status_events_when_a_lead_is_answered(
    answered: Stack,
) -> None:
    answered.post_hook(load_event("webhook/ack_delivered.json"))
    events = answered.crm_events()
    kinds = [(e["detail-type"], e["detail"].get("status")) for e in events]
    assert ("InboundMessageReceived", None) in kinds
    assert ("LeadStatusChanged", "new") in kinds
    assert ("LeadStatusChanged", "auto_replied") in kinds
    assert ("MessageStatusChanged", "delivered") in kinds
    assert all(e["source"] == "session-reply" for e in events)
    assert not any("Almaty" in json.dumps(e) for e in events)  # no message text


def test_poller_applies_hookinfo_status_when_no_ack_came(
    answered: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_AFTER_SECONDS", "0")
    get_settings.cache_clear()
    __import__("session_reply.flows.context", fromlist=["x"])._default_context.cache_clear()
    answered.onemsg.get("/hookInfo", name="hookinfo").respond(
        200,
        json={
            "hooks": [
                {
                    "id": REPLY_ID,
                    "status": "sent",
                    "timestamp": 1764500001,
                    "recipient_id": "77011234567",
                },
                {
                    "id": REPLY_ID,
                    "status": "read",
                    "timestamp": 1764500009,
                    "recipient_id": "77011234567",
                },
            ]
        },
    )
    poller = load_handler("status_poller")
    result = poller.lambda_handler({"source": "aws.events"}, LambdaContext())
    assert result["checked"] == 1
    assert auto_reply(answered)["status"] == "read"
    # Read is final: the next run has nothing to ask
    assert poller.lambda_handler({}, LambdaContext())["checked"] == 0


def test_poller_marks_unknown_when_hookinfo_never_knows_past_the_deadline(
    answered: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_AFTER_SECONDS", "0")
    monkeypatch.setenv("STATUS_DEADLINE_SECONDS", "0")
    get_settings.cache_clear()
    __import__("session_reply.flows.context", fromlist=["x"])._default_context.cache_clear()
    answered.onemsg.get("/hookInfo").respond(404, json={"error": "not found"})
    result = load_handler("status_poller").lambda_handler({}, LambdaContext())
    assert result["unknown"] == 1
    assert auto_reply(answered)["status"] == "unknown"
    # A real status that turns up later still applies
    answered.post_hook(load_event("webhook/ack_delivered.json"))
    assert auto_reply(answered)["status"] == "delivered"
    assert auto_reply(answered)["chat_id"] == CHAT
