"""Real WhatsApp ids are answered: national plans' "invalid" forms and linked ids."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Stack, hook_event, load_event


def client_from(stack: Stack, chat_id: str) -> None:
    stack.post_hook(hook_event("webhook/inbound.json", chatId=chat_id, author=chat_id))


@pytest.mark.parametrize(
    ("chat_id", "phone"),
    [
        ("551187654321@c.us", "5511987654321"),  # Brazil, no 9th digit
        ("5215512345678@c.us", "525512345678"),  # Mexico, 521
        ("5491123456789@c.us", "5491123456789"),  # Argentina, 549
    ],
)
def test_client_is_answered_at_whatsapps_id_when_the_national_plan_calls_it_invalid(
    stack: Stack, chat_id: str, phone: str
) -> None:
    # Given a client whose WhatsApp id is in an older national form
    client_from(stack, chat_id)
    # When the sender runs
    stack.drain()
    # Then the reply goes to the id 1MSG gave, and the lead shows today's number
    sends = stack.sends()
    assert [s["phone"] for s in sends] == [chat_id.split("@")[0]]
    view = stack.lead(chat_id)
    assert view["lead"]["status"] == "auto_replied"
    assert view["lead"]["phone"] == phone


def test_lead_api_finds_the_lead_when_asked_by_the_canonical_number(stack: Stack) -> None:
    client_from(stack, "551187654321@c.us")
    stack.drain()
    event = load_event("manager_api/get_lead.json")
    event["pathParameters"] = {"chatId": "5511987654321@c.us"}
    event["rawPath"] = "/leads/5511987654321@c.us"
    event["requestContext"]["http"]["path"] = event["rawPath"]
    status, body = stack.call_api(event)
    assert status == 200
    assert body["lead"]["chat_id"] == "551187654321@c.us"


def test_linked_id_client_is_answered_by_chat_id_when_whatsapp_hides_the_number(
    stack: Stack,
) -> None:
    # Given a client known only by WhatsApp's linked id
    response = stack.post_hook(
        hook_event(
            "webhook/inbound.json", chatId="123456789012345@lid", author="123456789012345@lid"
        )
    )
    assert json.loads(response["body"])["outcomes"] == {"opened": 1}
    # When the sender runs
    stack.drain()
    # Then the reply is addressed by chatId, and the lead has no made-up phone
    sends = stack.sends()
    assert len(sends) == 1
    assert sends[0]["chatId"] == "123456789012345@lid" and "phone" not in sends[0]
    assert "phone" not in stack.lead("123456789012345@lid")["lead"]
