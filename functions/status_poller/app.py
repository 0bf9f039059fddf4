"""StatusPollerFunction: on a schedule, asks 1MSG's hookInfo about messages stuck without a
delivery status, and marks them `unknown` past the deadline."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.flows.context import Context
from session_reply.flows.poll_statuses import poll_statuses
from session_reply.flows.process_hook import publish
from session_reply.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    ctx = Context.default()
    result = poll_statuses(ctx)
    publish(ctx, result.events)
    summary = {
        "checked": result.checked,
        "applied": result.applied,
        "unknown": result.unknown,
        "unanswered": result.unanswered,
    }
    logger.info("poll done", extra=summary)
    return summary
