"""Bursts, topics and managers: one reply per request with its real topic, fair and
sticky assignment under capacity, escalation and hand-over of waiting leads."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from session_reply.flows import send_reply
from session_reply.store import Store

from tests.conftest import LambdaContext, Stack, hook_event, load_handler, reset_caches


def store() -> Store:
    from session_reply.settings import get_settings

    return Store(get_settings().table_name)


def add_managers(*managers: dict[str, Any]) -> None:
    for manager in managers:
        store().put_manager({"active": True, "topics": [], "capacity": 0, **manager})
    reset_caches()


def client_writes(stack: Stack, chat: str, text: str, name: str = "Maria") -> None:
    stack.post_hook(
        hook_event(
            "webhook/inbound.json",
            id=f"wamid.{chat}.{time.time_ns()}",
            chatId=f"{chat}@c.us",
            author=f"{chat}@c.us",
            body=text,
            senderName=name,
        )
    )


def lead_of(stack: Stack, chat: str) -> dict[str, Any]:
    return stack.lead(f"{chat}@c.us")["lead"]


def poll() -> dict[str, int]:
    result: dict[str, int] = load_handler("status_poller").lambda_handler({}, LambdaContext())
    return result


def test_greeting_then_question_gets_one_reply_with_the_real_topic_when_they_form_a_burst(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the burst window is on (long enough that a slow machine stays inside it)
    monkeypatch.setenv("BURST_SECONDS", "60")
    reset_caches()
    # When a client writes "hi", then the question, within the window
    stack.post_hook(hook_event("webhook/inbound_burst.json"))
    queued = stack.receive()
    early = stack.run_sender(queued)
    # and the sender runs again once the window is over (and the record is visible again)
    later = SimpleNamespace(time=lambda: time.time() + 61)
    monkeypatch.setattr(send_reply, "time", later)
    stack.sqs.change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=queued[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    stack.drain()
    # Then the first attempt waited, and one reply names the question's topic
    assert len(early["batchItemFailures"]) == 1
    sends = stack.sends()
    assert len(sends) == 1
    assert "«the price of delivery to Almaty»" in sends[0]["body"]
    assert stack.lead()["lead"]["category"] == "delivery"


def test_round_robin_spreads_new_leads_over_the_team_when_several_managers_are_active(
    stack: Stack,
) -> None:
    add_managers({"id": "anna", "name": "Anna"}, {"id": "boris", "name": "Boris"})
    for chat in ("77011111111", "77012222222", "77013333333", "77014444444"):
        client_writes(stack, chat, "How much is delivery?")
    stack.drain()
    managers = [
        lead_of(stack, c)["manager"]
        for c in ("77011111111", "77012222222", "77013333333", "77014444444")
    ]
    assert managers == ["Anna", "Boris", "Anna", "Boris"]
    assert [s["body"].split(". ")[-1][:5] for s in stack.sends()] == [
        "Anna ",
        "Boris",
        "Anna ",
        "Boris",
    ]


def test_topic_goes_to_its_specialist_when_a_manager_lists_the_topic(stack: Stack) -> None:
    add_managers(
        {"id": "anna", "name": "Anna"},
        {"id": "pavel", "name": "Pavel", "topics": ["payment"]},
    )
    client_writes(stack, "77011111111", "Can I pay by card?")
    client_writes(stack, "77012222222", "How much is delivery?")
    stack.drain()
    assert lead_of(stack, "77011111111")["manager"] == "Pavel"
    assert lead_of(stack, "77012222222")["manager"] == "Anna"


def test_full_manager_is_skipped_and_lead_waits_unassigned_when_nobody_has_room(
    stack: Stack,
) -> None:
    add_managers({"id": "anna", "name": "Anna", "capacity": 1})
    client_writes(stack, "77011111111", "How much is delivery?")
    client_writes(stack, "77012222222", "Where is my order?")
    stack.drain()
    second = lead_of(stack, "77012222222")
    assert lead_of(stack, "77011111111")["manager"] == "Anna"
    assert (second["assignment"], second["manager"]) == ("unassigned", "Our team")
    assert "Our team is reviewing it" in stack.sends()[1]["body"]
    # When Anna answers her first lead, she has room again and the poller hands over
    stack.post_hook(
        hook_event(
            "webhook/manager_typed_in_app.json",
            chatId="77011111111@c.us",
            author="77011111111@c.us",
        )
    )
    assert poll()["assigned"] == 1
    second = lead_of(stack, "77012222222")
    assert (second["assignment"], second["manager"]) == ("assigned", "Anna")
    events = [e["detail-type"] for e in stack.crm_events()]
    assert "LeadAssigned" in events


def test_returning_lead_goes_back_to_its_manager_when_that_manager_is_active(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short session gap: the client's first request (10 min ago) is over
    monkeypatch.setenv("SESSION_GAP_SECONDS", "300")
    add_managers({"id": "anna", "name": "Anna"}, {"id": "boris", "name": "Boris"})
    stack.post_hook(
        hook_event(
            "webhook/inbound.json",
            id="wamid.first.1",
            chatId="77011111111@c.us",
            author="77011111111@c.us",
            time=int(time.time()) - 600,
        )
    )  # Anna
    stack.drain()
    # The same client comes back after more than the session gap
    client_writes(stack, "77011111111", "How much is delivery?")
    client_writes(stack, "77012222222", "Where is my order?")  # the next turn: Boris
    stack.drain()
    lead = lead_of(stack, "77011111111")
    assert (lead["manager"], lead["assignment"], lead["session_count"]) == ("Anna", "kept", 2)
    assert lead_of(stack, "77012222222")["manager"] == "Boris"


def test_lead_is_escalated_once_when_no_human_answers_in_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    reset_caches()
    client_writes(stack, "77011111111", "How much is delivery?")
    stack.drain()
    assert poll()["escalated"] == 1
    assert poll()["escalated"] == 0
    lead = lead_of(stack, "77011111111")
    assert lead["escalated_at"] >= lead["auto_reply_at"]
    escalations = [e for e in stack.crm_events() if e["detail-type"] == "LeadEscalated"]
    assert len(escalations) == 1
    assert "Maria" not in json.dumps(escalations)


def test_escalation_hands_the_lead_to_another_manager_when_reassignment_is_on(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    monkeypatch.setenv("REASSIGN_ON_ESCALATION", "true")
    add_managers({"id": "anna", "name": "Anna"}, {"id": "boris", "name": "Boris"})
    client_writes(stack, "77011111111", "How much is delivery?")
    stack.drain()
    assert lead_of(stack, "77011111111")["manager"] == "Anna"
    result = poll()
    assert (result["escalated"], result["reassigned"]) == (1, 1)
    lead = lead_of(stack, "77011111111")
    assert (lead["manager"], lead["assignment"]) == ("Boris", "reassigned")


def test_human_response_stops_escalation_when_the_manager_answers_in_time(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    reset_caches()
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    stack.post_hook(hook_event("webhook/manager_typed_in_app.json"))
    assert poll()["escalated"] == 0
