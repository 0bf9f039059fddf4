"""SenderFunction: the FIFO send queue's consumer; one SendCommand per record.

INIT loads only what every invocation needs (the queue, the settings, the DynamoDB
client). A new auto-reply's first invocation only waits out the client's burst: it sets
the record's visibility and returns. The send path (the flows, the 1MSG client and its TLS
context, the token, the phone-number check, the subject rules and the language model) is
loaded once per container after the first batch is handled (`prepare_send`), so it runs
while that record waits, not before the container takes its first event; a record that
sends at once (a manager's message) loads what it needs as it goes.
"""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.errors import PermanentError, RetriesExhaustedError, RetryableError
from session_reply.fifo import Record, process_fifo_batch
from session_reply.flows.context import Context, prepare, prepare_send
from session_reply.observability import count, lead_ref, logger, metrics, ref
from session_reply.queue import MalformedCommandError, SendCommand, dedup_id, send_key


def record_handler(record: Record) -> None:
    from session_reply.flows.send_reply import send_reply  # loaded once (see the docstring)

    ctx = Context.default()
    body, message_id = str(record.get("body") or ""), str(record.get("messageId") or "")
    try:
        command = SendCommand.from_json(body)
    except MalformedCommandError as exc:
        # Not ours to send and no retry mends it: kept for inspection (as webhook bodies
        # are), then dropped, so the chat's later records are not held behind it.
        ctx.store.keep_raw_hook(body, f"send command: {exc}", ctx.settings.raw_hook_ttl_days)
        count("SendCommandUnreadable")
        logger.error(
            "send command unreadable, kept and dropped",
            extra={"reason": str(exc), "sqs_message_id": message_id},
        )
        return
    # Digests only: the message group is the chat id (the client's phone), and the send key
    # holds WhatsApp's id of the client's message (the number inside) or the caller's key.
    logger.append_keys(send_ref=ref(send_key(command)), lead_ref=lead_ref(command.chat_id))
    try:
        result = send_reply(command, ctx)
    except RetryableError as exc:
        # Tried again after `retry_after` (the record's visibility); see session_reply.fifo.
        logger.warning(
            "send will be retried",
            extra={"error": type(exc).__name__, "retry_after": exc.retry_after},
        )
        raise
    except RetriesExhaustedError:
        # Tried as often as allowed: to the dead-letter queue (alarmed), deleted here.
        attrs = record.get("attributes") or {}
        ctx.queue.dead_letter(
            ctx.settings.dead_letter_queue_url,
            body,
            str(attrs.get("MessageGroupId") or command.chat_id),
            str(attrs.get("MessageDeduplicationId") or dedup_id(message_id)),
        )
        logger.error("send moved to the dead-letter queue")
        return
    except PermanentError as exc:
        count("SendRejected")
        logger.error("send rejected for good", extra={"error": type(exc).__name__})
        return
    logger.info(
        "send done",
        extra={
            "outcome": result.outcome,
            "reason": result.reason,
            "provider_ref": ref(result.provider_id) if result.provider_id else None,
        },
    )
    ctx.bus.publish_best_effort(result.events)


def _reserve_seconds() -> float:
    """What one record may need: sendMessage, the template fallback and a history read,
    each up to the 1MSG timeout, plus the DynamoDB writes."""
    return 3 * Context.default().settings.onemsg_timeout_seconds + 5


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    queue = Context.default().queue
    result = process_fifo_batch(
        event.get("Records") or [],
        record_handler,
        queue.delay,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
        reserve_seconds=_reserve_seconds(),
    )
    if context.get_remaining_time_in_millis() / 1000 > _reserve_seconds():
        prepare_send()  # once per container; the records' visibility is already set
    return result.response()


prepare(events=False, queue=True)  # what the first invocation needs, built in INIT
gc.freeze()
gc.enable()
