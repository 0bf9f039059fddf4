"""A lead with its messages, for the CRM and the managers' app (GET /leads/{chatId})."""

from __future__ import annotations

from typing import Any

from session_reply.domain.phone import chat_variants
from session_reply.domain.status import AUTHOR_AUTO, AUTHOR_MANAGER, AUTHOR_TEMPLATE
from session_reply.errors import NotFoundError
from session_reply.flows.context import Context
from session_reply.store import Item

# Internal bookkeeping that callers have no use for.
_HIDDEN = {"PK", "SK", "lease_until", "status_rank", "lead_pk"}


def _public(item: Item) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _HIDDEN}


def read_lead(chat_id: str, ctx: Context | None = None) -> dict[str, Any]:
    ctx = ctx or Context.default()
    lead, messages = ctx.store.lead_with_messages(chat_id)
    if lead is None and (other := other_form(ctx, chat_id)):
        lead, messages = ctx.store.lead_with_messages(other)
    if lead is None:
        raise NotFoundError(f"no lead for chat {chat_id}")
    messages.sort(key=lambda m: (float(m.get("time") or 0), str(m.get("SK"))))
    return {
        "lead": {**_public(lead), **delivery_times(lead, messages)},
        "messages": [_public(m) for m in messages],
    }


def other_form(ctx: Context, chat_id: str) -> str | None:
    """The chat id under which the lead is kept when it is asked for by another form of the
    same number (Brazil's 9th digit, Mexico's `521`): the one WhatsApp uses."""
    for variant in chat_variants(chat_id)[1:]:
        if ctx.store.get_lead(variant) is not None:
            return variant
    return None


def delivery_times(lead: Item, messages: list[Item]) -> dict[str, float]:
    """When the current request's auto-reply and first human response reached the client
    (`read` counts: it implies delivery). Derived from the messages' own statuses, so an
    ack never has to write to the lead as well."""
    session_id = lead.get("session_id")
    opened = float(lead.get("session_opened_at") or 0)

    def reached(message: Item) -> float | None:
        times = [message.get("delivered_at"), message.get("read_at")]
        known = [float(t) for t in times if t is not None]
        return min(known) if known else None

    def first(authors: tuple[str, ...]) -> float | None:
        found = [
            at
            for m in messages
            if m.get("author") in authors
            and (m.get("session_id") == session_id or float(m.get("time") or 0) >= opened)
            and (at := reached(m)) is not None
        ]
        return min(found) if found else None

    derived = {
        "auto_reply_delivered_at": first((AUTHOR_AUTO, AUTHOR_TEMPLATE)),
        "first_human_response_delivered_at": first((AUTHOR_MANAGER,)),
    }
    return {name: at for name, at in derived.items() if at is not None}
