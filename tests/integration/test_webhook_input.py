"""What the webhook does with every kind of body 1MSG (or anyone else) can POST."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Stack, hook_event, load_event, reset_caches, with_body


def kept_hooks(stack: Stack) -> list[dict[str, Any]]:
    items = stack.ddb.scan(TableName=stack.aws.ctx.physical_name("StateTable"))["Items"]
    return [i for i in items if i["PK"]["S"].startswith("HOOK#")]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("webhook/not_json.json", "body is not JSON"),
        ("webhook/calls.json", "no messages, ack or hooks"),
        ("webhook/wrong_instance.json", "instanceId is not this channel"),
    ],
)
def test_unusable_body_is_kept_and_answered_200_when_it_cannot_be_processed(
    stack: Stack, event: str, reason: str
) -> None:
    response = stack.post_hook(load_event(event))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["kept"] == reason
    kept = kept_hooks(stack)
    assert len(kept) == 1
    assert kept[0]["reason"]["S"] == reason
    assert int(kept[0]["expires_at"]["N"]) > 0
    assert stack.receive() == []


def test_body_without_instance_id_is_kept_not_processed_when_it_names_no_channel(
    stack: Stack,
) -> None:
    # Given a client message whose body does not say which channel it is for
    event = hook_event("webhook/inbound.json")
    body = json.loads(event["body"])
    del body["instanceId"]
    # When it is posted
    response = stack.post_hook(with_body(event, body))
    # Then it is kept for inspection, answered 200, and nothing is queued or recorded
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["kept"] == "no instanceId"
    assert [k["reason"]["S"] for k in kept_hooks(stack)] == ["no instanceId"]
    assert stack.receive() == []


def test_empty_body_is_kept_when_1msg_posts_nothing(stack: Stack) -> None:
    response = stack.post_hook(with_body(load_event("webhook/inbound.json"), ""))
    assert (response["statusCode"], json.loads(response["body"])["kept"]) == (200, "empty body")


def test_oversized_body_is_kept_not_processed_when_above_the_limit(stack: Stack) -> None:
    body = json.dumps({"instanceId": "100001", "messages": [], "pad": "x" * 300_000})
    response = stack.post_hook(with_body(load_event("webhook/inbound.json"), body))
    assert json.loads(response["body"])["kept"] == "body too large"


def test_webhook_fails_closed_when_no_secret_is_configured(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET_PARAM", "/session-reply/not-there")
    reset_caches()
    response = stack.post_hook(hook_event("webhook/inbound.json"))
    assert response["statusCode"] == 503
    assert stack.ddb.scan(TableName=stack.aws.ctx.physical_name("StateTable"))["Count"] == 0


def test_burst_gets_one_reply_and_all_messages_recorded_when_a_client_writes_three_times(
    stack: Stack,
) -> None:
    stack.post_hook(hook_event("webhook/inbound_burst.json"))
    stack.drain()
    lead = stack.lead()
    assert len(stack.sends()) == 1
    assert len([m for m in lead["messages"] if m["author"] == "client"]) == 3
    assert lead["lead"]["inbound_count"] == 3


def test_media_message_uses_its_caption_when_the_body_is_a_url(stack: Stack) -> None:
    stack.post_hook(hook_event("webhook/inbound_media.json"))
    stack.drain()
    lead = stack.lead()
    client = next(m for m in lead["messages"] if m["author"] == "client")
    assert client["body"] == "Is this sofa in stock?"
    assert client["media_url"].startswith("https://")
    assert lead["lead"]["topic"] == "sofa in stock"
    assert lead["lead"]["category"] == "product availability"


def test_string_time_is_understood_when_1msg_sends_time_as_text(stack: Stack) -> None:
    event = hook_event("webhook/inbound_string_time.json")
    body = json.loads(event["body"])
    body["messages"][0]["time"] = str(body["messages"][0]["time"])
    stack.post_hook(with_body(event, body))
    stack.drain()
    lead = stack.lead()["lead"]
    assert lead["category"] == "order status"
    assert lead["window_expires_at"] == int(body["messages"][0]["time"]) + 86_400
    assert len(stack.sends()) == 1


def test_follow_up_is_recorded_not_answered_when_the_request_is_open(stack: Stack) -> None:
    stack.post_hook(hook_event("webhook/inbound.json"))
    response = stack.post_hook(hook_event("webhook/inbound_followup.json"))
    stack.drain()
    assert json.loads(response["body"])["outcomes"] == {"follow_up": 1}
    assert len(stack.sends()) == 1


def test_older_follow_up_does_not_move_the_window_back_when_it_arrives_late(stack: Stack) -> None:
    stack.post_hook(hook_event("webhook/inbound.json"))
    expires = stack.lead()["lead"]["window_expires_at"]
    late = hook_event("webhook/inbound_followup.json")
    body = json.loads(late["body"])
    body["messages"][0]["time"] -= 600
    stack.post_hook(with_body(late, body))
    lead = stack.lead()
    assert lead["lead"]["window_expires_at"] == expires
    assert len([m for m in lead["messages"] if m["author"] == "client"]) == 2


def test_partly_broken_items_are_kept_and_the_rest_processed_when_one_item_has_no_id(
    stack: Stack,
) -> None:
    event = hook_event("webhook/inbound.json")
    body = json.loads(event["body"])
    body["messages"].append({"body": "no id here", "chatId": "77011234567@c.us"})
    response = stack.post_hook(with_body(event, body))
    assert json.loads(response["body"])["outcomes"] == {"opened": 1}
    assert [h["reason"]["S"] for h in kept_hooks(stack)] == ["some items not understood"]


def test_webhook_answers_500_and_stores_nothing_half_done_when_dynamodb_fails(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_reply.errors import StoreUnavailableError
    from session_reply.store import Store

    def broken(self: Store, *items: Any) -> None:
        raise StoreUnavailableError("DynamoDB transact_write_items failed: InternalServerError")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "transact", broken)
        response = stack.post_hook(hook_event("webhook/inbound.json"))
    assert response["statusCode"] == 500
    # 1MSG retries, and the retry is processed as new
    retry = stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    assert json.loads(retry["body"])["outcomes"] == {"opened": 1}
    assert len(stack.sends()) == 1


def test_group_message_is_recorded_not_answered_when_it_comes_from_a_group(stack: Stack) -> None:
    response = stack.post_hook(hook_event("webhook/inbound.json", chatId="120363000000000000@g.us"))
    stack.drain()
    assert json.loads(response["body"])["outcomes"] == {"group_message": 1}
    assert stack.sends() == []


def test_failed_ack_without_error_text_is_still_applied_when_1msg_gives_no_reason(
    stack: Stack,
) -> None:
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    event = load_event("webhook/ack_failed.json")
    body = json.loads(event["body"])
    del body["ack"][0]["error"]
    response = stack.post_hook(with_body(event, body))
    out = next(m for m in stack.lead()["messages"] if m["author"] == "auto")
    assert response["statusCode"] == 200
    assert (out["status"], out["reason"]) == ("failed", "provider_rejected")


@pytest.mark.parametrize(
    "event",
    [
        "webhook/reaction.json",
        "webhook/request_welcome.json",
        "webhook/call_permission_reply.json",
        "webhook/broadcast.json",
    ],
)
def test_client_event_is_recorded_and_shown_but_never_answered_when_it_is_not_a_request(
    stack: Stack, event: str
) -> None:
    # Given a new chat whose first event is not a request (a 👍, opening the chat, …)
    response = stack.post_hook(load_event(event))
    stack.drain()
    # Then it is stored and told to the CRM, and nothing is sent
    assert json.loads(response["body"])["outcomes"] == {"not_a_request": 1}
    assert stack.sends() == []
    events = stack.crm_events()
    received = [e for e in events if e["detail-type"] == "InboundMessageReceived"]
    assert len(received) == 1 and received[0]["detail"]["opened_request"] is False
    assert not [e for e in events if e["detail-type"] == "LeadStatusChanged"]


def test_reaction_on_the_reply_is_recorded_without_touching_the_request_when_it_comes(
    stack: Stack,
) -> None:
    # Given a request answered by the auto-reply
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    opened = stack.lead()["lead"]
    # When the client reacts 👍 to the reply
    response = stack.post_hook(hook_event("webhook/reaction.json"))
    stack.drain()
    # Then the reaction is recorded, nobody is answered again, the window is not moved
    assert json.loads(response["body"])["outcomes"] == {"not_a_request": 1}
    assert len(stack.sends()) == 1
    lead = stack.lead()
    assert [m["body"] for m in lead["messages"] if m.get("type") == "reaction"] == ["👍"]
    assert lead["lead"]["last_inbound_at"] == opened["last_inbound_at"]
    assert lead["lead"]["window_expires_at"] == opened["window_expires_at"]
