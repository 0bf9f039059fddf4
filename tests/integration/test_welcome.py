"""A client opening the chat (`request_welcome`) through the real handlers: the business's own
welcome text when one is configured (`make replies`), once per event, through the same send
ledger as every send; never the request's auto-reply, and nothing a request would move."""

from __future__ import annotations

import json
import time
from typing import Any

from session_reply.flows.business import REPLIES_KEY
from session_reply.settings import get_settings
from session_reply.store import Store, Update

from tests.conftest import Stack, hook_event, load_event, reset_caches

WELCOME_CHAT = "77017654321@c.us"  # the chat of events/webhook/request_welcome.json
WELCOME_EN = "Welcome to Divan.kz, {{1}}! Ask us about any sofa."
WELCOME_RU = "Добро пожаловать в Divan.kz, {{1}}! Спросите нас о любом диване."


def set_texts(texts: dict[str, Any]) -> None:
    store = Store(get_settings().table_name)
    store.update(Update(key=REPLIES_KEY, sets={"texts": json.dumps(texts, ensure_ascii=False)}))
    reset_caches()


def opened_chat(**overrides: Any) -> dict[str, Any]:
    return hook_event("webhook/request_welcome.json", **overrides)


def outs(stack: Stack, chat_id: str = WELCOME_CHAT) -> list[dict[str, Any]]:
    items = stack.ddb.query(
        TableName=get_settings().table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :out)",
        ExpressionAttributeValues={":pk": {"S": f"LEAD#{chat_id}"}, ":out": {"S": "OUT#"}},
    )["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def test_client_opening_the_chat_gets_the_welcome_when_the_business_has_one(
    stack: Stack,
) -> None:
    # Given the business's welcome text
    set_texts({"en": {"welcome": WELCOME_EN}})
    # When a client opens the chat
    response = stack.post_hook(opened_chat())
    stack.drain()
    # Then the welcome goes out once, not "We received your request", and it is recorded
    assert json.loads(response["body"])["outcomes"] == {"not_a_request": 1}
    assert [s["body"] for s in stack.sends()] == [
        "Welcome to Divan.kz, there! Ask us about any sofa."
    ]
    (out,) = outs(stack)
    assert (out["author"], out["state"], out["id"]) == (
        "welcome",
        "ACCEPTED",
        f"welcome:{json.loads(opened_chat()['body'])['messages'][0]['id']}",
    )
    events = stack.crm_events()
    sent = [e["detail"] for e in events if e["detail-type"] == "MessageSent"]
    assert [(d["author"], d["language"]) for d in sent] == [("welcome", "en")]
    assert not [e for e in events if e["detail-type"] in ("LeadStatusChanged", "LeadAssigned")]


def test_welcome_is_sent_once_when_1msg_delivers_the_chat_opening_twice(stack: Stack) -> None:
    # Given a welcome, and a chat opening that 1MSG posts again (a retry)
    set_texts({"en": {"welcome": WELCOME_EN}})
    event = opened_chat()
    stack.post_hook(event)
    stack.drain()
    second = stack.post_hook(event)
    stack.drain()
    # Then the retry is a duplicate and the client got one welcome
    assert json.loads(second["body"])["outcomes"] == {"duplicate": 1}
    assert len(stack.sends()) == 1
    assert len(outs(stack)) == 1


def test_chat_opening_is_only_recorded_when_no_welcome_is_configured(stack: Stack) -> None:
    # Given the shipped texts, which have no welcome
    stack.post_hook(opened_chat())
    stack.drain()
    # Then nothing is queued or sent, and no send is recorded
    assert stack.sends() == []
    assert outs(stack) == []


def test_welcome_is_in_the_chats_language_when_the_client_wrote_before(stack: Stack) -> None:
    # Given a client who wrote in Russian (answered), and welcomes in English and Russian
    stack.post_hook(
        hook_event("webhook/inbound.json", chatId=WELCOME_CHAT, body="Сколько стоит доставка?")
    )
    stack.drain()
    set_texts({"en": {"welcome": WELCOME_EN}, "ru": {"welcome": WELCOME_RU}})
    # When the client opens the chat again
    stack.post_hook(opened_chat())
    stack.drain()
    # Then the welcome is the Russian one, with the client's name
    assert stack.sends()[-1]["body"] == (
        "Добро пожаловать в Divan.kz, Maria! Спросите нас о любом диване."
    )


def test_welcome_leaves_the_open_request_as_it_was_when_it_is_sent(stack: Stack) -> None:
    # Given a request answered by the auto-reply, and a welcome
    stack.post_hook(hook_event("webhook/inbound.json", chatId=WELCOME_CHAT))
    stack.drain()
    before = stack.lead(WELCOME_CHAT)["lead"]
    set_texts({"en": {"welcome": WELCOME_EN}})
    # When the client opens the chat
    stack.post_hook(opened_chat())
    stack.drain()
    # Then the welcome went out, but it is no human response and the request did not move
    assert len(stack.sends()) == 2
    lead = stack.lead(WELCOME_CHAT)["lead"]
    assert lead["status"] == before["status"] == "auto_replied"
    assert "first_human_response_at" not in lead
    assert lead["window_expires_at"] == before["window_expires_at"]


def test_welcome_is_skipped_as_stale_when_1msg_delivers_the_chat_opening_hours_late(
    stack: Stack,
) -> None:
    # Given a welcome, and a chat opening that 1MSG delivers three hours after it happened
    set_texts({"en": {"welcome": WELCOME_EN}})
    event = load_event("webhook/request_welcome.json")
    body = json.loads(event["body"])
    body["messages"][0]["time"] = int(time.time()) - 3 * 3600
    event["body"] = json.dumps(body)
    stack.post_hook(event)
    stack.drain()
    # Then no late welcome is sent; the skip is recorded with its reason
    assert stack.sends() == []
    (out,) = outs(stack)
    assert (out["state"], out["reason"]) == ("SKIPPED", "stale")
