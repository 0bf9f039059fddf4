"""Leads that wait too long: escalate those with no human response, and hand unassigned
ones to a manager as soon as one is available. Run by the scheduled poller."""

from __future__ import annotations

from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.assignment import UNASSIGNED
from session_reply.flows.assign_manager import assignment_event, choose_manager
from session_reply.flows.context import Context
from session_reply.observability import count
from session_reply.store import AWAITING_ATTRS, AWAITING_HUMAN, AWAITING_MANAGER, Item, now


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
                }
            )
    # Escalated once per manager: without a handover the lead leaves the watch list.
    stored = ctx.store.update_request_if_waiting(
        chat_id, session_id, AWAITING_HUMAN, fields, removes=() if handover else AWAITING_ATTRS
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
                "at": at,
            },
        )
    )
    if handover is not None:
        if current:
            ctx.store.release_slot(str(current))  # a no-op for managers outside the table
        result.reassigned += 1
        result.events.append(assignment_event(stored, at))


def _pick_up(ctx: Context, lead: Item, at: float, result: WatchResult) -> None:
    """An unassigned lead gets the first manager with room."""
    chat_id, session_id = str(lead["chat_id"]), str(lead["session_id"])
    assignment = choose_manager(ctx, _category(lead))
    if assignment.state == UNASSIGNED or assignment.manager is None:
        return
    stored = ctx.store.update_request_if_waiting(
        chat_id,
        session_id,
        AWAITING_MANAGER,
        {
            "manager": assignment.name,
            "manager_id": assignment.manager.id,
            "assignment": "assigned",
            "awaiting_pk": AWAITING_HUMAN,
            "awaiting_since": at,
        },
    )
    if stored is None:
        if assignment.manager.in_table:
            ctx.store.release_slot(assignment.manager.id)
        return
    result.assigned += 1
    result.events.append(assignment_event(stored, at))


def _category(lead: Item) -> str:
    """What routing uses: the topic rules' category (`topic` on leads from before it)."""
    return str(lead.get("category") or lead.get("topic") or "")
