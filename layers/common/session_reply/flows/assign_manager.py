"""Give a request its manager: sticky for a returning lead, else round robin within the
topic's team among managers under their capacity, else `unassigned` (the poller hands the
lead over as soon as a manager is available).

The sender takes a team's turn in its claim transaction: it reads the counter with the roster
(one Query of the managers' partition, cached briefly), picks the next turn's manager, and the
claim moves the counter only if it still stands there (`store.turn_update`). When another
request took that turn first, the claim writes nothing and says where the counter is now: the
next turn is picked and claimed again. Every turn is used once, by a request that was stored.

A manager's `load` is the number of leads waiting for that manager's first answer: each
assignment to a manager in the table counts one (a kept lead too, whatever the capacity),
remembered on the lead as its slot (`SLOT_ATTRS`). The load changes only in the transaction
that changes the lead's slot (`store.SlotMove`): the claim that assigns the request, the
first human response, a hand-over, an auto-reply that is not sent. Nothing that stops
between two writes can leave a load counting a lead that does not count in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

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
from session_reply.store import (
    AWAITING_ATTRS,
    AWAITING_MANAGER,
    SLOT_ATTRS,
    Item,
    SlotMove,
    SlotRefused,
    TurnTaken,
    now,
)

_roster_cache: dict[str, tuple[float, list[Manager]]] = {}
_turns: dict[str, dict[str, int]] = {}  # table -> team -> its counter as last seen
TURN_TRIES = 5  # claims per send when other requests keep taking the team's turn
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Assignment:
    state: str  # assigned | kept | unassigned
    name: str
    manager: Manager | None = None
    turn: tuple[str, int] | None = None  # (team, counter as seen) for the claim to move
    slot: str | None = None  # the manager whose load counts this lead, once stored
    any_capacity: bool = False  # a returning lead's manager: counted whatever the capacity

    def slot_fields(self, session_id: str) -> Item:
        """The lead's slot attributes for this assignment (None = remove)."""
        if self.slot is None:
            return dict.fromkeys(SLOT_ATTRS)
        return {SLOT_ATTRS[0]: self.slot, SLOT_ATTRS[1]: session_id}

    def move(self, held: str | None) -> SlotMove:
        """The loads that change when the lead, holding `held`, takes this assignment."""
        if self.slot == held:
            return SlotMove()
        return SlotMove(self.slot, self.any_capacity, held)


def roster(ctx: Context) -> list[Manager]:
    """The table's managers (cached briefly per container), or the Managers parameter."""
    cached = _roster_cache.get(ctx.store.table)
    if cached and time.monotonic() - cached[0] < ctx.settings.managers_cache_seconds:
        return cached[1]
    partition = ctx.store.manager_partition()
    items = [i for i in partition if str(i.get("SK", "")).startswith("MANAGER#")]
    managers = [Manager.from_item(i) for i in items] if items else from_names(ctx.settings.managers)
    turns = _turns.setdefault(ctx.store.table, {})
    for item in partition:
        if str(item.get("SK", "")).startswith("TURN#"):
            team = str(item["SK"])[len("TURN#") :]
            turns[team] = max(turns.get(team, 0), int(item.get("turn") or 0))
    _roster_cache[ctx.store.table] = (time.monotonic(), managers)
    return managers


def forget_roster() -> None:
    _roster_cache.clear()
    _turns.clear()


def note_turn(ctx: Context, team: str, turn: int) -> None:
    """Where a team's counter stands, as a claim just learnt it."""
    _turns.setdefault(ctx.store.table, {})[team] = turn


def with_turn(ctx: Context, claim: Callable[[frozenset[str]], T]) -> T:
    """Run `claim` (which chooses with `claim_turn=True`, passing by the managers it is
    given, and claims with the chosen turn and slot) until no other request took the turn
    first (at most TURN_TRIES times) and the manager chosen still had room (each refusal
    adds that manager to those passed by)."""
    taken = 0
    full: frozenset[str] = frozenset()
    while True:
        try:
            return claim(full)
        except TurnTaken as turn:
            note_turn(ctx, turn.team, turn.turn)
            taken += 1
            if taken >= TURN_TRIES:
                raise
        except SlotRefused as refused:
            if refused.manager_id in full:
                raise
            full |= {refused.manager_id}


def choose_manager(
    ctx: Context,
    topic: str,
    current_id: str | None = None,
    exclude: str | None = None,
    language: str | None = None,
    team_ids: Sequence[str] = (),
    claim_turn: bool = False,
    full: Collection[str] = (),
) -> Assignment:
    """With `claim_turn`, the turn is the one after the counter as last seen, and the
    Assignment carries it for the caller's claim to move (see `with_turn`); otherwise the
    counter is moved here, atomically. Nothing is counted here: the caller writes the
    assignment with its `move` (SlotRefused when the manager has no room any more), and
    passes such managers as `full` when it chooses again."""
    managers = [m for m in roster(ctx) if m.id != exclude]
    kept = sticky(current_id, managers)
    if kept is not None:
        slot = kept.id if kept.in_table else None
        return Assignment(KEPT, kept.name, kept, slot=slot, any_capacity=True)
    team_key, team = team_for(topic, managers, language, team_ids)
    taken: tuple[str, int] | None = None
    if len(team) <= 1:
        turn = 0
    elif claim_turn:
        seen = _turns.get(ctx.store.table, {}).get(team_key, 0)
        turn, taken = seen + 1, (team_key, seen)
    else:
        turn = ctx.store.next_turn(team_key)
    # The roster may be a few seconds old: the write that counts the lead checks the
    # capacity itself.
    manager = next((m for m in candidates(team, turn) if m.id not in full), None)
    if manager is not None:
        count("LeadAssigned")
        slot = manager.id if manager.in_table else None
        return Assignment(ASSIGNED, manager.name, manager, taken, slot=slot)
    count("LeadUnassigned")
    return Assignment(UNASSIGNED, ctx.settings.fallback_manager_name)


def request_fields(
    ctx: Context, lead: Item, session_id: str, topic_fields: Item, full: Collection[str] = ()
) -> tuple[Item, tuple[str, int] | None, SlotMove]:
    """Topic and manager of the lead's current request, to be stored with the send's
    claim (`assigned_session` makes it once per request), the team's turn the claim
    moves, and the managers' loads it changes."""
    category = str(topic_fields.get("category") or topic_fields["topic"])
    assignment = choose_manager(
        ctx,
        category,
        lead.get("manager_id"),
        language=str(topic_fields.get("language") or "") or None,
        team_ids=[str(t) for t in topic_fields.get("catalogue_team") or []],
        claim_turn=True,
        full=full,
    )
    fields: Item = {
        **topic_fields,
        "manager": assignment.name,
        "manager_id": assignment.manager.id if assignment.manager else None,
        "assignment": assignment.state,
        "assigned_session": session_id,
        **assignment.slot_fields(session_id),
    }
    if assignment.state == UNASSIGNED:
        fields.update({AWAITING_ATTRS[0]: AWAITING_MANAGER, AWAITING_ATTRS[1]: now()})
    return fields, assignment.turn, assignment.move(held_slot(lead))


def held_slot(lead: Item) -> str | None:
    """The manager whose load the lead counts in (for an earlier request), if any."""
    held = lead.get(SLOT_ATTRS[0])
    return str(held) if held else None


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
