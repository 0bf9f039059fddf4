"""The CRM events of a request carry the client's language (ISO 639-1), from the reply's
choice on: assignment, sends, statuses, failures, escalation. The webhook's own events come
before the burst is read and say `null`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LambdaContext, Stack, hook_event, load_event, load_handler, reset_caches

RUSSIAN = "Здравствуйте! Сколько стоит доставка в Астану?"


def events_of(stack: Stack, kind: str) -> list[dict[str, Any]]:
    """The CRM subscriber's events of one kind (read once: the queue hands each out once)."""
    return [e["detail"] for e in stack.crm_events() if e["detail-type"] == kind]


def poll() -> dict[str, int]:
    result: dict[str, int] = load_handler("status_poller").lambda_handler({}, LambdaContext())
    return result


@pytest.fixture
def russian(stack: Stack) -> Stack:
    """A client wrote in Russian and got the auto-reply."""
    stack.post_hook(hook_event("webhook/inbound.json", body=RUSSIAN))
    stack.drain()
    return stack


def test_request_events_carry_the_clients_language_when_the_reply_chose_it(
    russian: Stack,
) -> None:
    # When the reply is delivered and a manager answers in the 1MSG app
    russian.post_hook(load_event("webhook/ack_delivered.json"))
    russian.post_hook(hook_event("webhook/manager_typed_in_app.json"))
    events = russian.crm_events()
    # Then every event from the reply's choice on says "ru"
    languages = {
        (e["detail-type"], e["detail"].get("status")): e["detail"]["language"]
        for e in events
        if "language" in e["detail"]
    }
    assert languages == {
        ("LeadStatusChanged", "new"): None,  # the webhook's: before the burst is read
        ("LeadAssigned", None): "ru",
        ("MessageSent", None): "ru",
        ("LeadStatusChanged", "auto_replied"): "ru",
        ("MessageStatusChanged", "delivered"): "ru",
        ("LeadStatusChanged", "in_progress"): "ru",
    }


def test_send_failed_carries_the_language_when_1msg_refuses_the_reply(stack: Stack) -> None:
    # Given 1MSG refusing the send: the window has closed
    stack.onemsg.routes["send"].respond(400, json={"error": "Dialog window is closed"})
    # When a client writes in Russian
    stack.post_hook(hook_event("webhook/inbound.json", body=RUSSIAN))
    stack.drain()
    # Then the failure and the lead's move say the language
    events = stack.crm_events()
    (failed,) = [e["detail"] for e in events if e["detail-type"] == "SendFailed"]
    assert (failed["reason"], failed["language"]) == ("window_closed", "ru")
    moved = [e["detail"] for e in events if e["detail"].get("status") == "window_closed"]
    assert [d["language"] for d in moved] == ["ru"]


def test_escalation_carries_the_language_when_nobody_answers_in_time(
    russian: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    reset_caches()
    assert poll()["escalated"] == 1
    (escalated,) = events_of(russian, "LeadEscalated")
    assert escalated["language"] == "ru"


def test_unknown_status_carries_the_language_when_the_poller_gives_up(
    russian: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLL_AFTER_SECONDS", "0")
    monkeypatch.setenv("STATUS_DEADLINE_SECONDS", "0")
    reset_caches()
    assert poll()["unknown"] == 1
    (changed,) = events_of(russian, "MessageStatusChanged")
    assert (changed["status"], changed["language"]) == ("unknown", "ru")
