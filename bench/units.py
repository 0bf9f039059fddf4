"""The units of work of one conversation, driven through the real handlers.

A conversation: a client's first message (opens a request, queues the auto-reply), the
sender's runs for it (one that may only wait out the burst window, one that calls 1MSG
sendMessage), 1MSG's ``fromMe`` echo of our reply, and the three acks (sent, delivered,
read). A follow-up message is a client's second message inside the open request. Each unit
is one Lambda invocation.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness import CHANNEL, Harness, Invocation
from devstack import onemsg_payloads

FIRST = "first inbound"
FOLLOW_UP = "follow-up"
SEND = "send"
ECHO = "echo"
ACK = "ack"
ACKS = ("sent", "delivered", "read")
TEXTS = (
    "Hi! How much is delivery to Almaty?",
    "Hello, do you have this jacket in size M? What is the price?",
    "Добрый день! Сколько стоит доставка в Астану?",
    "Hola, cuánto cuesta el envío a Córdoba?",
)
_ALPHABET = string.ascii_uppercase + string.digits


def provider_id(rng: random.Random) -> str:
    return "wamid.HBg" + "".join(rng.choice(_ALPHABET) for _ in range(32))


def phone(n: int) -> str:
    return f"7701{n:07d}"


def inbound_body(
    chat_phone: str, message_id: str, text: str, at: int | None = None
) -> dict[str, Any]:
    message = onemsg_payloads.client_message(
        f"{chat_phone}@c.us", message_id, text, "Maria Client", at
    )
    return onemsg_payloads.hook(CHANNEL, message)


def echo_body(chat_phone: str, message_id: str, text: str) -> dict[str, Any]:
    body = inbound_body(chat_phone, message_id, text)
    body["messages"][0].update(
        {"fromMe": True, "self": 1, "senderName": "Business", "chatName": chat_phone}
    )
    return body


def ack_body(chat_phone: str, message_id: str, status: str) -> dict[str, Any]:
    return {
        "instanceId": CHANNEL,
        "ack": [
            {
                "id": message_id,
                "status": status,
                "chatId": f"{chat_phone}@c.us",
                "phone": chat_phone,
            }
        ],
    }


SENDER_IDLE = "sender run without a send"
Step = Callable[[], Invocation]
# A unit's name, or a function that names it once the step has run (a sender run is a
# send only if it reached 1MSG).
Unit = str | Callable[[], str]
Record = Callable[[Unit, Step], Invocation]


def unit_name(unit: Unit) -> str:
    return unit if isinstance(unit, str) else unit()


def plain_record(unit: Unit, step: Step) -> Invocation:
    """Run a step with nothing around it (a `Record` that records nothing)."""
    invocation = step()
    check_ok(unit_name(unit), invocation)
    return invocation


@dataclass
class Chat:
    n: int
    first_id: str = ""
    sent_id: str = ""
    reply_body: str = ""

    @property
    def phone(self) -> str:
        return phone(self.n)

    @property
    def chat_id(self) -> str:
        return f"{self.phone}@c.us"


class Batch:
    """Conversations driven phase by phase, as they overlap in production: every chat's
    first message, then the follow-ups, then the sender drains the queue (the auto-reply
    waits out the burst window, so the first sender run of a chat may only defer it), then
    1MSG's echoes and acks. ``record(unit, step)`` runs each invocation (and measures it)."""

    def __init__(self, h: Harness, numbers: list[int], rng: random.Random) -> None:
        self.h = h
        self.chats = [Chat(n) for n in numbers]
        self.rng = rng

    def firsts(self, record: Record) -> None:
        for chat in self.chats:
            chat.first_id = provider_id(self.rng)
            text = TEXTS[chat.n % len(TEXTS)]
            body = inbound_body(chat.phone, chat.first_id, text)
            record(FIRST, lambda b=body: self.h.invoke(self.h.webhook, self.h.hook_event(b)))  # type: ignore[misc]

    def follow_ups(self, record: Record) -> None:
        for chat in self.chats:
            body = inbound_body(chat.phone, provider_id(self.rng), "And can I pay by card?")
            record(FOLLOW_UP, lambda b=body: self.h.invoke(self.h.webhook, self.h.hook_event(b)))  # type: ignore[misc]

    def drain_sender(self, record: Record, timeout: float | None = None) -> None:
        """Run the sender on one record at a time (a quiet queue gives Lambda batches of
        one) until every chat's reply went to 1MSG. A run that sent nothing (the burst wait,
        a retry) is recorded as `SENDER_IDLE`. The time allowed grows with the chats (a
        loaded machine runs a send in a second or more)."""
        waiting = {c.chat_id: c for c in self.chats}
        timeout = max(60.0, 3.0 * len(self.chats)) if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(waiting)} replies were not sent within {timeout:.0f} s")
            records = self.h.receive_send_records(1, wait_seconds=1)
            if not records:
                continue
            before = len(self.h.sent())

            def unit(before: int = before) -> str:
                return SEND if len(self.h.sent()) > before else SENDER_IDLE

            invocation = record(
                unit,
                lambda r=records: self.h.invoke(self.h.sender, {"Records": r}),  # type: ignore[misc]
            )
            self.h.delete_records(records, invocation.result)
            for sent in self.h.sent()[before:]:
                chat = waiting.pop(str(sent.get("chatId")), None)
                if chat is not None:
                    chat.sent_id = str(sent["id"])
                    chat.reply_body = str(sent.get("body") or sent.get("template") or "")

    def echoes(self, record: Record) -> None:
        for chat in self.chats:
            body = echo_body(chat.phone, chat.sent_id, chat.reply_body)
            record(ECHO, lambda b=body: self.h.invoke(self.h.webhook, self.h.hook_event(b)))  # type: ignore[misc]

    def acks(self, record: Record, statuses: tuple[str, ...] = ACKS) -> None:
        for status in statuses:
            for chat in self.chats:
                body = ack_body(chat.phone, chat.sent_id, status)
                record(
                    f"{ACK}:{status}",
                    lambda b=body: self.h.invoke(self.h.webhook, self.h.hook_event(b)),  # type: ignore[misc]
                )

    def run_all(self, record: Record) -> None:
        self.firsts(record)
        self.follow_ups(record)
        self.drain_sender(record)
        self.echoes(record)
        self.acks(record)


def check_ok(unit: str, invocation: Invocation) -> None:
    """A webhook that did not answer 200 would measure an error path: stop the bench.
    (A sender run may fail its record on purpose: that is how it waits out a burst.)"""
    result = invocation.result
    if isinstance(result, dict) and "statusCode" in result and int(result["statusCode"]) != 200:
        raise RuntimeError(f"{unit}: the webhook answered {result['statusCode']}: {result}")
