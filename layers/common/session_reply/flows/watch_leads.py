"""Leads that wait too long: escalate those with no human response, and hand unassigned
ones to a manager as soon as one is available. Run by the scheduled poller."""

from __future__ import annotations

from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.assignment import UNASSIGNED
from session_reply.flows.assign_manager import (
    assignment_event,
    choose_manager,
    held_slot,
)
from session_reply.flows.context import Context
from session_reply.observability import count
from session_reply.store import (
    AWAITING_ATTRS,
    AWAITING_HUMAN,
    AWAITING_MANAGER,
    SLOT_ATTRS,
    Item,
    SlotRefused,
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
    handed = None
    if ctx.settings.reassign_on_escalation:
        fields = {"escalated_at": at, "assignment": "reassigned", "awaiting_since": at}
        handed = _hand_over(ctx, lead, AWAITING_HUMAN, fields, exclude=current)
    # Escalated once per manager: without a handover the lead leaves the watch list.
    stored = handed or ctx.store.update_request_if_waiting(
        chat_id, session_id, AWAITING_HUMAN, {"escalated_at": at}, removes=AWAITING_ATTRS
    )
    if stored is None:
        return  # answered or superseded meanwhile
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
                "language": stored.get("language"),  # the whole lead (the index holds a part)
                "at": at,
            },
        )
    )
    if handed is not None:
        result.reassigned += 1
        result.events.append(assignment_event(handed, at))


def _pick_up(ctx: Context, lead: Item, at: float, result: WatchResult) -> None:
    """An unassigned lead gets the first manager with room."""
    fields = {"assignment": "assigned", "awaiting_pk": AWAITING_HUMAN, "awaiting_since": at}
    handed = _hand_over(ctx, lead, AWAITING_MANAGER, fields)
    if handed is not None:
        result.assigned += 1
        result.events.append(assignment_event(handed, at))


def _hand_over(
    ctx: Context, waiting: Item, waiting_for: str, fields: Item, exclude: str | None = None
) -> Item | None:
    """Give a lead that waits (for `waiting_for`) a manager with room: its new manager and
    slot and the managers' loads in one write. The lead as stored, or None when nobody has
    room or the lead moved on meanwhile."""
    chat_id, session_id = str(waiting["chat_id"]), str(waiting["session_id"])
    lead = ctx.store.get_lead(chat_id)  # the slot it holds (the index does not carry it)
    if lead is None:
        return None
    held = held_slot(lead)
    full: set[str] = set()  # managers who had no room when the lead was to count for them
    while True:
        assignment = choose_manager(ctx, _category(lead), exclude=exclude, full=full)
        if assignment.state == UNASSIGNED or assignment.manager is None:
            return None
        new = {
            **fields,
            "manager": assignment.name,
            "manager_id": assignment.manager.id,
            **assignment.slot_fields(session_id),
        }
        try:
            stored = ctx.store.hand_over(
                chat_id,
                session_id,
                waiting_for,
                {k: v for k, v in new.items() if v is not None},
                removes=SLOT_ATTRS if assignment.slot is None else (),
                held=held,
                move=assignment.move(held),
            )
        except SlotRefused as refused:
            if refused.manager_id in full:
                return None
            full.add(refused.manager_id)
            continue
        return {**lead, **new} if stored else None


def _category(lead: Item) -> str:
    """What routing uses: the topic rules' category (`topic` on leads from before it)."""
    return str(lead.get("category") or lead.get("topic") or "")
