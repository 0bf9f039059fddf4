"""Where no status webhook comes, ask 1MSG: `GET hookInfo?messageId=` for each message that
has been sent but not delivered for a while, applied through the same path as the webhook.
Past the deadline the message is marked `unknown`."""

from __future__ import annotations

from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.status import UNKNOWN
from session_reply.errors import RetryableError
from session_reply.flows.apply_status import apply_status
from session_reply.flows.context import Context
from session_reply.observability import count, logger
from session_reply.onemsg.wire import parse_hook_info
from session_reply.store import AWAITING_PK, now


@dataclass(slots=True)
class PollResult:
    checked: int = 0
    applied: int = 0
    unknown: int = 0
    unanswered: int = 0  # 404 / empty hookInfo: asked again next round
    events: list[Event] = field(default_factory=list)


def poll_statuses(ctx: Context | None = None) -> PollResult:
    ctx = ctx or Context.default()
    settings = ctx.settings
    at = now()
    result = PollResult()
    for item in ctx.store.awaiting(
        AWAITING_PK, at - settings.poll_after_seconds, settings.poll_batch_size
    ):
        result.checked += 1
        provider_id = str(item.get("provider_id") or "")
        if at - float(item.get("awaiting_since", at)) > settings.status_deadline_seconds:
            if ctx.store.mark_unknown(str(item["PK"]), str(item["SK"]), at):
                result.unknown += 1
                count("StatusUnknown")
                result.events.append(
                    Event(
                        "MessageStatusChanged",
                        {
                            "chat_id": item.get("chat_id"),
                            "message_id": item.get("id"),
                            "provider_id": provider_id,
                            "author": item.get("author"),
                            "status": UNKNOWN,
                            "at": at,
                        },
                    )
                )
            continue
        try:
            reports = parse_hook_info(ctx.onemsg.hook_info(provider_id))
        except RetryableError as exc:
            logger.warning(
                "hookInfo failed",
                extra={"provider_message_id": provider_id, "error": type(exc).__name__},
            )
            continue
        if not reports:
            result.unanswered += 1
            continue
        for report in reports:
            if report.id != provider_id:
                continue
            applied = apply_status(report, ctx)
            result.applied += applied.outcome in ("applied", "out_of_order")
            result.events += applied.events
    return result
