"""Send one queued message through 1MSG, at most once per business key.

The OUT item in the lead's partition is both the send ledger and the message:
  claim (PENDING/new -> SENDING, with a lease) -> check the window and staleness ->
  sendMessage -> ACCEPTED (provider id stored, pointer written for statuses) or
  QUEUED / FAILED / SKIPPED with the reason, or back to PENDING for a retry.
An attempt whose outcome is unknown (timeout after the request left) keeps SENDING until
its lease ends: the `fromMe` echo of that message settles it meanwhile (see
receive_message), and only a send with no echo by then is tried again.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from session_reply.bus import Event
from session_reply.domain.catalogue import Entry
from session_reply.domain.phone import phone_problem
from session_reply.domain.replies import ReplyTexts, texts_for, when_back
from session_reply.domain.reply import first_name, render_reply
from session_reply.domain.request import RequestSummary
from session_reply.domain.status import (
    AUTHOR_AUTO,
    AUTHOR_CLIENT,
    AUTHOR_MANAGER,
    AUTHOR_TEMPLATE,
    AUTHOR_WELCOME,
)
from session_reply.domain.window import window_open
from session_reply.errors import PermanentError, RetriesExhaustedError, RetryableError
from session_reply.flows.apply_status import LEAD_STATUS_FOR_REASON
from session_reply.flows.assign_manager import (
    assignment_event,
    held_slot,
    note_turn,
    request_fields,
    with_turn,
)
from session_reply.flows.business import catalogue, hours_fields, reply_texts
from session_reply.flows.context import Context
from session_reply.flows.lifecycle import advance_lead
from session_reply.flows.reconcile import (
    record_accepted_or_note,
    settle_from_candidates,
    settle_unknown,
)
from session_reply.flows.summarise_request import summarise_request
from session_reply.observability import count, logger, ref
from session_reply.onemsg.errors import (
    Accepted,
    OutcomeUnknownError,
    ProviderAuthError,
    ProviderRejectedError,
    WindowClosedError,
)
from session_reply.queue import AUTO_REPLY, MANAGER_MESSAGE, WELCOME, SendCommand, send_key
from session_reply.settings import Settings
from session_reply.store import (
    FAILED,
    FINAL_SEND_STATES,
    PENDING,
    QUEUED,
    SENDING,
    SKIPPED,
    SLOT_ATTRS,
    UNKNOWN_SEND,
    Item,
    SlotMove,
    drop_slot_update,
    now,
)

if TYPE_CHECKING:
    from session_reply.bedrock import BedrockModel

SENT = "sent"
# The request's messages read to choose its topic: its start (the burst) names it.
REQUEST_MESSAGES_READ = 25
ALREADY_DONE = "already_done"
HUMAN_ANSWERED = "human_answered"  # a manager answered before the auto-reply went out


@dataclass(slots=True)
class SendResult:
    outcome: str  # sent | queued | skipped | failed | already_done
    reason: str | None = None
    provider_id: str | None = None
    events: list[Event] = field(default_factory=list)


class BurstWindowOpen(RetryableError):
    """Not an error: the auto-reply waits for the rest of a burst (visibility delay)."""


_AUTHOR = {AUTO_REPLY: AUTHOR_AUTO, WELCOME: AUTHOR_WELCOME}  # a manager message's: manager


def backoff_seconds(attempt: int, cap: int) -> int:
    """Exponential backoff with full jitter: 2, 4, 8 … s, capped."""
    ceiling = min(cap, 2 ** max(1, attempt))
    return max(1, int(random.uniform(ceiling / 2, ceiling)))  # noqa: S311 - not crypto


def send_reply(command: SendCommand, ctx: Context | None = None) -> SendResult:
    ctx = ctx or Context.default()
    assigned: list[Event] = []  # LeadAssigned, published with the send's own events
    try:
        result = _send_reply(command, ctx, assigned)
    except RetryableError:
        ctx.bus.publish_best_effort(assigned)
        raise
    result.events[:0] = assigned
    return result


def _send_reply(command: SendCommand, ctx: Context, assigned: list[Event]) -> SendResult:
    """The send proper; `assigned` collects the LeadAssigned event of a first attempt."""
    settings = ctx.settings
    key = send_key(command)
    auto = command.kind == AUTO_REPLY
    if auto:
        read, messages = _read_request(command, ctx)
    else:
        read, messages = ctx.store.get_lead(command.chat_id), []
    if read is None:
        if command.kind != WELCOME:
            raise PermanentError("no lead for this chat")
        read = {}  # a chat opened for the first time has no lead; its welcome needs none
    lead: Item = read
    request: tuple[Item | None, Item] | None = None
    held = held_slot(read)  # an earlier request's slot, checked unchanged by the claim

    # Once per attempt: a claim that lost the team's turn chooses again for the same request,
    # without asking the rules (or, in bedrock mode, the model) a second time.
    as_read: Item = read

    @functools.cache
    def summary() -> RequestSummary:
        return request_topic(
            messages, as_read, settings=settings, entries=catalogue(ctx), model=ctx.subject_model
        )

    def claim(full: frozenset[str]) -> tuple[Item | None, Item | None]:
        """Topic and manager (the auto-reply's first attempt; `full`: managers who had no
        room), the text, the claim."""
        nonlocal lead, request
        turn, move = None, None
        if auto:
            lead, request, turn, move = _assign(ctx, command, read, summary, full)
        table = None if command.kind == MANAGER_MESSAGE else reply_texts(ctx)
        fields.update(_out_fields(command, key, lead, settings, table))
        # TurnTaken and SlotRefused raise here: `with_turn` chooses again.
        result = ctx.store.claim_send(
            command.chat_id,
            key,
            fields,
            settings.send_lease_seconds,
            request,
            turn,
            held_slot=held if request else None,
            move=move,
        )
        if turn is not None and result[0] is not None:
            note_turn(ctx, turn[0], turn[1] + 1)  # the claim moved the counter
        return result

    fields: dict[str, Any] = {}
    claimed, current = with_turn(ctx, claim)
    if claimed is None:
        return _not_claimed(current or {}, settings.send_lease_seconds)
    if request:
        assigned.append(assignment_event(lead, now()))
    attempt = int(claimed["attempt"])
    if claimed.get("claimed_from") == SENDING:
        # The last attempt never recorded its outcome (its answer timed out, or the sender
        # was killed or could not store the result): 1MSG may have sent it.
        known = settle_unknown(ctx, {**claimed, **fields})
        if known.provider_id is not None:
            return SendResult(SENT, provider_id=known.provider_id, events=known.events)
        if not known.absent:
            return _record_unknown(ctx, command, key, attempt, fields)

    at = now()
    skip = _skip_reason(command, lead, at, ctx, str(fields.get("body") or ""))
    if skip == WindowClosedError.reason and _template_allowed(command, ctx):
        return _send(ctx, command, key, attempt, {**claimed, **fields}, lead, template=True)
    if skip:
        return _finish_refused(ctx, command, key, attempt, SKIPPED, skip, None, fields, lead)
    bad_number = phone_problem(command.chat_id)
    if bad_number:
        refused = (FAILED, "invalid_recipient", bad_number)
        return _finish_refused(ctx, command, key, attempt, *refused, fields, lead)
    return _send(ctx, command, key, attempt, {**claimed, **fields}, lead, template=False)


def _read_request(command: SendCommand, ctx: Context) -> tuple[Item | None, list[Item]]:
    """The lead and its request's messages, once the auto-reply has waited out the burst:
    "hi" / "I want to ask" / "about delivery" is one request, answered once with the topic
    of its joined text. Never the chat's history: one read of the lead and the chat's first
    messages (a new chat's are all it has), and when the chat is longer and this attempt
    chooses the topic, one more of the request's first REQUEST_MESSAGES_READ."""
    wait = command.requested_at + ctx.settings.burst_wait_seconds - time.time()
    if ctx.settings.burst_wait_seconds > 0 and wait > 0:
        raise BurstWindowOpen(
            f"waiting {wait:.1f} s for the rest of the burst", retry_after=max(1, math.ceil(wait))
        )
    lead, messages, whole = ctx.store.lead_and_messages(command.chat_id, REQUEST_MESSAGES_READ)
    if lead is None or whole or _settled_without_topic(lead, command) is not None:
        return lead, messages
    opened = float(lead.get("session_opened_at") or 0)
    return lead, ctx.store.request_messages(command.chat_id, opened, REQUEST_MESSAGES_READ)


def _settled_without_topic(lead: Item, command: SendCommand) -> str | None:
    """Why this attempt chooses no topic or manager (None: it does, for the first time)."""
    if lead.get("session_id") != command.session_id:
        return "superseded"  # the send is skipped
    if lead.get("assigned_session") == command.session_id:
        return "retry"  # topic and manager were settled by an earlier attempt
    if lead.get("first_human_response_at"):
        return HUMAN_ANSWERED  # a person already answered: the reply is skipped
    return None


def _assign(
    ctx: Context,
    command: SendCommand,
    lead: Item,
    summarised: Callable[[], RequestSummary],
    full: frozenset[str],
) -> tuple[Item, tuple[Item | None, Item] | None, tuple[str, int] | None, SlotMove | None]:
    """The lead with its request's topic (from the whole burst) and manager chosen (none of
    `full`); and, the first time, (the OUT item expected, the request fields) for the claim
    to store, with the team's turn and the managers' loads it moves."""
    if _settled_without_topic(lead, command) is not None:
        return lead, None, None, None
    summary = summarised()
    # Open or closed when the request came, not when its burst wait ended.
    request = {**summary.fields(), **hours_fields(ctx, command.requested_at)}
    fields, turn, move = request_fields(ctx, lead, command.session_id, request, full)
    # No attempt has claimed this key (the claim that does settles the topic with it), so
    # the claim expects no OUT item; one there after all fails the claim, which says so.
    return {**lead, **fields}, (None, fields), turn, move


def _out_fields(
    command: SendCommand,
    key: str,
    lead: Item,
    settings: Settings,
    table: dict[str, ReplyTexts] | None = None,
) -> Item:
    # The client's language: the reply's and the CRM events'.
    language = str(lead.get("language") or settings.default_language)
    if command.kind == AUTO_REPLY:
        body = _auto_reply_body(lead, settings, table)
    elif command.kind == WELCOME:
        body, language = _welcome(lead, settings, table)
    else:
        body = command.body or ""
    return {
        "id": key,
        "chat_id": command.chat_id,
        "direction": "out",
        "author": _AUTHOR.get(command.kind, AUTHOR_MANAGER),
        "kind": command.kind,
        "session_id": command.session_id,
        "body": body,
        "language": language,
        "time": command.requested_at,
        # Out of hours, the wait for a human starts when the team opens.
        **(
            {"awaiting_from": lead.get("team_back_at")}
            if command.kind == AUTO_REPLY and lead.get("out_of_hours")
            else {}
        ),
    }


def request_topic(
    messages: list[Item],
    lead: Item,
    settings: Settings | None = None,
    entries: Sequence[Entry] = (),
    model: BedrockModel | None = None,
) -> RequestSummary:
    """Subject, language and category of the request so far: its client messages, joined
    in order. The reply waited out the burst, so "hi" and the question that followed are
    both here; the chat's known language is kept when the text cannot tell. With a `model`
    (bedrock mode), the model is asked first."""
    opened = float(lead.get("session_opened_at") or 0)
    request = sorted(
        (
            m
            for m in messages
            if m.get("author") == AUTHOR_CLIENT and float(m.get("time") or 0) >= opened
        ),
        key=lambda m: (float(m.get("time") or 0), str(m.get("SK"))),
    )
    text = "\n".join(str(m.get("body") or "") for m in request).strip()
    media = next((str(m["type"]) for m in request if m.get("type") not in ("chat", None)), "chat")
    settings = settings or Settings()
    return summarise_request(
        text,
        "chat" if text else media,
        str(lead.get("language") or "") or None,
        settings,
        entries,
        model,
    )


def _template_allowed(command: SendCommand, ctx: Context) -> bool:
    """Only the auto-reply has a template twin; a manager's own words are never replaced."""
    return command.kind == AUTO_REPLY and bool(ctx.settings.template_name)


def _send(
    ctx: Context,
    command: SendCommand,
    key: str,
    attempt: int,
    out: Item,
    lead: Item,
    *,
    template: bool,
) -> SendResult:
    """One call to 1MSG (sendMessage, or sendTemplate outside the window) and its outcome."""
    settings = ctx.settings
    at = now()
    try:
        if template:
            outcome = ctx.onemsg.send_template(
                command.chat_id,
                settings.template_name,
                settings.template_namespace,
                settings.template_language,
                list(_reply_values(lead, settings)),
            )
        else:
            outcome = ctx.onemsg.send_message(command.chat_id, str(out["body"]))
    except OutcomeUnknownError:
        ctx.store.finish_send(
            command.chat_id,
            key,
            attempt,
            {
                "state": SENDING,
                "outcome_unknown_at": at,
                "lease_until": at + settings.send_lease_seconds,
                "last_error": "outcome_unknown",
                # What went out, for whoever settles it (echo, status or the next attempt).
                **(
                    {"author": AUTHOR_TEMPLATE, "template": settings.template_name}
                    if template
                    else {}
                ),
            },
        )
        count("SendOutcomeUnknown")
        # The echo or a status may have come while we waited for the answer.
        settled = settle_from_candidates(ctx, ctx.store.get_out(command.chat_id, key) or out)
        if settled is not None:
            return SendResult(SENT, provider_id=settled.provider_id, events=settled.events)
        raise RetryableError(
            "1MSG outcome unknown; waiting for the echo", retry_after=settings.send_lease_seconds
        ) from None
    except WindowClosedError as exc:
        if not template and _template_allowed(command, ctx):
            # The window closed between our check and 1MSG's: the template goes once.
            return _send(ctx, command, key, attempt, out, lead, template=True)
        return _finish_refused(
            ctx, command, key, attempt, FAILED, exc.reason, exc.detail, out, lead
        )
    except ProviderRejectedError as exc:
        return _finish_refused(
            ctx, command, key, attempt, FAILED, exc.reason, exc.detail, out, lead
        )
    except RetryableError as exc:
        ctx.store.finish_send(
            command.chat_id, key, attempt, {"state": PENDING, "last_error": type(exc).__name__}
        )
        if attempt >= settings.send_max_attempts:
            count("SendRetriesExhausted")
            raise RetriesExhaustedError(
                f"{attempt} tries, the last one {type(exc).__name__}"
            ) from exc
        if isinstance(exc, ProviderAuthError):
            count("ProviderAuthFailed")  # alarmed: an operator must fix the token
            exc.retry_after = settings.max_backoff_seconds  # pause instead of burning retries
        else:
            exc.retry_after = backoff_seconds(attempt, settings.max_backoff_seconds)
        count("SendRetried")
        raise

    if template:
        # Counted once per template that 1MSG took, not per attempt: the alarm's ratio.
        count("WindowClosedTemplateFallback")
        out = {**out, "author": AUTHOR_TEMPLATE, "template": settings.template_name}
    if isinstance(outcome, Accepted):
        events = record_accepted_or_note(ctx, out, outcome.provider_id, attempt)
        return SendResult(SENT, provider_id=outcome.provider_id, events=events)
    ctx.store.finish_send(
        command.chat_id, key, attempt, {"state": QUEUED, "job_id": outcome.job_id}
    )
    count("SendQueuedByProvider")
    return SendResult(QUEUED)


def _reply_texts(
    lead: Item,
    settings: Settings,
    table: dict[str, ReplyTexts] | None = None,
    language: str | None = None,
) -> ReplyTexts:
    """The texts in the client's language (or `language`); the default language's come from
    the settings."""
    default = ReplyTexts(
        settings.reply_template, settings.fallback_client_name, settings.fallback_manager_name
    )
    language = language or str(lead.get("language") or settings.default_language)
    return texts_for(language, default, settings.default_language, table)


def _welcome(
    lead: Item, settings: Settings, table: dict[str, ReplyTexts] | None
) -> tuple[str, str]:
    """The business's welcome and its language: the chat's known language, else the
    default language; "" when neither has one (cleared since the chat opened)."""
    known = str(lead.get("language") or settings.default_language)
    for language in (known, settings.default_language):
        texts = _reply_texts(lead, settings, table, language)
        if texts.welcome:
            name = first_name(str(lead.get("name", "")), texts.client)
            return render_reply(texts.welcome, name, "", ""), language
    return "", known


def _auto_reply_body(
    lead: Item, settings: Settings, table: dict[str, ReplyTexts] | None = None
) -> str:
    """The reply in the client's language; while the business is closed, its out-of-hours
    variant saying when the team is back."""
    texts = _reply_texts(lead, settings, table)
    back = lead.get("team_back_local")
    if lead.get("out_of_hours") and back and texts.out_of_hours:
        opens = datetime.fromisoformat(str(back))
        said = when_back(opens, datetime.now(opens.tzinfo), texts)
        return render_reply(texts.out_of_hours, *_reply_values(lead, settings, table), said)
    return render_reply(texts.reply, *_reply_values(lead, settings, table))


def _reply_values(
    lead: Item, settings: Settings, table: dict[str, ReplyTexts] | None = None
) -> tuple[str, str, str]:
    """{{1}} client name, {{2}} the subject of the request, {{3}} manager."""
    texts = _reply_texts(lead, settings, table)
    manager = str(lead.get("manager") or settings.managers[0])
    if lead.get("assignment") == "unassigned":
        manager = texts.team
    return (
        first_name(str(lead.get("name", "")), texts.client),
        str(lead.get("topic") or "your request"),
        manager,
    )


def _not_claimed(current: Item, lease_seconds: int) -> SendResult:
    state = current.get("state")
    if state in FINAL_SEND_STATES or state == QUEUED:
        count("SendDuplicateSkipped")
        return SendResult(ALREADY_DONE, provider_id=current.get("provider_id"))
    # Another attempt holds the lease (in flight, or waiting for its echo).
    remaining = int(float(current.get("lease_until", 0)) - now()) + 1
    raise RetryableError(
        "send in flight elsewhere", retry_after=max(1, min(remaining, lease_seconds))
    )


def _send_failed(command: SendCommand, key: str, state: str, reason: str, out: Item) -> Event:
    detail = {"chat_id": command.chat_id, "message_id": key, "state": state, "reason": reason}
    return Event("SendFailed", {**detail, "language": out.get("language")})


def _record_unknown(
    ctx: Context, command: SendCommand, key: str, attempt: int, out: Item
) -> SendResult:
    """1MSG may have the message and cannot say: recorded and alarmed, never sent twice.
    An echo or a status that still comes settles it (see `reconcile.settle_in_flight`)."""
    fields = {"state": UNKNOWN_SEND, "reason": "outcome_unknown", "status": "unknown"}
    ctx.store.finish_send(command.chat_id, key, attempt, fields)
    count("SendOutcomeUnresolved")  # alarmed: someone must look at the chat
    logger.warning("send outcome unknown; not sent again", extra={"send_ref": ref(key)})
    event = _send_failed(command, key, UNKNOWN_SEND, "outcome_unknown", out)
    return SendResult("unknown", reason="outcome_unknown", events=[event])


def _skip_reason(
    command: SendCommand, lead: Item, at: float, ctx: Context, body: str
) -> str | None:
    settings = ctx.settings
    if command.kind == WELCOME:
        # It answers the client opening the chat, right then, or not at all; the lead (if
        # any) and its window belong to the requests.
        if not body:
            return "no_welcome_text"
        stale = at - command.requested_at > settings.max_auto_reply_age_seconds
        return "stale" if stale else None
    if command.kind == AUTO_REPLY:
        if lead.get("session_id") != command.session_id:
            return "superseded"  # a newer request opened since this reply was queued
        if lead.get("first_human_response_at"):
            return HUMAN_ANSWERED
        if at - command.requested_at > settings.max_auto_reply_age_seconds:
            return "stale"
    expires = lead.get("window_expires_at")
    if not window_open(
        int(expires) if expires is not None else None, at, settings.window_margin_seconds
    ):
        return "window_closed"
    return None


def _finish_refused(
    ctx: Context,
    command: SendCommand,
    key: str,
    attempt: int,
    state: str,
    reason: str,
    detail: str | None,
    out: Item,
    lead: Item,
) -> SendResult:
    """The send is not made (skipped or refused): recorded with its reason; `out` is the
    message as claimed, `lead` the lead as the sender read it (its request's slot goes
    back)."""
    fields = {
        "state": state,
        "reason": reason,
        "reason_detail": detail,
        "status": "failed" if state == FAILED else "skipped",
    }
    # The reply is not sent: the request's slot goes back with the outcome, in one write.
    slot = held_slot(lead) if command.kind == AUTO_REPLY else None
    if slot and lead.get(SLOT_ATTRS[1]) == command.session_id:
        drop = drop_slot_update(command.chat_id, command.session_id, slot)
        cancelled = ctx.store.finish_send(
            command.chat_id, key, attempt, fields, lead=drop, move=SlotMove(release=slot)
        )
        if cancelled is not None and not cancelled.failed(0):
            # The slot went meanwhile (a person answered, and gave it back).
            ctx.store.finish_send(command.chat_id, key, attempt, fields)
    else:
        ctx.store.finish_send(command.chat_id, key, attempt, fields)
    count(f"Send{state.title()}")
    logger.info("send not made", extra={"send_ref": ref(key), "state": state, "reason": reason})
    events = [_send_failed(command, key, state, reason, out)]
    lead_status = LEAD_STATUS_FOR_REASON.get(reason)
    if lead_status:
        events += advance_lead(ctx, command.chat_id, command.session_id, lead_status, now())
    return SendResult(state.lower(), reason=reason, events=events)
