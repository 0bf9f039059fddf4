"""Lead lifecycle moves shared by the flows: new -> auto_replied -> in_progress,
plus window_closed and unreachable. Forward-only within a request, enforced by the store."""

from __future__ import annotations

from typing import Any

from session_reply.bus import Event
from session_reply.domain.status import LEAD_AUTO_REPLIED, LEAD_IN_PROGRESS
from session_reply.errors import RetryableError
from session_reply.flows.context import Context
from session_reply.store import SLOT_ATTRS, Item, Update, lead_status_update

HUMAN_RESPONSE_TRIES = 5  # reads of the lead when a claim or a hand-over moved its slot between


def lead_status_event(
    chat_id: str, session_id: str, status: str, at: float, language: Any = None
) -> Event:
    """`language` is the request's (None while the burst is still coming: `new`)."""
    return Event(
        "LeadStatusChanged",
        {
            "chat_id": chat_id,
            "session_id": session_id,
            "status": status,
            "language": language,
            "at": at,
        },
    )


def message_status_event(
    message: Item, provider_id: str, status: str, at: float, reason: str | None = None
) -> Event:
    """A message of ours moved to `status` (a delivery status, or `unknown` by the poller)."""
    return Event(
        "MessageStatusChanged",
        {
            "chat_id": message.get("chat_id"),
            "message_id": message.get("id"),
            "provider_id": provider_id,
            "author": message.get("author"),
            "language": message.get("language"),
            "status": status,
            "reason": reason,
            "at": at,
        },
    )


def auto_replied_update(chat_id: str, session_id: str, replied: dict[str, Any]) -> Update:
    """The lead's move to auto_replied, with its first-reply fields, for the transaction
    that records the auto-reply; fails (and is left out) once the lead is further on, or
    once a person has answered (who then must not be escalated)."""
    update = lead_status_update(chat_id, session_id, LEAD_AUTO_REPLIED, replied)
    update.condition = f"{update.condition} AND attribute_not_exists(#first_human_response_at)"
    return update


def advance_lead(
    ctx: Context, chat_id: str, session_id: str, status: str, at: float
) -> list[Event]:
    """Move the lead forward; an event only when it really moved."""
    moved = ctx.store.advance_lead_status(chat_id, session_id, status) if session_id else None
    if moved is None:
        return []
    return [lead_status_event(chat_id, session_id, status, at, moved.get("language"))]


def mark_human_response(ctx: Context, chat_id: str, at: float, sk: str) -> list[Event]:
    """The first human response of the current request (the message at `sk`, kept for the
    lead API's delivery time) moves the lead to in_progress; the lead stops counting against
    its manager's capacity in the same write."""
    for _ in range(HUMAN_RESPONSE_TRIES):
        lead = ctx.store.get_lead(chat_id)
        if not lead or not lead.get("session_id"):
            return []
        session_id = str(lead["session_id"])
        held = str(lead[SLOT_ATTRS[0]]) if lead.get(SLOT_ATTRS[0]) else None
        fields = {"first_human_response_at": at, "first_human_response_sk": sk}
        if ctx.store.mark_answered(chat_id, session_id, fields, held):
            return advance_lead(ctx, chat_id, session_id, LEAD_IN_PROGRESS, at)
    raise RetryableError("the lead kept changing while its first human response was stored")
