"""Where no status webhook comes, ask 1MSG: `GET hookInfo?messageId=` for each message that
has been sent but not delivered for a while, applied through the same path as the webhook.
Past the deadline the message is marked `unknown`.

Every waiting message gets its turn: one asked about and still waiting goes to the back of
the line, so messages stuck at `sent` (a phone offline for days) never starve newer ones.
One message's failure never stops the run, and the run stops early enough to end inside
the function's timeout when 1MSG is slow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.status import UNKNOWN
from session_reply.errors import SessionReplyError
from session_reply.flows.apply_status import apply_status
from session_reply.flows.context import Context
from session_reply.flows.lifecycle import message_status_event
from session_reply.observability import count, logger, ref
from session_reply.onemsg.wire import parse_hook_info
from session_reply.store import AWAITING_PK, Item, now

# Pages of `poll_batch_size` read per run at most (the line rotates, so the next run goes on).
MAX_PAGES = 10


@dataclass(slots=True)
class PollResult:
    checked: int = 0
    applied: int = 0
    unknown: int = 0
    unanswered: int = 0  # 404 / empty hookInfo: asked again next round
    failed: int = 0  # hookInfo or the status could not be had: asked again next round
    events: list[Event] = field(default_factory=list)


def poll_statuses(
    ctx: Context | None = None, remaining_ms: Callable[[], int] | None = None
) -> PollResult:
    """`remaining_ms` is the Lambda context's clock: no new hookInfo call starts unless
    one more (its full timeout) still fits."""
    ctx = ctx or Context.default()
    settings = ctx.settings
    reserve_ms = settings.onemsg_timeout_seconds * 1000
    at = now()
    result = PollResult()
    for _ in range(MAX_PAGES):
        page = ctx.store.awaiting(
            AWAITING_PK, at - settings.poll_after_seconds, settings.poll_batch_size
        )
        for item in page:
            if remaining_ms is not None and remaining_ms() < reserve_ms:
                count("PollCutShort")
                return result
            _poll_one(ctx, item, at, result)
        if len(page) < settings.poll_batch_size:
            break
    return result


def _poll_one(ctx: Context, item: Item, at: float, result: PollResult) -> None:
    settings = ctx.settings
    result.checked += 1
    provider_id = str(item.get("provider_id") or "")
    started = float(item.get("awaiting_started") or item.get("awaiting_since") or at)
    if at - started > settings.status_deadline_seconds:
        message = ctx.store.mark_unknown(str(item["PK"]), str(item["SK"]), at)
        if message:  # the whole item (the index holds only some of its fields)
            result.unknown += 1
            count("StatusUnknown")
            result.events.append(message_status_event(message, provider_id, UNKNOWN, at))
        return
    try:
        reports = parse_hook_info(ctx.onemsg.hook_info(provider_id))
        if not reports:
            result.unanswered += 1
        for report in reports:
            if report.id != provider_id:
                continue
            applied = apply_status(report, ctx)
            result.applied += applied.outcome in ("applied", "out_of_order")
            result.events += applied.events
    except SessionReplyError as exc:
        # A 4xx for this one id, 1MSG down, the table busy: the others still get their turn.
        result.failed += 1
        count("PollItemFailed")
        logger.warning(
            "status poll failed for one message",
            extra={"provider_ref": ref(provider_id), "error": type(exc).__name__},
        )
    # Still waiting (a final status took it off the list): to the back of the line.
    ctx.store.next_poll_turn(str(item["PK"]), str(item["SK"]), started, now())
