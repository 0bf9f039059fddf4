"""A batch of SQS FIFO records, handled in order, each chat held only as long as it asked.

On SQS a message group is held while any of its messages is in flight. A record that
waits (the burst) or backs off stretches its own visibility to the wait it asked for; the
later records of its group in the batch are not run (they must go out after it) and are
handed back at once (visibility 0), so the group is held by that one record, for that wait,
and not for the queue's whole visibility timeout.

A record starts only while the function has the time to finish it (`reserve_seconds`);
the rest of the batch goes back at once, to run in the next invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from session_reply.errors import RetryableError
from session_reply.observability import count, logger

Record = dict[str, Any]


@dataclass(slots=True)
class BatchResult:
    failed: list[str] = field(default_factory=list)  # messageIds SQS must keep

    def response(self) -> dict[str, list[dict[str, str]]]:
        """The `ReportBatchItemFailures` answer."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failed]}


def process_fifo_batch(
    records: list[Record],
    handle: Callable[[Record], None],
    delay: Callable[[str, int], None],
    *,
    remaining_seconds: Callable[[], float],
    reserve_seconds: float,
    default_retry_after: int = 30,
) -> BatchResult:
    """Run `handle` on each record in order. `handle` raises RetryableError (with its
    `retry_after`) to try the record again later; any other exception also keeps it.
    `delay(receipt_handle, seconds)` sets a kept record's visibility."""
    result = BatchResult()
    held: set[str] = set()  # groups with a record that failed in this batch
    out_of_time = False
    for record in records:
        group = str((record.get("attributes") or {}).get("MessageGroupId") or "")
        message_id = str(record["messageId"])
        receipt = str(record["receiptHandle"])
        # The first record always runs: the function's whole time is ahead of it.
        if not out_of_time and record is not records[0] and remaining_seconds() < reserve_seconds:
            out_of_time = True
            count("SendBatchOutOfTime")
        if out_of_time or group in held:
            # Back at once: its group is held by the record that asked to wait, if any.
            delay(receipt, 0)
            result.failed.append(message_id)
            held.add(group)
            continue
        try:
            handle(record)
        except RetryableError as exc:
            wait = default_retry_after if exc.retry_after is None else exc.retry_after
            delay(receipt, max(0, int(wait)))
            result.failed.append(message_id)
            held.add(group)
        except Exception:
            logger.exception("record failed")
            count("SendRecordCrashed")
            delay(receipt, default_retry_after)
            result.failed.append(message_id)
            held.add(group)
    return result
