"""The HTTP API's (payload 2.0) event and response, read and written without a resolver.

Each function behind the gateway has one or two routes that only the gateway invokes, so
it dispatches on the event's `routeKey` itself instead of loading Powertools'
`APIGatewayHttpResolver` (tens of milliseconds of every cold start, see `make bench`); CORS,
compression or a routing table would mean going back to the resolver.
"""

from __future__ import annotations

import base64
import binascii
import json
from decimal import Decimal
from typing import Any


def _number(value: object) -> str:
    if isinstance(value, Decimal):  # a DynamoDB number that was not made plain
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=_number),
        "isBase64Encoded": False,
    }


def body_text(event: dict[str, Any]) -> str:
    """The request body as text (the gateway base64-encodes bodies it takes for binary)."""
    body = str(event.get("body") or "")
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return body  # not base64 after all: kept for inspection as it came


def path_parameter(event: dict[str, Any], name: str) -> str | None:
    value = (event.get("pathParameters") or {}).get(name)
    return value if isinstance(value, str) else None


def query_parameter(event: dict[str, Any], name: str) -> str | None:
    value = (event.get("queryStringParameters") or {}).get(name)
    return value if isinstance(value, str) else None


NOT_FOUND = {"message": "Not found"}
