"""The business's own data, read from the state table like the managers: its catalogue and
its hours (cached per container for `managers_cache_seconds`, 30 s by default, so a change
made with `make catalogue` reaches the functions within that)."""

from __future__ import annotations

import json
import time
from typing import Any

from session_reply.domain.catalogue import CatalogueError, Entry, parse_entry
from session_reply.domain.hours import (
    Schedule,
    ScheduleError,
    is_open,
    next_opening,
    parse_schedule,
)
from session_reply.domain.replies import SHIPPED, ReplyTexts, with_overrides
from session_reply.flows.context import Context
from session_reply.observability import count, logger
from session_reply.store import Item

CATALOGUE_PK = "CATALOGUE"
HOURS_KEY = {"PK": "CONFIG", "SK": "HOURS"}
REPLIES_KEY = {"PK": "CONFIG", "SK": "REPLIES"}
_cache: dict[tuple[str, str], tuple[float, Any]] = {}


def entry_key(ident: str) -> Item:
    return {"PK": CATALOGUE_PK, "SK": f"ENTRY#{ident}"}


def entry_record(raw: Item) -> Item:
    """The stored fields of a valid entry (see `domain.catalogue`)."""
    return {
        "id": str(raw["id"]),
        "names": {str(k): " ".join(str(v).split()) for k, v in dict(raw["names"]).items()},
        "match": [str(m) for m in raw["match"]],
        "team": [str(t) for t in raw.get("team") or []],
    }


def _cached(ctx: Context, what: str, load: Any) -> Any:
    key = (ctx.store.table, what)
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < ctx.settings.managers_cache_seconds:
        return hit[1]
    value = load()
    _cache[key] = (time.monotonic(), value)
    return value


def forget() -> None:
    _cache.clear()


def catalogue(ctx: Context) -> list[Entry]:
    def load() -> list[Entry]:
        entries = []
        for item in ctx.store.query_partition(CATALOGUE_PK, "ENTRY#"):
            if item.get("removed"):
                continue
            try:
                entries.append(parse_entry(item))
            except CatalogueError as exc:  # written by hand past the CLI: skipped, counted
                count("CatalogueEntryInvalid")
                logger.warning("catalogue entry skipped", extra={"reason": str(exc)})
        return sorted(entries, key=lambda e: e.id)

    result: list[Entry] = _cached(ctx, "catalogue", load)
    return result


def hours(ctx: Context) -> Schedule | None:
    def load() -> Schedule | None:
        item = ctx.store.get(HOURS_KEY) or {}
        text = str(item.get("schedule") or "")
        if not text:
            return None
        try:
            return parse_schedule(json.loads(text))
        except (ScheduleError, ValueError) as exc:
            count("BusinessHoursInvalid")
            logger.warning("business hours ignored", extra={"reason": str(exc)})
            return None

    result: Schedule | None = _cached(ctx, "hours", load)
    return result


def hours_fields(ctx: Context, at: float) -> Item:
    """The request's `out_of_hours` and, when closed, when the team is back (`team_back_at`,
    and `team_back_local` in the business's time zone, for the reply's {{4}})."""
    schedule = hours(ctx)
    if schedule is None or is_open(at, schedule):
        return {"out_of_hours": False}
    opens = next_opening(at, schedule)
    if opens is None:
        return {"out_of_hours": True}
    return {
        "out_of_hours": True,
        "team_back_at": int(opens.timestamp()),
        "team_back_local": opens.isoformat(),
    }


def reply_texts(ctx: Context) -> dict[str, ReplyTexts]:
    """The reply texts per language: shipped, with the operator's changes (`make replies`)."""

    def load() -> dict[str, ReplyTexts]:
        item = ctx.store.get(REPLIES_KEY) or {}
        text = str(item.get("texts") or "")
        if not text:
            return SHIPPED
        try:
            return with_overrides(json.loads(text))
        except ValueError as exc:
            count("ReplyTextsInvalid")
            logger.warning("reply texts ignored", extra={"reason": str(exc)})
            return SHIPPED

    result: dict[str, ReplyTexts] = _cached(ctx, "replies", load)
    return result
