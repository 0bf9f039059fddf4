"""A lead with its messages, for the CRM and the managers' app (GET /leads/{chatId})."""

from __future__ import annotations

from typing import Any

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
    if lead is None:
        raise NotFoundError(f"no lead for chat {chat_id}")
    messages.sort(key=lambda m: (float(m.get("time") or 0), str(m.get("SK"))))
    return {"lead": _public(lead), "messages": [_public(m) for m in messages]}
