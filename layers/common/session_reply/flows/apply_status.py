"""A delivery status (from `ack[]`, `hooks[]` or `hookInfo`) applied to our message.

Each (message, status) is recorded once as an event item (dedupe and history). The
message's status then moves forward only; each status keeps its own timestamp even when
it arrives out of order. A status for an id we do not know yet stays parked in its event
item and is applied when the send result is stored (`apply_parked_statuses`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from session_reply.bus import Event
from session_reply.domain.status import (
    LEAD_UNREACHABLE,
    LEAD_WINDOW_CLOSED,
)
from session_reply.flows.context import Context
from session_reply.flows.lifecycle import advance_lead, message_status_event
from session_reply.observability import count
from session_reply.onemsg.errors import InvalidRecipientError, WindowClosedError, failure_reason
from session_reply.onemsg.wire import StatusReport
from session_reply.store import Item, now

APPLIED = "applied"
OUT_OF_ORDER = "out_of_order"
DUPLICATE = "duplicate"
PARKED = "parked"

# A failure that says something about the lead, not only about one message.
LEAD_STATUS_FOR_REASON = {
    WindowClosedError.reason: LEAD_WINDOW_CLOSED,
    InvalidRecipientError.reason: LEAD_UNREACHABLE,
}


@dataclass(slots=True)
class StatusResult:
    outcome: str
    events: list[Event] = field(default_factory=list)


def apply_status(report: StatusReport, ctx: Context | None = None) -> StatusResult:
    ctx = ctx or Context.default()
    received = now()
    event = {
        "status": report.status,
        "error": report.error,
        "chat_id": report.chat_id,
        # A provider clock ahead of ours is brought back to now plus the allowed skew.
        "at": min(float(report.timestamp), received + ctx.settings.clock_skew_seconds)
        if report.timestamp
        else received,
        "received_at": received,
        "expires_at": int(received) + ctx.settings.status_event_ttl_days * 86_400,
    }
    pointer = ctx.store.get_pointer(report.id)
    if pointer is None or "sk" not in pointer:
        return _park(ctx, report.id, event)
    return _apply(ctx, report.id, pointer, event)


def _park(ctx: Context, provider_id: str, event: Item) -> StatusResult:
    """A status for a message whose send result is not stored yet: kept (once per
    status) until the sender stores it and applies what is parked."""
    if not ctx.store.add_status_event(provider_id, event):
        count("StatusDuplicate")
        return StatusResult(DUPLICATE)
    pointer = ctx.store.mark_parked(provider_id)
    if "sk" in pointer:
        return _apply(ctx, provider_id, pointer, event)  # the send result landed meanwhile
    # It may be the answer a send never got: the caller asks `reconcile.settle_parked`.
    count("StatusParked")
    return StatusResult(PARKED)


def apply_parked_statuses(ctx: Context, provider_id: str, pointer: Item) -> list[Event]:
    """Statuses that arrived before the send result: apply them now, oldest rank first."""
    events: list[Event] = []
    for event in ctx.store.status_events(provider_id):
        events += _apply(ctx, provider_id, pointer, event).events
    return events


def _apply(ctx: Context, provider_id: str, pointer: Item, event: Item) -> StatusResult:
    status = str(event["status"])
    at = float(event["at"])
    details: dict[str, Any] = {}
    if status == "failed":
        details = {
            "reason": failure_reason(event.get("error")),
            "reason_detail": event.get("error"),
        }
    message, outcome = ctx.store.apply_message_status(
        str(pointer["lead_pk"]), str(pointer["sk"]), status, at, details
    )
    if message is None:
        return _park(ctx, provider_id, event)
    if outcome == "duplicate":
        count("StatusDuplicate")
        return StatusResult(DUPLICATE)
    moved = outcome == "moved"
    chat_id = str(message.get("chat_id") or pointer.get("chat_id"))
    events: list[Event] = []
    if moved:
        count("StatusApplied")
        ours = {**message, "chat_id": chat_id}
        events.append(message_status_event(ours, provider_id, status, at, details.get("reason")))
    else:
        count("StatusOutOfOrder")
    events += _lead_effects(ctx, message, status, at, details.get("reason"))
    return StatusResult(APPLIED if moved else OUT_OF_ORDER, events)


def _lead_effects(
    ctx: Context, message: Item, status: str, at: float, reason: str | None
) -> list[Event]:
    chat_id = str(message.get("chat_id"))
    session_id = str(message.get("session_id") or "")
    if not session_id:
        return []
    lead_status = LEAD_STATUS_FOR_REASON.get(reason or "") if status == "failed" else None
    if lead_status:
        return advance_lead(ctx, chat_id, session_id, lead_status, at)
    return []
