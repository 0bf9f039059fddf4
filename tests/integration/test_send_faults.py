"""The sender under 1MSG's real failure modes: nothing sent twice, nothing lost, every
refusal recorded with its reason."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from session_reply.errors import RetryableError
from session_reply.flows import send_reply
from session_reply.queue import AUTO_REPLY, SendCommand
from session_reply.settings import get_settings

from tests.conftest import CHAT, INBOUND_ID, REPLY_ID, Stack, hook_event, load_event, reset_caches


def auto_out(stack: Stack) -> dict[str, Any]:
    return next(m for m in stack.lead()["messages"] if m["direction"] == "out")


def template_calls(stack: Stack) -> list[dict[str, Any]]:
    return [
        json.loads(c.request.content)
        for c in stack.onemsg.calls
        if c.request.url.path.endswith("/sendTemplate")
    ]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send_reply, "backoff_seconds", lambda attempt, cap: 0)


@pytest.fixture
def with_template(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> Stack:
    monkeypatch.setenv("TEMPLATE_NAME", "request_received")
    monkeypatch.setenv("TEMPLATE_NAMESPACE", "ns-1234")
    reset_caches()
    stack.onemsg.post("/sendTemplate", name="template").respond(
        200, json={"sent": True, "id": "wamid.TEMPLATE1", "message": "ok"}
    )
    return stack


def closed_window_hook() -> dict[str, Any]:
    """A client message whose 24 h window closed 2 minutes after it was sent: the reply
    waited in the queue past the window's end."""
    return hook_event("webhook/inbound.json", time=int(time.time()) - 86_400 + 60)


def test_window_closed_reply_is_skipped_and_lead_marked_when_no_template_is_configured(
    stack: Stack,
) -> None:
    stack.post_hook(closed_window_hook())
    stack.drain()
    out = auto_out(stack)
    assert (out["state"], out["reason"]) == ("SKIPPED", "window_closed")
    assert stack.sends() == []
    assert stack.lead()["lead"]["status"] == "window_closed"


def test_template_goes_once_when_the_window_closed_and_one_is_configured(
    with_template: Stack,
) -> None:
    with_template.post_hook(closed_window_hook())
    with_template.drain()
    calls = template_calls(with_template)
    assert len(calls) == 1
    assert calls[0]["template"] == "request_received"
    assert calls[0]["language"] == {"policy": "deterministic", "code": "en"}
    texts = [p["text"] for p in calls[0]["params"][0]["parameters"]]
    assert texts[:2] == ["Maria", "delivery to Almaty"]
    assert with_template.sends() == []  # never free text into a closed window
    out = auto_out(with_template)
    assert (out["state"], out["author"], out["provider_id"]) == (
        "ACCEPTED",
        "template",
        "wamid.TEMPLATE1",
    )
    assert with_template.lead()["lead"]["status"] == "auto_replied"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, json={"error": "Dialog window is closed. Use a template message."}),
        httpx.Response(200, json={"sent": False, "message": "Dialog window is closed"}),
        httpx.Response(
            400, json={"error": {"message": "(#131047) Re-engagement message", "code": 131047}}
        ),
    ],
)
def test_provider_window_closed_switches_to_the_template_once_when_configured(
    with_template: Stack, answer: httpx.Response
) -> None:
    with_template.onemsg.routes["send"].side_effect = [answer]
    with_template.post_hook(hook_event("webhook/inbound.json"))
    with_template.drain()
    assert len(with_template.sends()) == 1
    assert len(template_calls(with_template)) == 1
    assert auto_out(with_template)["author"] == "template"


def test_provider_window_closed_marks_the_lead_when_no_template_is_configured(
    stack: Stack,
) -> None:
    stack.onemsg.routes["send"].respond(400, json={"error": "Dialog window is closed"})
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    out = auto_out(stack)
    assert (out["state"], out["reason"]) == ("FAILED", "window_closed")
    assert stack.lead()["lead"]["status"] == "window_closed"
    assert len(stack.sends()) == 1


