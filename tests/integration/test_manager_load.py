"""A manager who answered first is never auto-replied over nor escalated, and a manager's
load always equals the leads waiting for that manager's first answer."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from session_reply.store import Store

from tests.conftest import REPLY_ID, LambdaContext, Stack, hook_event, load_handler, reset_caches

ANNA, BORIS = "77011111111", "77012222222"  # the clients' phones
CAROL = "77013333333"


def store() -> Store:
    from session_reply.settings import get_settings

    return Store(get_settings().table_name)


def add_managers(*managers: dict[str, Any]) -> None:
    for manager in managers:
        store().put_manager({"active": True, "topics": [], "capacity": 0, **manager})
    reset_caches()


def client_writes(stack: Stack, phone: str, at: int | None = None) -> None:
    overrides: dict[str, Any] = {
        "id": f"wamid.{phone}.{time.time_ns()}",
        "chatId": f"{phone}@c.us",
        "author": f"{phone}@c.us",
    }
    if at is not None:
        overrides["time"] = at
    stack.post_hook(hook_event("webhook/inbound.json", **overrides))


def manager_types_in_app(stack: Stack, phone: str) -> None:
    stack.post_hook(
        hook_event(
            "webhook/manager_typed_in_app.json",
            id=f"wamid.app.{phone}.{time.time_ns()}",
            chatId=f"{phone}@c.us",
            author=f"{phone}@c.us",
        )
    )


def poll() -> dict[str, int]:
    result: dict[str, int] = load_handler("status_poller").lambda_handler({}, LambdaContext())
    return result


def leads(stack: Stack) -> list[dict[str, Any]]:
    table = stack.aws.ctx.physical_name("StateTable")
    found = []
    for item in stack.ddb.scan(TableName=table)["Items"]:
        if item["SK"]["S"] == "LEAD":
            found.append(stack.lead(item["chat_id"]["S"]))
    return found


def waiting_per_manager(stack: Stack) -> Counter[str]:
    """Counted from the leads themselves: a lead waits for its manager's first answer while
    its current request has a manager, no human response, and its reply was not dropped."""
    waiting: Counter[str] = Counter()
    for view in leads(stack):
        lead = view["lead"]
        if not lead.get("manager_id") or lead.get("assignment") == "unassigned":
            continue
        if lead.get("first_human_response_at"):
            continue
        reply = next(
            (m for m in view["messages"] if m.get("id") == f"auto:{lead['session_id']}"), None
        )
        if reply is not None and reply.get("state") in ("SKIPPED", "FAILED"):
            continue
        waiting[str(lead["manager_id"])] += 1
    return waiting


def assert_load_matches(stack: Stack) -> None:
    loads = {m["id"]: int(m.get("load") or 0) for m in store().list_managers()}
    waiting = waiting_per_manager(stack)
    assert loads == {manager: waiting.get(manager, 0) for manager in loads}


def auto_out(stack: Stack, phone: str) -> dict[str, Any]:
    return next(m for m in stack.lead(f"{phone}@c.us")["messages"] if m.get("kind") == "auto_reply")


# -- a manager answered before the auto-reply ----------------------------------------------


def test_auto_reply_is_skipped_and_nothing_escalates_when_a_manager_answered_in_the_app_first(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    monkeypatch.setenv("REASSIGN_ON_ESCALATION", "true")
    add_managers({"id": "anna", "name": "Anna"}, {"id": "boris", "name": "Boris"})
    # Given a client wrote and, before the reply went out, a manager answered in the app
    client_writes(stack, ANNA)
    manager_types_in_app(stack, ANNA)
    # When the sender and then the poller run
    stack.drain()
    result = poll()
    # Then no auto-reply was sent, with its reason, and nothing escalated or moved
    assert stack.sends() == []
    out = auto_out(stack, ANNA)
    assert (out["state"], out["reason"]) == ("SKIPPED", "human_answered")
    assert (result["escalated"], result["reassigned"]) == (0, 0)
    kinds = [e["detail-type"] for e in stack.crm_events()]
    assert "LeadEscalated" not in kinds
    lead = stack.lead(f"{ANNA}@c.us")["lead"]
    assert lead["status"] == "in_progress" and "awaiting_pk" not in lead
    assert_load_matches(stack)


def test_nothing_escalates_when_a_manager_answers_while_the_auto_reply_is_in_flight(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    add_managers({"id": "anna", "name": "Anna"})
    client_writes(stack, ANNA)

    def answer_meanwhile(request: httpx.Request) -> httpx.Response:
        # Given the manager's app message lands while sendMessage is on its way
        manager_types_in_app(stack, ANNA)
        return httpx.Response(200, json={"sent": True, "id": REPLY_ID, "message": "ok"})

    stack.onemsg.routes["send"].side_effect = answer_meanwhile
    # When the reply is accepted and the poller runs
    stack.drain()
    result = poll()
    # Then the lead is the manager's and is not put back on the escalation list
    lead = stack.lead(f"{ANNA}@c.us")["lead"]
    assert lead["status"] == "in_progress"
    assert "awaiting_pk" not in lead and lead.get("auto_reply_at")
    assert result["escalated"] == 0
    assert_load_matches(stack)


# -- capacity ------------------------------------------------------------------------------


def test_load_equals_waiting_leads_when_leads_return_are_answered_and_handed_over(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short session gap, so a client can come back with a new request
    monkeypatch.setenv("SESSION_GAP_SECONDS", "300")
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    monkeypatch.setenv("REASSIGN_ON_ESCALATION", "true")
    add_managers({"id": "anna", "name": "Anna"}, {"id": "boris", "name": "Boris"})
    long_ago = int(time.time()) - 600
    # A first request for each of two clients: one per manager
    client_writes(stack, ANNA, at=long_ago)
    client_writes(stack, BORIS, at=long_ago)
    stack.drain()
    assert_load_matches(stack)
    # The first client is answered by a person, then comes back: kept by the same manager
    manager_types_in_app(stack, ANNA)
    assert_load_matches(stack)
    client_writes(stack, ANNA)
    stack.drain()
    assert stack.lead(f"{ANNA}@c.us")["lead"]["assignment"] == "kept"
    assert_load_matches(stack)
    # Nobody answers in time: both are escalated and handed over to the other manager
    assert poll()["reassigned"] == 2
    assert_load_matches(stack)
    # The other client comes back without ever being answered: kept by the new manager
    client_writes(stack, BORIS)
    stack.drain()
    assert_load_matches(stack)
    # People answer both
    manager_types_in_app(stack, ANNA)
    manager_types_in_app(stack, BORIS)
    assert_load_matches(stack)
    assert {m["id"]: m["load"] for m in store().list_managers()} == {"anna": 0, "boris": 0}


def test_load_goes_back_when_the_auto_reply_is_not_sent(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_managers({"id": "anna", "name": "Anna"})
    # Given a request whose window closes before its reply can go out (no template)
    client_writes(stack, ANNA, at=int(time.time()) - 86_400 + 60)
    # And a request a manager answered before the reply
    client_writes(stack, BORIS)
    manager_types_in_app(stack, BORIS)
    # And one that waits for Anna
    client_writes(stack, CAROL)
    # When the sender runs
    stack.drain()
    # Then only the waiting lead counts against Anna
    assert auto_out(stack, ANNA)["reason"] == "window_closed"
    assert auto_out(stack, BORIS)["reason"] == "human_answered"
    assert {m["id"]: m["load"] for m in store().list_managers()} == {"anna": 1}
    assert_load_matches(stack)


# -- a load changes only with the lead's slot ------------------------------------------------


class Killed(BaseException):
    """The sender's execution environment ends (timeout, OOM) at that point."""


