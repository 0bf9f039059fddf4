"""A message item from the webhook: record it, open or continue the request, queue the reply.

Client messages (`fromMe` false) open a request when no session is open and get exactly one
auto-reply; later ones are recorded and refresh the window. Our own messages come back as
`fromMe` echoes: API sends (`self` 1) are matched to our sends, messages a person typed in
the 1MSG inbox (`self` 0) are recorded as the manager's and count as the human response.
None of them is ever answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from session_reply.bus import Event
from session_reply.domain.phone import display_phone
from session_reply.domain.status import (
    AUTHOR_CLIENT,
    AUTHOR_EXTERNAL,
    AUTHOR_MANAGER,
    LEAD_NEW,
)
from session_reply.domain.topic import category_label, extract_topic
from session_reply.domain.window import window_expires_at
from session_reply.flows.context import Context
from session_reply.flows.lifecycle import lead_status_event, mark_human_response
from session_reply.flows.reconcile import settle_in_flight
from session_reply.onemsg.wire import MEDIA_TYPES, REQUEST_WELCOME, InboundMessage
from session_reply.queue import AUTO_REPLY, WELCOME, SendCommand
from session_reply.store import (
    AWAITING_REPLY,
    TIMELINE_ATTR,
    Update,
    inbound_sk,
    lead_pk,
    new_lead_update,
    now,
    pmid_key,
    timeline_key,
)

OPENED = "opened"
FOLLOW_UP = "follow_up"
DUPLICATE = "duplicate"
ECHO = "echo"
MANAGER_MESSAGE = "manager_message"
EXTERNAL_MESSAGE = "external_message"
GROUP_MESSAGE = "group_message"
NOT_A_REQUEST = "not_a_request"


@dataclass(slots=True)
class Received:
    outcome: str
    events: list[Event] = field(default_factory=list)


def receive_message(message: InboundMessage, ctx: Context | None = None) -> Received:
    ctx = ctx or Context.default()
    if message.from_me:
        return _own_message(message, ctx)
    if not message.is_request:
        return _not_a_request(message, ctx)
    if not message.is_private_chat:
        # Group chats are recorded for the CRM but never auto-answered.
        at = now()
        item = _message_item(message, AUTHOR_CLIENT, "in", at)
        if (
            ctx.store.record_message(_pointer(message, "in", AUTHOR_CLIENT, False), item)
            is not None
        ):
            return Received(DUPLICATE)
        return Received(GROUP_MESSAGE)
    return _client_message(message, ctx)


def _not_a_request(message: InboundMessage, ctx: Context) -> Received:
    """A reaction, the client opening the chat, a call permission answer, a broadcast:
    recorded and shown to the CRM; it opens no request, refreshes no window, gets no reply.
    A client opening the chat gets the business's welcome, when one is configured."""
    at = now()
    item = _message_item(message, AUTHOR_CLIENT, "in", at)
    duplicate = (
        ctx.store.record_message(_pointer(message, "in", AUTHOR_CLIENT, False), item) is not None
    )
    if message.type == REQUEST_WELCOME and message.is_private_chat and _welcome_configured(ctx):
        # Aged from when the client opened the chat: a welcome is sent then, or not at all.
        # Queued again when 1MSG retries the event (the first attempt may have stopped
        # before queueing): SQS dedupe and the send ledger are keyed on the event's id.
        ctx.queue.enqueue(_send_command(WELCOME, message, min(at, float(message.time))))
    if duplicate:
        return Received(DUPLICATE)
    return Received(
        NOT_A_REQUEST, [Event("InboundMessageReceived", _inbound_detail(message, opened=False))]
    )


def _welcome_configured(ctx: Context) -> bool:
    # Imported here: only a chat opening needs the reply texts, not the webhook's cold start.
    from session_reply.flows.business import reply_texts

    return any(texts.welcome for texts in reply_texts(ctx).values())


def _message_item(
    message: InboundMessage, author: str, direction: str, at: float
) -> dict[str, object]:
    media = message.type in MEDIA_TYPES
    sk = inbound_sk(message.time, message.id)
    return {
        "PK": lead_pk(message.chat_id),
        "SK": sk,
        TIMELINE_ATTR: timeline_key(message.time, sk),
        "id": message.id,
        "provider_id": message.id,
        "chat_id": message.chat_id,
        "direction": direction,
        "author": author,
        "type": message.type,
        "body": message.text,
        "media_url": message.body if media else None,
        "quoted_id": message.quoted_id,
        "time": message.time,
        "received_at": at,
    }


def _pointer(
    message: InboundMessage, direction: str, author: str, opened: bool
) -> dict[str, object]:
    return {
        **pmid_key(message.id),
        "chat_id": message.chat_id,
        "lead_pk": lead_pk(message.chat_id),
        "sk": inbound_sk(message.time, message.id),
        "direction": direction,
        "author": author,
        "opened_session": opened,
    }


def _send_command(kind: str, message: InboundMessage, at: float) -> SendCommand:
    """The auto-reply of the request `message` opens, or the welcome of a chat opening."""
    return SendCommand(
        kind=kind,
        key=message.id,
        chat_id=message.chat_id,
        session_id=message.id,
        requested_at=at,
    )


