"""Give a request its manager: sticky for a returning lead, else round robin within the
topic's team among managers under their capacity, else `unassigned` (the poller hands the
lead over as soon as a manager is available)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from session_reply.bus import Event
from session_reply.domain.assignment import (
    ASSIGNED,
    KEPT,
    UNASSIGNED,
    Manager,
    candidates,
    from_names,
    sticky,
    team_for,
)
from session_reply.flows.context import Context
from session_reply.observability import count
from session_reply.store import AWAITING_ATTRS, AWAITING_MANAGER, Item, now

_roster_cache: dict[str, tuple[float, list[Manager]]] = {}


@dataclass(frozen=True, slots=True)
class Assignment:
    state: str  # assigned | kept | unassigned
    name: str
    manager: Manager | None = None


def roster(ctx: Context) -> list[Manager]:
    """The table's managers (cached briefly per container), or the Managers parameter."""
    cached = _roster_cache.get(ctx.store.table)
    if cached and time.monotonic() - cached[0] < ctx.settings.managers_cache_seconds:
        return cached[1]
    items = ctx.store.list_managers()
    managers = [Manager.from_item(i) for i in items] if items else from_names(ctx.settings.managers)
    _roster_cache[ctx.store.table] = (time.monotonic(), managers)
    return managers


def forget_roster() -> None:
    _roster_cache.clear()


def choose_manager(
    ctx: Context,
    topic: str,
    current_id: str | None = None,
    exclude: str | None = None,
    language: str | None = None,
    team_ids: Sequence[str] = (),
) -> Assignment:
    managers = [m for m in roster(ctx) if m.id != exclude]
    kept = sticky(current_id, managers)
    if kept is not None:
        return Assignment(KEPT, kept.name, kept)
    team_key, team = team_for(topic, managers, language, team_ids)
    turn = ctx.store.next_turn(team_key) if len(team) > 1 else 0
    for manager in candidates(team, turn):
        # The roster may be a few seconds old: the slot itself is taken atomically.
        if not manager.in_table or ctx.store.take_slot(manager.id):
            count("LeadAssigned")
            return Assignment(ASSIGNED, manager.name, manager)
    count("LeadUnassigned")
    return Assignment(UNASSIGNED, ctx.settings.fallback_manager_name)


def request_fields(ctx: Context, lead: Item, session_id: str, topic_fields: Item) -> Item:
    """Topic and manager of the lead's current request, to be stored with the send's
    claim (`assigned_session` makes it once per request). A capacity slot may have been
    taken: `give_back` it if the fields are not stored."""
    category = str(topic_fields.get("category") or topic_fields["topic"])
    assignment = choose_manager(
        ctx,
        category,
        lead.get("manager_id"),
        language=str(topic_fields.get("language") or "") or None,
        team_ids=[str(t) for t in topic_fields.get("catalogue_team") or []],
    )
    fields: Item = {
        **topic_fields,
        "manager": assignment.name,
        "manager_id": assignment.manager.id if assignment.manager else None,
        "assignment": assignment.state,
        "assigned_session": session_id,
    }
    if assignment.state == UNASSIGNED:
        fields.update({AWAITING_ATTRS[0]: AWAITING_MANAGER, AWAITING_ATTRS[1]: now()})
    return fields


def give_back(ctx: Context, fields: Item) -> None:
    if fields.get("assignment") == ASSIGNED and fields.get("manager_id"):
        ctx.store.release_slot(str(fields["manager_id"]))  # no-op outside the table


def assignment_event(lead: Item, at: float) -> Event:
    return Event(
        "LeadAssigned",
        {
            "chat_id": lead.get("chat_id"),
            "session_id": lead.get("session_id"),
            "manager_id": lead.get("manager_id"),
            "assignment": lead.get("assignment"),
            # The category, never the subject: that is the client's own words.
            "topic": lead.get("category"),
            "category": lead.get("category"),
            "language": lead.get("language"),
            "at": at,
        },
    )