def test_load_is_unchanged_when_the_sender_dies_after_choosing_the_manager_before_its_claim(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_managers({"id": "anna", "name": "Anna", "capacity": 1})
    client_writes(stack, ANNA)
    # Given the sender is killed once it has chosen Anna, before its claim is written
    original = Store.claim_send
    kills = iter([True])

    def claim_send(self: Store, *args: Any, **kwargs: Any) -> Any:
        if next(kills, False):
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "claim_send", claim_send)
    queued = stack.receive()
    with pytest.raises(Killed):
        stack.run_sender(queued)
    # Then Anna's load counts nobody
    assert {m["id"]: m["load"] for m in store().list_managers()} == {"anna": 0}
    # And when the record comes back (its visibility ends), the lead is hers, counted once
    stack.sqs.change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=queued[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    stack.drain()
    assert lead_manager(stack, ANNA) == "anna"
    assert {m["id"]: m["load"] for m in store().list_managers()} == {"anna": 1}
    assert_load_matches(stack)


def test_lead_goes_to_the_next_manager_when_the_first_filled_up_after_the_roster_was_read(
    stack: Stack,
) -> None:
    add_managers({"id": "anna", "name": "Anna", "capacity": 1}, {"id": "boris", "name": "Boris"})
    # Given the roster was read (and cached) while Anna had room
    client_writes(stack, CAROL)
    stack.drain()  # Anna (the team's first turn)
    assert lead_manager(stack, CAROL) == "anna"
    manager_types_in_app(stack, CAROL)  # she answered: her load is 0, as the cache says
    # And Anna's last slot is taken behind the cache's back
    stack.ddb.update_item(
        TableName=stack.aws.ctx.physical_name("StateTable"),
        Key={"PK": {"S": "MANAGERS"}, "SK": {"S": "MANAGER#anna"}},
        UpdateExpression="SET #l = :one",
        ExpressionAttributeNames={"#l": "load"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    # When two clients write and the sender answers them
    client_writes(stack, ANNA)
    client_writes(stack, BORIS)
    stack.drain()
    # Then both went to Boris (Anna's turn was refused by her capacity, nothing counted)
    assert (lead_manager(stack, ANNA), lead_manager(stack, BORIS)) == ("boris", "boris")
    loads = {m["id"]: m["load"] for m in store().list_managers()}
    assert loads == {"anna": 1, "boris": 2}


def lead_manager(stack: Stack, phone: str) -> str:
    return str(stack.lead(f"{phone}@c.us")["lead"].get("manager_id"))
