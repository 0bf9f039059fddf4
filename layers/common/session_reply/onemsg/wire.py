"""Parsing of 1MSG webhook bodies into clean, typed items.

A body has no type field: the arrays present say what it holds. One POST can carry
`messages[]`, `ack[]` and (as 1MSG's use-case page names it) `hooks[]` at once.
Items that cannot be understood are returned as `rejected` so the caller keeps them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

# Legacy and alternative names 1MSG uses for the same delivery states.
_STATUS_ALIASES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "viewed": "read",
    "failed": "failed",
    "undelivered": "failed",
}
_TRUE_STRINGS = {"1", "true", "yes"}
MEDIA_TYPES = {"image", "document", "audio", "voice", "video", "ptt", "sticker", "location"}
# Client events that are not a request: a reaction (👍 on any message), the client opening
# the chat (`request_welcome`), the answer to a call permission request. Recorded, never
# answered as a request.
REQUEST_WELCOME = "request_welcome"
NOT_A_REQUEST_TYPES = frozenset({"reaction", REQUEST_WELCOME, "call_permission_reply"})
# How far ahead of our clock a provider `time` may be: a phone's or 1MSG's clock may run a
# little fast, but a time further ahead would freeze the lead's window and session open.
MAX_CLOCK_SKEW_SECONDS = 120


class MalformedHookError(ValueError):
    """The body is not a JSON object at all."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One item of `messages[]`."""

    id: str
    chat_id: str
    type: str
    body: str
    caption: str
    sender_name: str
    from_me: bool
    # `self` = 1: sent through the API; 0: typed by a person in an app; None: not given
    via_api: bool | None
    time: int
    quoted_id: str | None = None

    @property
    def phone(self) -> str:
        return self.chat_id.split("@", 1)[0]

    @property
    def is_private_chat(self) -> bool:
        """A chat with one person: by number (`@c.us`) or by WhatsApp's linked id (`@lid`),
        not a group (`@g.us`) or a broadcast."""
        return self.chat_id.endswith(("@c.us", "@lid"))

    @property
    def is_request(self) -> bool:
        """A client's message that may open a request (not a reaction, a `request_welcome`,
        a call permission answer, nor anything on a `@broadcast` id such as status posts)."""
        return self.type not in NOT_A_REQUEST_TYPES and not self.chat_id.endswith("@broadcast")

    @property
    def text(self) -> str:
        """What the person wrote: the caption for media (whose body is a download URL)."""
        if self.type in MEDIA_TYPES:
            return self.caption
        return self.body


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One delivery status, from `ack[]`, `hooks[]` or a `hookInfo` answer."""

    id: str
    status: str  # sent | delivered | read | failed
    chat_id: str | None = None
    error: str | None = None
    timestamp: int | None = None


@dataclass(slots=True)
class HookBody:
    instance_id: str | None
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusReport] = field(default_factory=list)
    rejected: list[tuple[str, Any]] = field(default_factory=list)  # (reason, raw item)

    @property
    def is_empty(self) -> bool:
        return not (self.messages or self.statuses)


def truthy(value: object) -> bool:
    """1MSG sends booleans as true/1/"1"/"true" depending on the path."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_STRINGS
    return False


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    return None


def _unix_seconds(value: object) -> int | None:
    """Unix seconds; a time given in milliseconds (13 digits) is brought back to seconds."""
    number = _as_int(value)
    if number is not None and number > 100_000_000_000:
        return number // 1000
    return number


