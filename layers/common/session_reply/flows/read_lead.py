"""A lead with a page of its messages, for the CRM and the managers' app (GET /leads/{chatId}).

Messages come in time order, `limit` at a time; `next_cursor` (null on the last page) asks
for the next page. A page is read from the chat's Timeline index (its keys) and then by key,
so a long chat costs what one page costs. A lead older than the index is read whole, as
before, and paged the same way.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from session_reply.domain.phone import chat_variants
from session_reply.domain.status import AUTHOR_AUTO, AUTHOR_MANAGER, AUTHOR_TEMPLATE
from session_reply.errors import NotFoundError, ValidationError
from session_reply.flows.context import Context
from session_reply.store import (
    TIMELINE_ATTR,
    Item,
    lead_pk,
    out_sk,
    timeline_complete,
    timeline_key,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# A cursor is a place in the timeline (`timeline_key`): <time>#MSG#... or <time>#OUT#...
_POSITION = re.compile(r"\d{10}\.\d{3}#(MSG|OUT)#.{1,600}", re.DOTALL)
# Internal bookkeeping that callers have no use for.
_HIDDEN = {
    "PK",
    "SK",
    "lease_until",
    "status_rank",
    "lead_pk",
    TIMELINE_ATTR,
    "timeline_from",
    "first_human_response_sk",
}


@dataclass(frozen=True, slots=True)
class Page:
    """Which messages to list: at most `limit`, after the position `after` (None: from the
    first)."""

    limit: int = DEFAULT_LIMIT
    after: str | None = None

    @classmethod
    def parse(cls, limit: str | None, cursor: str | None) -> Page:
        """The query string's `limit` and `cursor`; ValidationError (400) says what is
        wrong with them."""
        if limit is None or limit == "":
            size = DEFAULT_LIMIT
        elif not limit.isascii() or not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise ValidationError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        else:
            size = int(limit)
        if cursor is None or cursor == "":
            return cls(size)
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            after = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeError):
            after = ""
        if not _POSITION.fullmatch(after):
            raise ValidationError("cursor is not one this API gave: pass next_cursor as it came")
        return cls(size, after)


def cursor_for(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode("ascii").rstrip("=")


def _public(item: Item) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _HIDDEN}


def read_lead(chat_id: str, ctx: Context | None = None, page: Page | None = None) -> dict[str, Any]:
    ctx = ctx or Context.default()
    page = page or Page()
    lead = ctx.store.get_lead(chat_id)
    if lead is None and (other := other_form(ctx, chat_id)):
        chat_id, lead = other, ctx.store.get_lead(other)
    if lead is None:
        raise NotFoundError(f"no lead for chat {chat_id}")
    if timeline_complete(lead):
        messages, more, request = _indexed_page(ctx, chat_id, lead, page)
    else:
        messages, more, request = _whole_page(ctx, chat_id, page)
    last = messages[-1] if messages and more else None
    return {
        "lead": {**_public(lead), **delivery_times(lead, request)},
        "messages": [_public(m) for m in messages],
        "next_cursor": cursor_for(_position(last)) if last else None,
    }


def _position(item: Item) -> str:
    return str(item.get(TIMELINE_ATTR) or timeline_key(float(item.get("time") or 0), item["SK"]))


def _indexed_page(
    ctx: Context, chat_id: str, lead: Item, page: Page
) -> tuple[list[Item], bool, list[Item]]:
    """The page from the Timeline index, and the current request's replies (the auto-reply,
    the first human response) in the same read, for their delivery times."""
    keys, more = ctx.store.timeline_keys(chat_id, page.after, page.limit)
    replies = [
        {"PK": lead_pk(chat_id), "SK": sk}
        for sk in (
            out_sk(f"auto:{lead['session_id']}") if lead.get("session_id") else None,
            lead.get("first_human_response_sk"),
        )
        if sk
    ]
    found = ctx.store.get_items(keys + replies)
    messages = [found[k] for k in ((str(k["PK"]), str(k["SK"])) for k in keys) if k in found]
    request = [found[k] for k in ((str(r["PK"]), str(r["SK"])) for r in replies) if k in found]
    return messages, more, request


def _whole_page(ctx: Context, chat_id: str, page: Page) -> tuple[list[Item], bool, list[Item]]:
    """A lead older than the Timeline index: all its messages, paged here."""
    _, messages = ctx.store.lead_with_messages(chat_id)
    ordered = sorted(messages, key=_position)
    after = [m for m in ordered if page.after is None or _position(m) > page.after]
    return after[: page.limit], len(after) > page.limit, messages


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
