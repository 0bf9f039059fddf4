"""SenderFunction: the FIFO send queue's consumer; one SendCommand per record."""

from __future__ import annotations

import gc

# INIT: no garbage collection while the modules load and the clients are built (each pass
# would walk everything loaded so far); at the end of this file what INIT built is frozen
# (later collections skip it) and the collector runs again.
gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from session_reply.errors import PermanentError, RetryableError
from session_reply.flows.context import Context, prepare
from session_reply.flows.process_hook import publish
from session_reply.flows.send_reply import send_reply
from session_reply.observability import count, logger, metrics
from session_reply.queue import MalformedCommandError, SendCommand

# A failed record holds back only the later records of its own chat, not the whole batch;
# a batch where every record failed still answers with batchItemFailures, so the records
# that backed off keep the visibility they set.
processor = SqsFifoPartialProcessor(skip_group_on_error=True)
processor.raise_on_entire_batch_failure = False  # not a constructor argument of the FIFO one


def record_handler(record: SQSRecord) -> None:
    ctx = Context.default()
    try:
        command = SendCommand.from_json(record.body)
    except MalformedCommandError as exc:
        # Not ours to send and no retry mends it: kept for inspection (as webhook bodies
        # are), then dropped, so the chat's later records are not held behind it.
        ctx.store.keep_raw_hook(record.body, f"send command: {exc}", ctx.settings.raw_hook_ttl_days)
        count("SendCommandUnreadable")
        logger.error(
            "send command unreadable, kept and dropped",
            extra={"reason": str(exc), "sqs_message_id": record.message_id},
        )
        return
    logger.append_keys(send_key=command.key, message_group=record.attributes.message_group_id)
    try:
        result = send_reply(command, ctx)
    except RetryableError as exc:
        # Back off by stretching this record's visibility; SQS redelivers it then, and
        # after maxReceiveCount it goes to the DLQ (the ledger item keeps the last error).
        ctx.queue.delay(record.receipt_handle, 30 if exc.retry_after is None else exc.retry_after)
        logger.warning(
            "send will be retried",
            extra={"error": type(exc).__name__, "retry_after": exc.retry_after},
        )
        raise
    except PermanentError as exc:
        count("SendRejected")
        logger.error("send rejected for good", extra={"error": type(exc).__name__})
        return
    logger.info(
        "send done",
        extra={
            "outcome": result.outcome,
            "reason": result.reason,
            "provider_message_id": result.provider_id,
        },
    )
    publish(ctx, result.events)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


prepare(
    secrets=True, onemsg=True, phone=True, language=True
)  # the first request's clients, built in INIT
gc.freeze()
gc.enable()
