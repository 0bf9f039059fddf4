"""ManagerApiFunction: the lead API for the CRM and the managers' app (IAM-authorised).

GET  /leads/{chatId}            the lead, its request status and a page of its messages
                                (?limit=1..200, default 50; ?cursor=<next_cursor>)
POST /leads/{chatId}/messages   {"body", "idempotency_key"} -> 202 {"message_id"}

Two routes that only the gateway invokes: the function dispatches on the event's `routeKey`
(`session_reply.http_api`) instead of loading Powertools' `APIGatewayHttpResolver`.
"""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.errors import ConflictError, NotFoundError, RetryableError, ValidationError
from session_reply.flows.context import prepare
from session_reply.flows.queue_manager_message import ManagerMessageRequest, queue_manager_message
from session_reply.flows.read_lead import Page, read_lead
from session_reply.http_api import (
    NOT_FOUND,
    answer,
    body_text,
    path_parameter,
    query_parameter,
)
from session_reply.observability import logger, metrics
from session_reply.onemsg.wire import normalise_chat_id
from session_reply.settings import get_settings

Event = dict[str, Any]
Reply = dict[str, Any]


def _chat_id(event: Event) -> str:
    """`/leads/77011234567@c.us`, its URL-encoded form, or bare digits."""
    chat_id = normalise_chat_id(unquote(path_parameter(event, "chatId") or ""))
    if not chat_id:
        raise ValidationError("chatId must be a WhatsApp chat id like 77011234567@c.us")
    return chat_id


def get_lead(event: Event) -> Reply:
    page = Page.parse(query_parameter(event, "limit"), query_parameter(event, "cursor"))
    return answer(200, read_lead(_chat_id(event), page=page))


# The caller's idempotency_key: a retried POST gets the first answer back without touching
# the state table, and the same key with another text is refused. (The send ledger still
# keys the send itself on it, so nothing is sent twice even after this record expires.)
idempotency = IdempotencyConfig(
    event_key_jmespath="[chat_id, idempotency_key]",
    payload_validation_jmespath="body",
    expires_after_seconds=24 * 3600,
)
# One DynamoDB client for the state and the idempotency records: a persistence layer left to
# build its own builds a second boto3 session during INIT (about 100 ms).
persistence = DynamoDBPersistenceLayer(
    table_name=get_settings().idempotency_table_name,
    boto3_client=prepare(events=False).store.client,
)


@idempotent_function(
    data_keyword_argument="request", persistence_store=persistence, config=idempotency
)
def queue_once(request: dict[str, str]) -> dict[str, Any]:
    queued = queue_manager_message(ManagerMessageRequest(**request))
    return {"message_id": queued.message_id, "status": "queued", "duplicate": not queued.created}


def post_message(event: Event) -> Reply:
    try:
        payload = json.loads(body_text(event) or "null")
    except ValueError as exc:
        raise ValidationError("the request body must be JSON") from exc
    request = ManagerMessageRequest.parse(_chat_id(event), payload)
    return answer(202, queue_once(request=asdict(request)))


ROUTES: dict[str, Callable[[Event], Reply]] = {
    "GET /leads/{chatId}": get_lead,
    "POST /leads/{chatId}/messages": post_message,
}


def route(event: Event) -> Reply:
    """The route's answer; a refusal of ours is a 4xx with a message, a store that is not
    answering a 503 (the same idempotency_key may be retried)."""
    handler = ROUTES.get(str(event.get("routeKey")))
    if handler is None:
        return answer(404, NOT_FOUND)
    try:
        return handler(event)
    except ValidationError as exc:
        return answer(400, {"message": str(exc)})
    except NotFoundError as exc:
        return answer(404, {"message": str(exc)})
    except ConflictError as exc:
        return answer(409, {"message": str(exc), **exc.details})
    except IdempotencyValidationError:
        message = "this idempotency_key was already used for a different message"
        return answer(409, {"message": message})
    except IdempotencyAlreadyInProgressError:
        message = "a request with this idempotency_key is in progress; retry"
        return answer(409, {"message": message})
    except RetryableError:
        logger.exception("lead API temporarily unavailable")
        message = "temporarily unavailable, retry with the same idempotency_key"
        return answer(503, {"message": message})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: Event, context: LambdaContext) -> Reply:
    idempotency.register_lambda_context(context)
    return route(event)


gc.freeze()
gc.enable()
