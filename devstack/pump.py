"""The event source mappings Lambda runs for us: SQS pollers and the schedule timer.

moto has no SQS -> Lambda trigger, so the pump does what the Lambda poller does: receive up to
BatchSize records, hand the function a real SQS event, delete only the records that succeeded
(`batchItemFailures`), and leave the failed ones to the queue's own visibility timeout and
redrive. Up to `MaximumConcurrency` pollers run per source, as Lambda scales them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from devstack.runtime import FunctionError
from devstack.template import ScheduleSource, SqsSource

log = logging.getLogger("devstack.pump")

Invoke = Callable[[str, dict[str, Any]], Any]
ClientFactory = Callable[[str], Any]

DEFAULT_CONCURRENCY = 2  # Lambda starts five pollers; two keep a laptop quiet
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
    "AWSTraceHeader",
)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS ReceiveMessage result in the shape Lambda gives the function."""
    attributes = {
        k: str(v) for k, v in (message.get("Attributes") or {}).items() if k in SYSTEM_ATTRIBUTES
    }
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(  # noqa: S324 - SQS's checksum
            message["Body"].encode()
        ).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's ``StringValue`` etc. become Lambda's camelCase ``stringValue`` etc."""
    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": list(value.get("BinaryListValues") or []),
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        import base64

        raw = value["BinaryValue"]
        out["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
    return out


def succeeded_ids(
    records: Sequence[dict[str, Any]], result: Any, report_failures: bool
) -> set[str]:
    """Which records Lambda deletes after the function returned ``result``.

    With ReportBatchItemFailures, the ids in ``batchItemFailures`` stay; an invalid response (an
    id that is empty or not in the batch) fails the whole batch, as Lambda treats it.
    """
    ids = {r["messageId"] for r in records}
    if not report_failures or not isinstance(result, dict):
        return ids
    failures = result.get("batchItemFailures")
    if failures is None:
        return ids
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return set()
        failed.add(str(identifier))
    return ids - failed


class _SqsPoller:
    def __init__(self, pump: Pump, source: SqsSource, queue_url: str, queue_arn: str) -> None:
        self.pump = pump
        self.source = source
        self.queue_url = queue_url
        self.queue_arn = queue_arn

    def run(self) -> None:
        sqs = self.pump.client("sqs")
        while not self.pump.stopping.is_set():
            try:
                self._once(sqs)
            except Exception:
                # A poller never dies on one bad turn (e.g. the endpoint restarting).
                if not self.pump.stopping.is_set():
                    log.exception("poller for %s failed; retrying", self.source.function)
                    self.pump.stopping.wait(1)

    def _receive(self, sqs: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        wait = 1
        while len(messages) < self.source.batch_size:
            got = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(got)
            if len(got) < 10:
                break
            wait = 0
        return messages

    def _once(self, sqs: Any) -> None:
        # Received messages are invisible until deleted, so the queue's NotVisible count
        # covers them in `idle`; the counter covers the moment between delete and return.
        messages = self._receive(sqs)
        if not messages:
            return
        with self.pump.counter:
            records = [sqs_record(m, self.queue_arn, self.pump.region) for m in messages]
            try:
                result = self.pump.invoke(self.source.function, {"Records": records})
            except FunctionError as exc:
                # Lambda deletes nothing when the function fails; the records come back after
                # their visibility timeout (or the function's own ChangeMessageVisibility).
                log.warning(
                    "%s failed a batch of %d: %s",
                    self.source.function,
                    len(records),
                    exc.error_type,
                )
                return
            done = succeeded_ids(records, result, self.source.report_batch_item_failures)
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                for i, r in enumerate(records)
                if r["messageId"] in done
            ]
            for start in range(0, len(entries), 10):
                sqs.delete_message_batch(
                    QueueUrl=self.queue_url, Entries=entries[start : start + 10]
                )


class _InFlight:
    """Counts turns that may hold received-but-undeleted messages, for `Pump.idle`."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.value += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.value -= 1


class Pump:
    """Runs every SQS and Schedule event source of the template against the invoker."""

    def __init__(
        self,
        invoke: Invoke,
        client: ClientFactory,
        sqs_sources: Sequence[SqsSource],
        queue_urls: dict[str, str],
        queue_arns: dict[str, str],
        *,
        schedule_sources: Sequence[ScheduleSource] = (),
        region: str = "us-east-1",
        account_id: str = "123456789012",
        schedule_seconds: float | None = None,
    ) -> None:
        self.invoke = invoke
        self.client = client
        self.sqs_sources = [s for s in sqs_sources if s.enabled]
        self.schedule_sources = [s for s in schedule_sources if s.enabled]
        self.queue_urls = queue_urls
        self.queue_arns = queue_arns
        self.region = region
        self.account_id = account_id
        self.schedule_seconds = schedule_seconds or float(
            os.environ.get("LOCAL_SCHEDULE_SECONDS", "10")
        )
        self.stopping = threading.Event()
        self.counter = _InFlight()
        self._threads: list[threading.Thread] = []

    def start(self) -> Pump:
        for source in self.sqs_sources:
            poller = _SqsPoller(
                self, source, self.queue_urls[source.queue], self.queue_arns[source.queue]
            )
            for n in range(source.maximum_concurrency or DEFAULT_CONCURRENCY):
                self._spawn(poller.run, f"sqs-{source.function}-{n}")
        for schedule in self.schedule_sources:
            self._spawn(functools.partial(self._tick, schedule), f"schedule-{schedule.function}")
        return self

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()

    # -- schedules ------------------------------------------------------------------------
    def scheduled_event(self, source: ScheduleSource) -> dict[str, Any]:
        if source.input is not None:
            return dict(json.loads(source.input))
        rule = f"session-reply-local-{source.function}-{source.event_name}"[:64]
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:{self.account_id}:rule/{rule}"],
            "detail": {},
        }

    def _tick(self, source: ScheduleSource) -> None:
        while not self.stopping.wait(self.schedule_seconds):
            with self.counter:
                try:
                    self.invoke(source.function, self.scheduled_event(source))
                except FunctionError as exc:
                    log.warning("%s (schedule) failed: %s", source.function, exc.error_type)

    # -- waiting --------------------------------------------------------------------------
    def idle(self) -> bool:
        """Nothing in flight and nothing waiting, visible or not, in any source queue."""
        if self.counter.value:
            return False
        sqs = self.client("sqs")
        for source in self.sqs_sources:
            attrs = sqs.get_queue_attributes(
                QueueUrl=self.queue_urls[source.queue],
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if any(int(v) for v in attrs.values()):
                return False
        return self.counter.value == 0

    def drain(self, timeout: float = 20.0, *, settle: float = 0.2) -> bool:
        """Wait until `idle` holds twice in a row; False if it did not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                time.sleep(settle)
                if self.idle():
                    return True
            time.sleep(0.05)
        return False
