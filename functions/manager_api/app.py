"""ManagerApiFunction: the lead API for the CRM and the managers' app (IAM-authorised).

GET  /leads/{chatId}            the lead, its request status and a page of its messages
                                (?limit=1..200, default 50; ?cursor=<next_cursor>)
POST /leads/{chatId}/messages   {"body", "idempotency_key"} -> 202 {"message_id"}
"""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

from dataclasses import asdict
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
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
from session_reply.observability import logger, metrics
from session_reply.onemsg.wire import normalise_chat_id
from session_reply.settings import get_settings

app = APIGatewayHttpResolver()


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(ValidationError)
def _bad_request(exc: ValidationError) -> Response[dict[str, Any]]:
    return _json(400, {"message": str(exc)})


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response[dict[str, Any]]:
    return _json(404, {"message": str(exc)})


@app.exception_handler(ConflictError)
def _conflict(exc: ConflictError) -> Response[dict[str, Any]]:
    return _json(409, {"message": str(exc), **exc.details})


@app.exception_handler(RetryableError)
def _unavailable(exc: RetryableError) -> Response[dict[str, Any]]:
    logger.exception("lead API temporarily unavailable")
    return _json(503, {"message": "temporarily unavailable, retry with the same idempotency_key"})


def _chat_id(raw: str) -> str:
    """`/leads/77011234567@c.us`, its URL-encoded form, or bare digits."""
    chat_id = normalise_chat_id(unquote(raw))
    if not chat_id:
        raise ValidationError("chatId must be a WhatsApp chat id like 77011234567@c.us")
    return chat_id


@app.get("/leads/<chat_id>")
def get_lead(chat_id: str) -> Response[dict[str, Any]]:
    event = app.current_event
    page = Page.parse(event.get_query_string_value("limit"), event.get_query_string_value("cursor"))
    return _json(200, read_lead(_chat_id(chat_id), page=page))


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


@app.exception_handler(IdempotencyValidationError)
def _key_reused(exc: IdempotencyValidationError) -> Response[dict[str, Any]]:
    return _json(409, {"message": "this idempotency_key was already used for a different message"})


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _in_progress(exc: IdempotencyAlreadyInProgressError) -> Response[dict[str, Any]]:
    return _json(409, {"message": "a request with this idempotency_key is in progress; retry"})


@app.post("/leads/<chat_id>/messages")
def post_message(chat_id: str) -> Response[dict[str, Any]]:
    try:
        payload = app.current_event.json_body
    except ValueError as exc:
        raise ValidationError("the request body must be JSON") from exc
    request = ManagerMessageRequest.parse(_chat_id(chat_id), payload)
    return _json(202, queue_once(request=asdict(request)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)


gc.freeze()
gc.enable()
