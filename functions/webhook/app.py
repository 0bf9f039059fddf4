"""WebhookFunction: POST /hooks/1msg/{secret}, the one URL 1MSG sends everything to.

The function has one route, so it reads the HTTP API's event itself instead of through
Powertools' `APIGatewayHttpResolver` (tens of milliseconds of every cold start, see `make bench`):
the gateway only ever invokes it for that route; a second route, CORS or compression
would mean going back to the resolver.
"""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

import base64
import binascii
import hmac
import json
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.errors import ConfigurationError, RetryableError
from session_reply.flows.context import prepare
from session_reply.flows.process_hook import process_hook
from session_reply.observability import count, logger, metrics
from session_reply.secrets import get_secret
from session_reply.settings import get_settings

ROUTE = "POST /hooks/1msg/{secret}"


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API (payload 2.0) response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _body(event: dict[str, Any]) -> str:
    """The request body as text (the gateway base64-encodes bodies it takes for binary)."""
    body = str(event.get("body") or "")
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return body  # not base64 after all: kept for inspection as it came


def onemsg_hook(secret: str, body: str) -> dict[str, Any]:
    try:
        expected = get_secret(get_settings().webhook_secret_param)
    except ConfigurationError:
        count("WebhookSecretMissing")  # fail closed: nothing is stored without a secret
        return _answer(503, {"message": "webhook secret is not configured"})
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        count("WebhookUnauthorized")
        return _answer(401, {"message": "unknown webhook secret"})
    try:
        result = process_hook(body)
    except RetryableError:
        logger.exception("webhook not stored; 1MSG will retry")
        return _answer(500, {"message": "temporarily unable to store the webhook"})
    return _answer(200, {"ok": True, "outcomes": result.outcomes, "kept": result.kept})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    secret = (event.get("pathParameters") or {}).get("secret")
    if event.get("routeKey") != ROUTE or not isinstance(secret, str):
        return _answer(404, {"message": "Not found"})
    return onemsg_hook(secret, _body(event))


prepare(secrets=True)  # the first request's clients, built in INIT
gc.freeze()
gc.enable()
