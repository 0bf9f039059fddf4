"""ManagerApiFunction: the lead API for the CRM and the managers' app (IAM-authorised).

GET  /leads/{chatId}            the lead, its request status and its messages
POST /leads/{chatId}/messages   {"body", "idempotency_key"} -> 202 {"message_id"}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.errors import ConflictError, NotFoundError, RetryableError, ValidationError
from session_reply.flows.queue_manager_message import ManagerMessageRequest, queue_manager_message
from session_reply.flows.read_lead import read_lead
from session_reply.observability import logger, metrics
from session_reply.onemsg.wire import normalise_chat_id

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
    return _json(200, read_lead(_chat_id(chat_id)))


@app.post("/leads/<chat_id>/messages")
def post_message(chat_id: str) -> Response[dict[str, Any]]:
    try:
        payload = app.current_event.json_body
    except ValueError as exc:
        raise ValidationError("the request body must be JSON") from exc
    request = ManagerMessageRequest.parse(_chat_id(chat_id), payload)
    queued = queue_manager_message(request)
    return _json(
        202, {"message_id": queued.message_id, "status": "queued", "duplicate": not queued.created}
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
