"""One 1MSG webhook body: authenticate the channel, split it into items, run each flow.

Bodies and items we cannot process are kept for inspection and answered 2xx, because a
4xx only makes 1MSG retry forever. Only a failure to store what came in is raised, so
the webhook answers 5xx and 1MSG retries (every item is idempotent).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.errors import RetryableError
from session_reply.flows.apply_status import apply_status
from session_reply.flows.context import Context
from session_reply.flows.receive_message import receive_message
from session_reply.flows.reconcile import settle_parked
from session_reply.observability import count, logger, ref
from session_reply.onemsg.wire import MalformedHookError, decode_body, parse_hook


@dataclass(slots=True)
class HookResult:
    outcomes: dict[str, int] = field(default_factory=dict)
    kept: str | None = None  # why the body was kept for inspection instead of processed

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def process_hook(raw: str, ctx: Context | None = None) -> HookResult:
    ctx = ctx or Context.default()
    result = HookResult()
    if len(raw.encode()) > ctx.settings.max_webhook_bytes:
        return _keep(ctx, raw, "body too large", result)
    try:
        data = decode_body(raw)
    except MalformedHookError as exc:
        return _keep(ctx, raw, str(exc), result)
    hook = parse_hook(data, now=int(time.time()), skew=ctx.settings.clock_skew_seconds)
    channel = ctx.settings.onemsg_channel_id
    if channel and hook.instance_id != channel:
        # Only our channel's events are processed: one without an instanceId is not known
        # to be ours either.
        count("HookWrongInstance")
        reason = "no instanceId" if hook.instance_id is None else "instanceId is not this channel"
        return _keep(ctx, raw, reason, result)
    if hook.is_empty:
        reason = "items not understood" if hook.rejected else "no messages, ack or hooks"
        return _keep(ctx, raw, reason, result)
    if hook.rejected:
        kept = json.dumps([{"reason": r, "item": item} for r, item in hook.rejected], default=str)
        _keep(ctx, kept, "some items not understood", result)

    events: list[Event] = []
    failure: RetryableError | None = None
    for message in hook.messages:
        try:
            received = receive_message(message, ctx)
        except RetryableError as exc:
            failure = exc  # go on with the other items; 1MSG's retry redoes only this one
            continue
        logger.info("message", extra={"provider_ref": ref(message.id), "outcome": received.outcome})
        count(f"Inbound{received.outcome.title().replace('_', '')}")
        result.add(received.outcome)
        events += received.events
    for report in hook.statuses:
        try:
            applied = settle_parked(ctx, report, apply_status(report, ctx))
        except RetryableError as exc:
            failure = exc
            continue
        logger.info(
            "status",
            extra={
                "provider_ref": ref(report.id),
                "status": report.status,
                "outcome": applied.outcome,
            },
        )
        result.add(f"status_{applied.outcome}")
        events += applied.events
    publish(ctx, events)
    if failure is not None:
        raise failure
    return result


def publish(ctx: Context, events: list[Event]) -> None:
    ctx.bus.publish_best_effort(events)


def _keep(ctx: Context, raw: str, reason: str, result: HookResult) -> HookResult:
    ctx.store.keep_raw_hook(raw, reason, ctx.settings.raw_hook_ttl_days)
    count("HookKeptForInspection")
    logger.warning("webhook body kept for inspection", extra={"reason": reason, "size": len(raw)})
    result.kept = reason
    return result
