"""A send's acceptance, recorded once, by whichever news of it comes first: 1MSG's answer,
its `fromMe` echo, one of its statuses, or 1MSG's own record of the chat.

This is the one place that settles a send whose answer never came (a timeout after the
request left, a sender killed mid-call, a result that could not be stored):

- an echo or a status with an id no stored send has is matched to the chat's unsettled
  send (`settle_in_flight`); when nothing says which, the id is kept as a candidate;
- before an attempt that follows an unrecorded one, 1MSG is asked (`settle_unknown`):
  the one candidate id, else the chat's message history (`GET messages`) since the send
  was first claimed. Only an answer that shows 1MSG does not have it allows a new send;
  when 1MSG cannot tell, the send is recorded `UNKNOWN` and alarmed, never sent twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.status import (
    AUTHOR_AUTO,
    AUTHOR_MANAGER,
    AUTHOR_TEMPLATE,
    AUTHOR_WELCOME,
    LEAD_AUTO_REPLIED,
)
from session_reply.errors import PermanentError, RetryableError
from session_reply.flows.apply_status import APPLIED, PARKED, StatusResult, apply_parked_statuses
from session_reply.flows.context import Context
from session_reply.flows.lifecycle import (
    auto_replied_update,
    lead_status_event,
    mark_human_response,
)
from session_reply.observability import count, logger
from session_reply.onemsg.wire import StatusReport, parse_history
from session_reply.store import (
    ACCEPTED,
    AWAITING_HUMAN,
    AWAITING_PK,
    SENDING,
    UNKNOWN_SEND,
    Item,
    lead_pk,
    now,
    out_sk,
    pmid_key,
)

_SENT_METRIC = {AUTHOR_MANAGER: "ManagerMessageSent", AUTHOR_WELCOME: "WelcomeSent"}
# How far 1MSG's clock may be behind ours when its history is read from the claim time:
# 1MSG filters `min_time` by its own clock, so a clock minutes behind would hide the send
# and it would go twice. A day covers any clock still usable; a same-text message of
# another request in that day is told apart by its stored id (`_unclaimed`).
HISTORY_SKEW_SECONDS = 86_400


@dataclass(slots=True)
class Reconciled:
    """What 1MSG's records say about a send whose last attempt never recorded its outcome."""

    provider_id: str | None = None  # 1MSG has it: settled with this id
    absent: bool = False  # 1MSG's history shows it never went out: a new send is safe
    events: list[Event] = field(default_factory=list)


def record_accepted(ctx: Context, out: Item, provider_id: str, attempt: int) -> list[Event]:
    """1MSG took the message (answer or echo, whichever came first): in one transaction,
    store its id, the pointer statuses join on and, for the auto-reply, the lead's move to
    auto_replied; then apply any statuses that came early."""
    chat_id = str(out["chat_id"])
    key = str(out["id"])
    session_id = str(out.get("session_id") or "")
    auto = out.get("author") in (AUTHOR_AUTO, AUTHOR_TEMPLATE)
    at = now()
    pointer = {
        **pmid_key(provider_id),
        "chat_id": chat_id,
        "lead_pk": lead_pk(chat_id),
        "sk": out_sk(key),
        "direction": "out",
        "author": out.get("author"),
    }
    fields = {
        "state": ACCEPTED,
        "provider_id": provider_id,
        "accepted_at": at,
        "author": out.get("author"),  # `template` when the window had closed
        "template": out.get("template"),
        "awaiting_pk": AWAITING_PK,
        "awaiting_since": at,
    }
    # Waiting for a human from now on: the poller escalates if nobody answers.
    since = max(at, float(out.get("awaiting_from") or 0))
    replied = {"auto_reply_at": at, "awaiting_pk": AWAITING_HUMAN, "awaiting_since": since}
    lead = auto_replied_update(chat_id, session_id, replied) if auto else None
    cancelled = ctx.store.finish_send(
        chat_id, key, attempt, fields, pointer=pointer, lead=lead, new_pointer=True
    )
    parked = lead_moved = False
    if cancelled is None:
        lead_moved = lead is not None
    elif cancelled.failed(0):
        return []  # the echo (or the sender) recorded it first
    else:
        # Early statuses left a placeholder pointer, or the lead is past auto_replied (or
        # in a newer request): store the result without those conditions.
        parked = cancelled.failed(1)
        lead_moved = lead is not None and not cancelled.failed(2)
        if ctx.store.finish_send(
            chat_id, key, attempt, fields, pointer=pointer, lead=lead if lead_moved else None
        ):
            return []
        # A person answered first (or the lead is further on): note the reply, but the
        # lead does not go back on the escalation list.
        if (
            auto
            and not lead_moved
            and ctx.store.set_lead_once(chat_id, session_id, replied, unless_answered=True) is None
        ):
            ctx.store.set_lead_once(chat_id, session_id, {"auto_reply_at": at})
    count(_SENT_METRIC.get(str(out.get("author")), "ReplySent"))
    events = [
        Event(
            "MessageSent",
            {
                "chat_id": chat_id,
                "message_id": key,
                "provider_id": provider_id,
                "author": out.get("author"),
                "language": out.get("language"),
                "at": at,
            },
        )
    ]
    if lead_moved:
        language = out.get("language")
        events.append(lead_status_event(chat_id, session_id, LEAD_AUTO_REPLIED, at, language))
    elif out.get("author") == AUTHOR_MANAGER:
        events += mark_human_response(ctx, chat_id, at, out_sk(key))
    if parked:
        events += apply_parked_statuses(ctx, provider_id, pointer)
    return events


