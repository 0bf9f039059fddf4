"""WebhookFunction: POST /hooks/1msg/{secret}, the one URL 1MSG sends everything to.

The function has one route, which only the gateway invokes: it reads the HTTP API's event
itself (`session_reply.http_api`) instead of through Powertools' `APIGatewayHttpResolver`.
"""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

import hmac
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.errors import ConfigurationError, RetryableError
from session_reply.flows.context import prepare
from session_reply.flows.process_hook import process_hook
from session_reply.http_api import NOT_FOUND, answer, body_text, path_parameter
from session_reply.observability import count, logger, metrics
from session_reply.secrets import get_secret
from session_reply.settings import get_settings

ROUTE = "POST /hooks/1msg/{secret}"


def onemsg_hook(secret: str, body: str) -> dict[str, Any]:
    try:
        expected = get_secret(get_settings().webhook_secret_param)
    except ConfigurationError:
        count("WebhookSecretMissing")  # fail closed: nothing is stored without a secret
        return answer(503, {"message": "webhook secret is not configured"})
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        count("WebhookUnauthorized")
        return answer(401, {"message": "unknown webhook secret"})
    try:
        result = process_hook(body)
    except RetryableError:
        logger.exception("webhook not stored; 1MSG will retry")
        return answer(500, {"message": "temporarily unable to store the webhook"})
    return answer(200, {"ok": True, "outcomes": result.outcomes, "kept": result.kept})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    secret = path_parameter(event, "secret")
    if event.get("routeKey") != ROUTE or secret is None:
        return answer(404, NOT_FOUND)
    return onemsg_hook(secret, body_text(event))


prepare(secrets=True)  # the first request's clients, built in INIT
gc.freeze()
gc.enable()