def _client_message(message: InboundMessage, ctx: Context) -> Received:
    settings = ctx.settings
    at = now()
    item = _message_item(message, AUTHOR_CLIENT, "in", at)
    expires = window_expires_at(message.time, settings.window_seconds)
    category = category_label(extract_topic(message.text, message.type))
    profile: dict[str, object] = {
        "phone": display_phone(message.chat_id),  # None (not stored) for a linked id
        **({"name": message.sender_name} if message.sender_name else {}),
    }
    lead = new_lead_update(
        message.chat_id,
        {
            **profile,
            "session_id": message.id,
            "session_opened_at": message.time,
            "last_inbound_at": message.time,
            "window_expires_at": expires,
            # Waiting for its reply: the poller's sweep queues it again if the sender
            # never takes it (a crash between this write and the queue).
            "awaiting_pk": AWAITING_REPLY,
            "awaiting_since": at,
            # Provisional: the sender settles the category from the whole burst, with the
            # subject ({{2}}, `topic`), the language and the manager. A request a person
            # answers first gets no reply and so no subject; its category is this one.
            "category": category,
        },
        # A request opens when the chat has no client message within the session gap.
        condition="attribute_not_exists(#last_inbound_at) OR #last_inbound_at < :threshold",
        values={":threshold": message.time - settings.session_gap_seconds},
    )
    session = {
        "PK": lead_pk(message.chat_id),
        "SK": f"SESSION#{message.time:010d}#{message.id}",
        "opened_at": message.time,
        "inbound_id": message.id,
    }
    cancelled = ctx.store.open_session(
        _pointer(message, "in", AUTHOR_CLIENT, True), item, session, lead
    )
    if cancelled is None:
        ctx.queue.enqueue(_send_command(AUTO_REPLY, message, at))
        return Received(
            OPENED,
            [
                Event("InboundMessageReceived", _inbound_detail(message, opened=True)),
                lead_status_event(message.chat_id, message.id, LEAD_NEW, at),
            ],
        )
    if cancelled.failed(0):
        old = cancelled.old_item(0) or {}
        if old.get("opened_session"):
            # A retry of the message that opened the request: the first attempt may have
            # stopped before queueing. Queueing again is safe: SQS dedupe and the send
            # ledger are keyed on this message id. Its age counts from when the client
            # wrote, so a retry that comes hours later is skipped as stale, not answered.
            ctx.queue.enqueue(_send_command(AUTO_REPLY, message, min(at, float(message.time))))
        return Received(DUPLICATE)
    return _follow_up(message, item, profile, expires, ctx)


def _follow_up(
    message: InboundMessage,
    item: dict[str, object],
    profile: dict[str, object],
    expires: int,
    ctx: Context,
) -> Received:
    """A client message inside an open request: recorded, window refreshed, not answered."""
    key = {"PK": lead_pk(message.chat_id), "SK": "LEAD"}
    pointer = _pointer(message, "in", AUTHOR_CLIENT, False)
    refresh = Update(
        key=key,
        sets={
            **profile,
            "last_inbound_at": message.time,
            "window_expires_at": expires,
            "updated_at": now(),
        },
        adds={"inbound_count": 1},
        condition="#last_inbound_at <= :t",  # the window only moves forward
        values={":t": message.time},
    )
    cancelled = ctx.store.record_message(pointer, item, refresh)
    if cancelled is not None and not cancelled.failed(0):
        # Older than what we have (webhooks arrive out of order): record, keep the window.
        count_only = Update(key=key, sets={"updated_at": now()}, adds={"inbound_count": 1})
        cancelled = ctx.store.record_message(pointer, item, count_only)
    if cancelled is not None:
        return Received(DUPLICATE)
    return Received(
        FOLLOW_UP, [Event("InboundMessageReceived", _inbound_detail(message, opened=False))]
    )


def _own_message(message: InboundMessage, ctx: Context) -> Received:
    pointer = ctx.store.get_pointer(message.id)
    if pointer is not None and "sk" in pointer:
        return Received(ECHO)  # our send, already recorded by the sender
    if message.via_api is not False:
        # Sent through the API (or `self` not given): the echo may have overtaken the
        # sender's own write, or the sender never heard back; it settles that send.
        events = settle_in_flight(ctx, message.chat_id, message.id, body=message.body)
        if events is not None:
            return Received(ECHO, events)
        if message.via_api:
            return _record_own(message, AUTHOR_EXTERNAL, ctx)
    # Typed by a person in the 1MSG app (or an own message no send of ours explains).
    return _record_own(message, AUTHOR_MANAGER, ctx)


def _record_own(message: InboundMessage, author: str, ctx: Context) -> Received:
    at = now()
    item = {
        **_message_item(message, author, "out", at),
        "status": "sent",
        "status_rank": 1,
        "sent_at": at,
    }
    if ctx.store.record_message(_pointer(message, "out", author, False), item) is not None:
        return Received(DUPLICATE)
    if author != AUTHOR_MANAGER:
        return Received(EXTERNAL_MESSAGE)
    events = [
        Event(
            "ManagerMessageRecorded",
            {"chat_id": message.chat_id, "provider_id": message.id, "via": "1msg_app", "at": at},
        )
    ]
    events += mark_human_response(ctx, message.chat_id, at, str(item["SK"]))
    return Received(MANAGER_MESSAGE, events)


def _inbound_detail(message: InboundMessage, *, opened: bool) -> dict[str, object]:
    return {
        "chat_id": message.chat_id,
        "provider_id": message.id,
        "type": message.type,
        "time": message.time,
        "opened_request": opened,
    }
