"""What the sender does with a queue record whose body is not a SendCommand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from session_reply.queue import MalformedCommandError, SendCommand

from tests.conftest import CHAT, LambdaContext, Stack, load_event
from tests.integration.test_webhook_input import kept_hooks

GOOD = json.loads(
    json.loads(json.dumps(load_event("sender/manager_message.json")))["Records"][0]["body"]
)


def _with(**changes: Any) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Maria, delivery is 2500 KZT", "body is not JSON"),
        ("[1, 2]", "body is not a JSON object"),
        (_with(kind="newsletter"), "kind is not one of auto_reply, manager_message, welcome"),
        (_with(key=""), "key is not a non-empty string"),
        (_with(chat_id=None), "chat_id is not a non-empty string"),
        (_with(requested_at="yesterday"), "requested_at is not a number"),
        (_with(requested_at=True), "requested_at is not a number"),
        (_with(body="   "), "a manager_message has no body"),
        (_with(kind="auto_reply", body=42), "body is not a string"),
    ],
)
def test_command_names_the_field_at_fault_when_a_body_is_not_a_send_command(
    body: str, reason: str
) -> None:
    with pytest.raises(MalformedCommandError) as raised:
        SendCommand.from_json(body)
    assert str(raised.value) == reason


def test_unreadable_record_is_kept_logged_without_text_and_dropped_when_the_sender_gets_it(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a record in the send queue's shape whose body is a manager's text, not a command
    event = load_event("sender/manager_message.json")
    text = "Maria, delivery to Almaty is 2500 KZT"
    event["Records"][0]["body"] = text

    # When the sender gets it
    result = stack.sender.lambda_handler(event, LambdaContext())

    # Then it is not retried (no retry mends it), nothing is sent, the body is kept with why
    assert result == {"batchItemFailures": []}
    assert stack.sends() == []
    kept = kept_hooks(stack)
    assert [k["reason"]["S"] for k in kept] == ["send command: body is not JSON"]
    assert kept[0]["body"]["S"] == text
    # and the log says why, with neither the text nor the chat in it
    unreadable = [r for r in caplog.records if r.getMessage().startswith("send command")]
    assert [getattr(r, "reason", None) for r in unreadable] == ["body is not JSON"]
    logged = json.dumps([vars(r) for r in caplog.records], default=str)
    assert text not in logged and CHAT.split("@")[0] not in logged
