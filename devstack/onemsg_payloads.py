"""A client's message as 1MSG posts it to the webhook: one builder for the local stack's
demo, fault scenarios, bench and tests (the bank of real samples is `events/`)."""

from __future__ import annotations

import time
from typing import Any


def client_message(
    chat_id: str, message_id: str, text: str, name: str, at: int | None = None
) -> dict[str, Any]:
    """One item of a webhook's ``messages``: a client's text, sent at ``at`` (now if None)."""
    return {
        "id": message_id,
        "body": text,
        "type": "chat",
        "senderName": name,
        "chatName": name,
        "chatId": chat_id,
        "author": chat_id,
        "fromMe": False,
        "self": 0,
        "time": int(time.time()) if at is None else at,
        "quotedMsgId": None,
        "isForwarded": 0,
    }


def hook(channel: str, *messages: dict[str, Any]) -> dict[str, Any]:
    """The webhook body 1MSG posts for channel ``channel``."""
    return {"instanceId": channel, "messages": list(messages)}