def record_accepted_or_note(ctx: Context, out: Item, provider_id: str, attempt: int) -> list[Event]:
    """`record_accepted` for 1MSG's own answer. When the result cannot be stored (DynamoDB
    keeps failing), the id is kept as the send's candidate first, so the attempt that
    follows settles it instead of sending again."""
    try:
        return record_accepted(ctx, out, provider_id, attempt)
    except RetryableError:
        # If even that fails, the chat's history still shows it to the next attempt.
        with contextlib.suppress(RetryableError):
            ctx.store.add_candidate(str(out["chat_id"]), str(out["id"]), provider_id)
        count("SendResultNotStored")
        raise


def settle_from_candidates(ctx: Context, out: Item) -> Reconciled | None:
    """Settle by the one provider id the chat's echoes or statuses reported while the
    send was unsettled (see `settle_in_flight`); None when not exactly one."""
    candidates = sorted(out.get("candidate_ids") or [])
    if len(candidates) != 1:
        return None
    count("SendReconciled")
    events = record_accepted(ctx, out, candidates[0], int(out.get("attempt", 0)))
    return Reconciled(candidates[0], events=events)


def settle_unknown(ctx: Context, out: Item) -> Reconciled:
    """The attempt before this one never recorded its outcome: what does 1MSG have?"""
    settled = settle_from_candidates(ctx, out)
    if settled is not None:
        return settled
    chat_id = str(out["chat_id"])
    since = int(float(out.get("created_at") or now())) - HISTORY_SKEW_SECONDS
    try:
        history = parse_history(ctx.onemsg.history(chat_id, since), int(now()))
    except (RetryableError, PermanentError) as exc:
        logger.warning("1MSG history unavailable", extra={"error": type(exc).__name__})
        history = None
    if history is None:
        return Reconciled()
    ours = [
        m for m in history if m.from_me and _same_send(out, m.body) and _unclaimed(ctx, m.id, out)
    ]
    if not ours:
        count("SendReconciledAsLost")
        return Reconciled(absent=True)
    provider_id = ours[0].id  # the earliest: any later one is the duplicate, not ours
    count("SendReconciled")
    events = record_accepted(ctx, out, provider_id, int(out.get("attempt", 0)))
    return Reconciled(provider_id, events=events)


def _same_send(out: Item, body: str) -> bool:
    if out.get("author") == AUTHOR_TEMPLATE:
        return body == out.get("template") or body == out.get("body")
    return body == out.get("body")


def _unclaimed(ctx: Context, provider_id: str, out: Item) -> bool:
    """An id no other stored message holds."""
    pointer = ctx.store.get_pointer(provider_id)
    return pointer is None or "sk" not in pointer or pointer["sk"] == out_sk(str(out["id"]))


def settle_in_flight(
    ctx: Context, chat_id: str, provider_id: str, body: str | None = None
) -> list[Event] | None:
    """A message id 1MSG reports for this chat (an echo, or a status) that no stored send
    has: settle the send it belongs to, if any. That is the send with the same text, or
    else the chat's only send whose outcome is unknown (a timeout after the request left,
    a sender that never came back: a template's echo carries the template, and an echo can
    be lost while the statuses still come). None when no send matches."""
    in_flight = ctx.store.sends_in_flight(chat_id)
    same_text = [out for out in in_flight if body is not None and out.get("body") == body]
    at = now()
    unknown = [out for out in in_flight if _outcome_unknown(out, at)]
    match = same_text[:1] or (unknown if len(unknown) == 1 else [])
    if not match:
        if len(in_flight) == 1:
            # Its answer may still be on the way (or never come): note the id, so the send
            # settles with it if 1MSG's answer times out.
            ctx.store.add_candidate(chat_id, str(in_flight[0]["id"]), provider_id)
        return None
    count("SendReconciled")
    return record_accepted(ctx, match[0], provider_id, int(match[0].get("attempt", 0)))


def _outcome_unknown(out: Item, at: float) -> bool:
    """Its answer timed out, it was recorded UNKNOWN, or its attempt's lease ran out with
    nothing recorded (the sender was killed)."""
    return bool(
        out.get("outcome_unknown_at")
        or out.get("state") == UNKNOWN_SEND
        or (out.get("state") == SENDING and float(out.get("lease_until") or 0) < at)
    )


def settle_parked(ctx: Context, report: StatusReport, applied: StatusResult) -> StatusResult:
    """A status parked for an id no stored send has: it may be the answer a send never
    got. Settling stores the result and applies what is parked, this status included."""
    if applied.outcome != PARKED or not report.chat_id:
        return applied
    settled = settle_in_flight(ctx, report.chat_id, report.id)
    return applied if settled is None else StatusResult(APPLIED, settled)