def test_stale_auto_reply_is_skipped_not_sent_late_when_it_waited_too_long(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_AUTO_REPLY_AGE_SECONDS", "0")
    reset_caches()
    stack.post_hook(hook_event("webhook/inbound.json"))
    time.sleep(0.01)
    stack.drain()
    assert (auto_out(stack)["state"], auto_out(stack)["reason"]) == ("SKIPPED", "stale")
    assert stack.sends() == []


def test_invalid_number_is_refused_without_calling_1msg_when_it_cannot_be_a_phone(
    stack: Stack,
) -> None:
    stack.post_hook(hook_event("webhook/inbound.json", chatId="12@c.us", author="12@c.us"))
    stack.drain()
    out = next(m for m in stack.lead("12@c.us")["messages"] if m["direction"] == "out")
    assert (out["state"], out["reason"]) == ("FAILED", "invalid_recipient")
    assert "impossible length" in out["reason_detail"]
    assert stack.sends() == []
    assert stack.lead("12@c.us")["lead"]["status"] == "unreachable"


def test_not_a_whatsapp_user_marks_the_lead_unreachable_when_1msg_refuses_the_number(
    stack: Stack,
) -> None:
    stack.onemsg.routes["send"].respond(
        400, json={"error": "Recipient phone number is not a WhatsApp user"}
    )
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    assert auto_out(stack)["reason"] == "invalid_recipient"
    assert stack.lead()["lead"]["status"] == "unreachable"
    assert len(stack.sends()) == 1  # permanent: not retried


def test_queued_answer_is_never_resent_and_the_echo_settles_it_when_1msg_answers_job_id(
    stack: Stack,
) -> None:
    stack.onemsg.routes["send"].respond(200, json={"sent": False, "jobId": 7781})
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    assert auto_out(stack)["state"] == "QUEUED"
    # 1MSG delivers it later; its echo carries the id
    body = auto_out(stack)["body"]
    stack.post_hook(hook_event("webhook/echo_of_reply.json", body=body))
    stack.drain()
    assert (auto_out(stack)["state"], auto_out(stack)["provider_id"]) == ("ACCEPTED", REPLY_ID)
    assert len(stack.sends()) == 1


def test_bad_token_pauses_sending_and_counts_it_when_1msg_answers_401(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.onemsg.routes["send"].respond(401, json={"error": "Wrong token"})
    stack.post_hook(hook_event("webhook/inbound.json"))
    result = stack.run_sender()
    assert len(result["batchItemFailures"]) == 1
    out = auto_out(stack)
    assert (out["state"], out["last_error"]) == ("PENDING", "ProviderAuthError")
    assert '"ProviderAuthFailed"' in capsys.readouterr().out  # the alarm's metric
    assert stack.receive() == []  # paused: not visible again for the long backoff


def test_server_error_is_retried_then_sent_once_when_1msg_recovers(
    stack: Stack, no_backoff: None
) -> None:
    stack.onemsg.routes["send"].side_effect = [
        httpx.Response(500, json={"error": "Internal server error"}),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"sent": True, "id": REPLY_ID}),
    ]
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    out = auto_out(stack)
    assert (out["state"], out["attempt"]) == ("ACCEPTED", 3)


def test_timeout_is_not_resent_within_the_grace_period_when_the_outcome_is_unknown(
    stack: Stack,
) -> None:
    stack.onemsg.routes["send"].side_effect = httpx.ReadTimeout("slow")
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.run_sender()
    # When the same command comes back at once (a redelivery), the lease holds it back
    again = SendCommand(AUTO_REPLY, INBOUND_ID, CHAT, INBOUND_ID, time.time())
    with pytest.raises(RetryableError, match="in flight"):
        send_reply.send_reply(again)
    assert len(stack.sends()) == 1
    assert auto_out(stack)["state"] == "SENDING"


def test_timeout_is_resent_after_the_grace_period_when_no_echo_came(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEND_LEASE_SECONDS", "0")
    reset_caches()
    assert get_settings().send_lease_seconds == 0
    stack.onemsg.routes["send"].side_effect = [
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"sent": True, "id": REPLY_ID}),
    ]
    # 1MSG's history of the chat shows that the first attempt never went out
    history = stack.onemsg.get("/messages").respond(200, json={"messages": []})
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    out = auto_out(stack)
    assert (out["state"], out["attempt"], len(stack.sends())) == ("ACCEPTED", 2, 2)
    assert history.call_count == 1


def test_send_goes_to_the_dlq_with_its_reason_kept_when_every_retry_fails(
    stack: Stack, no_backoff: None
) -> None:
    stack.onemsg.routes["send"].respond(503, json={"error": "maintenance"})
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain(rounds=12)
    dead = stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)
    assert len(dead.get("Messages", [])) == 1
    out = auto_out(stack)
    assert (out["state"], out["last_error"]) == ("PENDING", "ProviderUnavailableError")
    assert len(stack.sends()) == 8  # maxReceiveCount, then the DLQ keeps it


def test_statuses_settle_a_timed_out_send_when_its_echo_is_lost(stack: Stack) -> None:
    # Given 1MSG took the reply but the answer timed out, and the echo never comes
    stack.onemsg.routes["send"].side_effect = httpx.ReadTimeout("slow")
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.run_sender()
    # When the reply's statuses arrive
    response = stack.post_hook(load_event("webhook/ack_delivered.json"))
    # Then they settle the send with their id, and nothing is sent again
    out = auto_out(stack)
    assert json.loads(response["body"])["outcomes"] == {"status_applied": 1}
    assert (out["state"], out["provider_id"], out["status"]) == ("ACCEPTED", REPLY_ID, "delivered")
    assert len(stack.sends()) == 1


def test_template_echo_settles_a_timed_out_template_send_when_texts_differ(
    with_template: Stack,
) -> None:
    with_template.onemsg.routes["template"].side_effect = httpx.ReadTimeout("slow")
    with_template.post_hook(closed_window_hook())
    with_template.run_sender()
    echo = hook_event("webhook/echo_of_reply.json", body="request_received", id="wamid.TPL9")
    with_template.post_hook(echo)
    out = auto_out(with_template)
    assert (out["state"], out["provider_id"]) == ("ACCEPTED", "wamid.TPL9")
    assert len(template_calls(with_template)) == 1


def test_requeued_opener_is_skipped_as_stale_when_1msg_redelivers_it_hours_later(
    stack: Stack,
) -> None:
    # Given an opener written 2 hours ago whose queued reply was lost (a crash after
    # recording it, before or while queueing)
    event = hook_event("webhook/inbound.json", time=int(time.time()) - 7_200)
    stack.post_hook(event)
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)
    # When 1MSG delivers it again and the sender runs
    stack.post_hook(event)
    stack.drain()
    # Then the re-queued reply went through the staleness check
    assert (auto_out(stack)["state"], auto_out(stack)["reason"]) == ("SKIPPED", "stale")
    assert stack.sends() == []
