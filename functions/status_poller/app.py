"""StatusPollerFunction: on a schedule, asks 1MSG's hookInfo about messages stuck without a
delivery status (`unknown` past the deadline), escalates leads no human answered, and hands
unassigned leads to a manager who has room; and queues again the reply of a request the
sender never took (`sweep_requests`)."""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.flows.context import Context, prepare
from session_reply.flows.poll_statuses import poll_statuses
from session_reply.flows.sweep_requests import sweep_requests
from session_reply.flows.watch_leads import watch_leads
from session_reply.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    ctx = Context.default()
    statuses = poll_statuses(ctx, remaining_ms=context.get_remaining_time_in_millis)
    leads = watch_leads(ctx)
    swept = sweep_requests(ctx)
    ctx.bus.publish_best_effort(statuses.events + leads.events)
    summary = {
        "checked": statuses.checked,
        "applied": statuses.applied,
        "unknown": statuses.unknown,
        "unanswered": statuses.unanswered,
        "failed": statuses.failed,
        "escalated": leads.escalated,
        "reassigned": leads.reassigned,
        "assigned": leads.assigned,
        "requeued": swept.requeued,
    }
    logger.info("poll done", extra=summary)
    return summary


# What every run needs, built in INIT. Most runs find nothing to ask 1MSG about and
# nothing to tell the CRM: the 1MSG client (httpx, its TLS context, the token) and the
# EventBridge client are built on first use, by a run that needs them.
prepare(events=False)
gc.freeze()
gc.enable()
