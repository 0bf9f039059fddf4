"""Leads that wait too long: escalate those with no human response, and hand unassigned
ones to a manager as soon as one is available. Run by the scheduled poller."""

from __future__ import annotations

from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.assignment import UNASSIGNED
from session_reply.flows.assign_manager import Assignment, assignment_event, choose_manager
from session_reply.flows.context import Context
from session_reply.observability import count
from session_reply.store import (
    AWAITING_ATTRS,
    AWAITING_HUMAN,
    AWAITING_MANAGER,
    SLOT_ATTRS,
    Item,
    now,
)


@dataclass(slots=True)
class WatchResult:
    escalated: int = 0
    reassigned: int = 0
    assigned: int = 0
    events: list[Event] = field(default_factory=list)


def watch_leads(ctx: Context | None = None) -> WatchResult:
    ctx = ctx or Context.default()
    result = WatchResult()
    at = now()
    batch = ctx.settings.poll_batch_size
    for lead in ctx.store.awaiting(AWAITING_HUMAN, at - ctx.settings.escalate_after_seconds, batch):
        _escalate(ctx, lead, at, result)
    for lead in ctx.store.awaiting(AWAITING_MANAGER, at, batch):
        _pick_up(ctx, lead, at, result)
    return result


def _escalate(ctx: Context, lead: Item, at: float, result: WatchResult) -> None:
    """No human answered in time: tell the CRM, and hand over when configured."""
    chat_id, session_id = str(lead["chat_id"]), str(lead["session_id"])
    current = lead.get("manager_id")
    fields: Item = {"escalated_at": at}
    handover = None
    if ctx.settings.reassign_on_escalation:
        handover = choose_manager(ctx, _category(lead), exclude=current)
        if handover.state == UNASSIGNED or handover.manager is None:
            handover = None
        else:
            fields.update(
                {
                    "manager": handover.name,
                    "manager_id": handover.manager.id,
                    "assignment": "reassigned",
                    "awaiting_since": at,
                    **handover.slot_fields(session_id),
                }
            )
    # Escalated once per manager: without a handover the lead leaves the watch list.
    old = ctx.store.update_request_if_waiting(
        chat_id,
        session_id,
        AWAITING_HUMAN,
        {k: v for k, v in fields.items() if v is not None},
        removes=_removed_slot(handover) if handover else AWAITING_ATTRS,
        returns="ALL_OLD",
    )
    if old is None:
        _give_back(ctx, handover)
        return  # answered or superseded meanwhile
    stored = {**old, **fields}
    count("LeadEscalated")
    result.escalated += 1
    result.events.append(
        Event(
            "LeadEscalated",
            {
                "chat_id": chat_id,
                "session_id": session_id,
                "manager_id": current,
                "waited_seconds": int(at - float(lead.get("awaiting_since") or at)),
                "language": old.get("language"),  # the whole lead (the index holds a part)
                "at": at,
            },
        )
    )
    if handover is not None:
        _release_old(ctx, old, handover)
        result.reassigned += 1
        result.events.append(assignment_event(stored, at))


def _pick_up(ctx: Context, lead: Item, at: float, result: WatchResult) -> None:
    """An unassigned lead gets the first manager with room."""
    chat_id, session_id = str(lead["chat_id"]), str(lead["session_id"])
    assignment = choose_manager(ctx, _category(lead))
    if assignment.state == UNASSIGNED or assignment.manager is None:
        return
    fields: Item = {
        "manager": assignment.name,
        "manager_id": assignment.manager.id,
        "assignment": "assigned",
        "awaiting_pk": AWAITING_HUMAN,
        "awaiting_since": at,
        **assignment.slot_fields(session_id),
    }
    old = ctx.store.update_request_if_waiting(
        chat_id,
        session_id,
        AWAITING_MANAGER,
        {k: v for k, v in fields.items() if v is not None},
        removes=_removed_slot(assignment),
        returns="ALL_OLD",
    )
    if old is None:
        _give_back(ctx, assignment)
        return
    _release_old(ctx, old, assignment)
    result.assigned += 1
    result.events.append(assignment_event({**old, **fields}, at))


def _category(lead: Item) -> str:
    """What routing uses: the topic rules' category (`topic` on leads from before it)."""
    return str(lead.get("category") or lead.get("topic") or "")


def _removed_slot(assignment: Assignment) -> tuple[str, ...]:
    return SLOT_ATTRS if assignment.slot is None else ()


def _give_back(ctx: Context, assignment: Assignment | None) -> None:
    """The assignment was not stored: the load it raised goes back."""
    if assignment is not None and assignment.took_slot and assignment.slot:
        ctx.store.release_slot(assignment.slot)


def _release_old(ctx: Context, old: Item, assignment: Assignment) -> None:
    """The lead moved to another manager: the slot it held goes back."""
    held = old.get(SLOT_ATTRS[0])
    if held and held != assignment.slot:
        ctx.store.release_slot(str(held))