def _as_str(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def normalise_chat_id(value: object) -> str:
    """`79001234567@c.us` stays; bare digits (or `+7 900…`) become `<digits>@c.us`."""
    text = _as_str(value).strip()
    if "@" in text:
        return text
    digits = "".join(ch for ch in text if ch.isdigit())
    return f"{digits}@c.us" if digits else ""


def normalise_status(value: object) -> str | None:
    return _STATUS_ALIASES.get(_as_str(value).strip().lower())


def _message_type(item: dict[str, Any]) -> str:
    """`type`, lower case (`chat` when absent). An `interactive` item names its own kind
    (`{"type": "interactive", "interactive": {"type": "call_permission_reply"}}`), and a
    Meta-style `reaction` object may come without a `type`."""
    kind = _as_str(item.get("type")).strip().lower()
    inner = item.get("interactive")
    if kind == "interactive" and isinstance(inner, dict):
        sub = _as_str(inner.get("type")).strip().lower()
        if sub in NOT_A_REQUEST_TYPES:
            return sub
    if not kind and isinstance(item.get("reaction"), dict):
        return "reaction"
    return kind or "chat"


def parse_message(item: Any, now: int, skew: int = MAX_CLOCK_SKEW_SECONDS) -> InboundMessage:
    if not isinstance(item, dict):
        raise ValueError("message item is not an object")
    message_id = _as_str(item.get("id")).strip()
    if not message_id:
        raise ValueError("message has no id")
    chat_id = normalise_chat_id(item.get("chatId") or item.get("author"))
    if not chat_id:
        raise ValueError("message has no chatId")
    sent_at = _unix_seconds(item.get("time"))
    if sent_at is not None:
        sent_at = min(sent_at, now + skew)
    return InboundMessage(
        id=message_id,
        chat_id=chat_id,
        type=_message_type(item),
        body=_as_str(item.get("body")),
        caption=_as_str(item.get("caption")),
        sender_name=_as_str(item.get("senderName") or item.get("chatName")).strip(),
        from_me=truthy(item.get("fromMe")),
        via_api=None if item.get("self") in (None, "") else truthy(item.get("self")),
        time=sent_at if sent_at and sent_at > 0 else now,
        quoted_id=_as_str(item.get("quotedMsgId")) or None,
    )


def _error_text(item: dict[str, Any]) -> str | None:
    error = item.get("error") or item.get("errors")
    if not error:
        return None
    if isinstance(error, list):
        error = error[0] if error else None
    if isinstance(error, dict):
        text = error.get("title") or error.get("message") or error.get("details")
        code = error.get("code")
        parts = [_as_str(part) for part in (code, text) if part not in (None, "")]
        return " ".join(parts) or json.dumps(error, ensure_ascii=False)[:500]
    return _as_str(error)[:500] or None


def parse_status(item: Any) -> StatusReport:
    if not isinstance(item, dict):
        raise ValueError("status item is not an object")
    message_id = _as_str(item.get("id")).strip()
    if not message_id:
        raise ValueError("status has no id")
    status = normalise_status(item.get("status"))
    if status is None:
        raise ValueError("unknown status value")
    chat = item.get("chatId") or item.get("recipient_id") or item.get("phone")
    return StatusReport(
        id=message_id,
        status=status,
        chat_id=normalise_chat_id(chat) or None,
        error=_error_text(item),
        timestamp=_unix_seconds(item.get("timestamp")),
    )


UTF8_BOM = "\ufeff"


def decode_body(raw: str | bytes | None) -> dict[str, Any]:
    """The body as a JSON object, or MalformedHookError with a reason fit for a metric."""
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        raise MalformedHookError("empty body")
    if isinstance(raw, str) and raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM) :]  # some senders start UTF-8 with a byte order mark
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedHookError("body is not JSON") from exc
    except RecursionError as exc:
        raise MalformedHookError("body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise MalformedHookError("body is not a JSON object")
    return data


def parse_hook(data: dict[str, Any], now: int, skew: int = MAX_CLOCK_SKEW_SECONDS) -> HookBody:
    instance = data.get("instanceId")
    hook = HookBody(instance_id=None if instance in (None, "") else _as_str(instance))
    for key, parse in (("ack", parse_status), ("hooks", parse_status)):
        items = data.get(key)
        if isinstance(items, list):
            for item in items:
                try:
                    hook.statuses.append(parse(item))
                except ValueError as exc:
                    hook.rejected.append((str(exc), item))
    messages = data.get("messages")
    if isinstance(messages, list):
        for item in messages:
            try:
                hook.messages.append(parse_message(item, now, skew))
            except ValueError as exc:
                hook.rejected.append((str(exc), item))
    return hook


def parse_hook_info(data: Any) -> list[StatusReport]:
    """A `hookInfo` answer: several entries per message, each a status it reached."""
    items = data.get("hooks") if isinstance(data, dict) else None
    reports: list[StatusReport] = []
    for item in items if isinstance(items, list) else []:
        try:
            reports.append(parse_status(item))
        except ValueError:
            continue
    return reports


def parse_history(data: Any, now: int) -> list[InboundMessage] | None:
    """A `GET messages` answer (`{"messages": [...]}`, or the bare list): the chat's
    messages in the webhook's item shape. None when the answer is not a history at all."""
    items = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return None
    messages = []
    for item in items:
        try:
            messages.append(parse_message(item, now))
        except ValueError:
            continue
    return messages
