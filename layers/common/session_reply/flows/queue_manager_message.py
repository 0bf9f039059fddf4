"""A manager's message to a lead (POST /leads/{chatId}/messages), sent in the open session
through the same queue, ledger and sender as the auto-reply."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from session_reply.domain.reply import MAX_BODY_CHARS
from session_reply.domain.status import AUTHOR_MANAGER
from session_reply.domain.window import window_open
from session_reply.errors import ConflictError, NotFoundError, ValidationError
from session_reply.flows.context import Context
from session_reply.flows.read_lead import other_form
from session_reply.observability import lead_ref
from session_reply.queue import MANAGER_MESSAGE, SendCommand, send_key
from session_reply.store import PENDING, lead_pk, now, out_sk

MAX_KEY_CHARS = 200


@dataclass(frozen=True, slots=True)
class ManagerMessageRequest:
    chat_id: str
    body: str
    idempotency_key: str

    @classmethod
    def parse(cls, chat_id: str, payload: object) -> ManagerMessageRequest:
        if not isinstance(payload, dict):
            raise ValidationError("the request body must be a JSON object")
        body = payload.get("body")
        key = payload.get("idempotency_key")
        if not isinstance(body, str) or not body.strip():
            raise ValidationError("body must be a non-empty string")
        if len(body) > MAX_BODY_CHARS:
            raise ValidationError(
                f"body must be at most {MAX_BODY_CHARS} characters, got {len(body)}"
            )
        if not isinstance(key, str) or not key.strip():
            raise ValidationError("idempotency_key is required (a unique string per message)")
        if len(key) > MAX_KEY_CHARS:
            raise ValidationError(f"idempotency_key must be at most {MAX_KEY_CHARS} characters")
        return cls(chat_id=chat_id, body=body, idempotency_key=key.strip())


@dataclass(frozen=True, slots=True)
class Queued:
    message_id: str
    created: bool  # False: this idempotency key was used before; nothing new was queued


def queue_manager_message(request: ManagerMessageRequest, ctx: Context | None = None) -> Queued:
    ctx = ctx or Context.default()
    lead = ctx.store.get_lead(request.chat_id)
    if lead is None and (other := other_form(ctx, request.chat_id)):
        # Asked for by another form of the number: send to the chat id WhatsApp uses.
        request = replace(request, chat_id=other)
        lead = ctx.store.get_lead(other)
    if lead is None:
        raise NotFoundError("no lead for this chat")
    at = now()
    expires = lead.get("window_expires_at")
    if not window_open(
        int(expires) if expires is not None else None, at, ctx.settings.window_margin_seconds
    ):
        closed_at = int(expires) if expires is not None else None
        raise ConflictError(
            "the 24 h window is closed: only a template message can reach this client",
            window_closed_at=closed_at and datetime.fromtimestamp(closed_at, UTC).isoformat(),
        )
    command = SendCommand(
        kind=MANAGER_MESSAGE,
        # Unique per chat without holding the number (send keys are logged).
        key=f"{lead_ref(request.chat_id)}:{request.idempotency_key}",
        chat_id=request.chat_id,
        session_id=str(lead.get("session_id") or ""),
        requested_at=at,
        body=request.body,
    )
    key = send_key(command)
    existing = ctx.store.create_pending_send(
        {
            "PK": lead_pk(request.chat_id),
            "SK": out_sk(key),
            "id": key,
            "chat_id": request.chat_id,
            "direction": "out",
            "author": AUTHOR_MANAGER,
            "kind": MANAGER_MESSAGE,
            "session_id": command.session_id,
            "body": request.body,
            "time": at,
            "created_at": at,
            "status": "queued",
            "status_rank": 0,
        }
    )
    if existing is not None:
        if existing.get("body") != request.body:
            raise ConflictError("this idempotency_key was already used for a different message")
        if existing.get("state") == PENDING:
            ctx.queue.enqueue(command)  # the first request may have failed before queueing
        return Queued(message_id=key, created=False)
    # Queued after the item exists: a retry of this request finds the item and stops, and
    # the queue dedupe plus the sender's claim make a second enqueue harmless anyway.
    ctx.queue.enqueue(command)
    return Queued(message_id=key, created=True)
