"""Section 3: warm webhook latency (inbound message, ack) against its floor.

Both sides run in this process against the same moto server, sample by sample:

* bundle: the webhook's ``lambda_handler`` on the HTTP API event (warm container);
* floor: the very AWS requests that invocation made (same operations, same parameters, same
  conditions), replayed with bare boto3 clients and nothing else: no Powertools, no parsing,
  no domain logic. The replay runs in a key space of its own (every partition key
  prefixed), seeded beforehand with a copy of the items the conversation had before the
  bundle's invocation, so every condition comes out the same; its SQS message goes to a
  FIFO queue of its own.

The ratio of the medians (and of the 99th percentiles) is the handler's own overhead on top
of its calls; the number of calls is section 2's business.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from bench.awscalls import Call, CallCounter
from bench.harness import Harness, Invocation
from bench.table import Row, fmt_ms
from bench.units import (
    ACKS,
    TEXTS,
    Batch,
    ack_body,
    check_ok,
    inbound_body,
    phone,
    plain_record,
    provider_id,
)

TARGET_RATIO = 1.5
WARMUP = 3
_PK_IN_QUERY = re.compile(r"(?:^|\W)#?(\w+)\s*=\s*(:\w+)")


@dataclass
class Sampled:
    bundle: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    # The garbage collector's passes of the oldest generation during each bundle sample and
    # their pause (ms): where a tail comes from, when it is the collector's.
    full_gcs: list[int] = field(default_factory=list)
    gc_ms: list[float] = field(default_factory=list)

    def without_full_gc(self, q: float) -> float:
        kept = [b for b, n in zip(self.bundle, self.full_gcs, strict=False) if not n]
        return self.p(kept, q)

    def p(self, which: list[float], q: float) -> float:
        if not which:
            return 0.0
        ordered = sorted(which)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class LatencyResult:
    inbound: Sampled
    ack: Sampled


def percentile(values: list[float], q: float) -> float:
    return Sampled().p(values, q)


class GcWatch:
    """Counts the collector's passes (and their pause) while installed in gc.callbacks."""

    def __init__(self) -> None:
        self.full = 0
        self.ms = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.ms += (time.perf_counter() - self._started) * 1000
        if info.get("generation") == 2:
            self.full += 1

    @contextlib.contextmanager
    def installed(self) -> Any:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


class FloorReplay:
    """The bundle's recorded requests, replayed with bare clients in a shadow key space."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.clients: dict[str, Any] = {}
        for service in ("dynamodb", "sqs", "events", "ssm"):
            self.clients[service] = h.aws.client(service)
        self.hash_key = h.shape(h.table).keys[0]

    def seed(self, prefix: str, partitions: list[str]) -> None:
        """Copy the items of `partitions` into the shadow space (before the timing)."""
        ddb = self.clients["dynamodb"]
        for pk in partitions:
            pages = ddb.get_paginator("query").paginate(
                TableName=self.h.table,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": self.hash_key},
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
            )
            for page in pages:
                for item in page.get("Items", []):
                    item[self.hash_key] = {"S": prefix + item[self.hash_key]["S"]}
                    ddb.put_item(TableName=self.h.table, Item=item)

    def prepare(
        self, calls: list[tuple[Call, dict[str, Any]]], prefix: str
    ) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
        prepared: list[tuple[Callable[..., Any], dict[str, Any]]] = []
        for call, params in calls:
            client = self.clients.get(call.service)
            if client is None:
                continue
            rewritten = self._rewrite(call, copy.deepcopy(params), prefix)
            method = getattr(client, _snake(call.operation))
            prepared.append((method, rewritten))
        return prepared

    def run(self, prepared: list[tuple[Callable[..., Any], dict[str, Any]]]) -> float:
        started = time.perf_counter()
        for method, params in prepared:
            # A condition that failed for the bundle fails here too.
            with contextlib.suppress(botocore.exceptions.ClientError):
                method(**params)
        return time.perf_counter() - started

    def _rewrite(self, call: Call, params: dict[str, Any], prefix: str) -> dict[str, Any]:
        key = self.hash_key

        def fix(item: dict[str, Any] | None) -> None:
            if item and key in item and "S" in item[key]:
                item[key] = {"S": prefix + item[key]["S"]}

        op = call.operation
        if call.service == "dynamodb":
            if op == "PutItem":
                fix(params.get("Item"))
            elif op in ("GetItem", "UpdateItem", "DeleteItem"):
                fix(params.get("Key"))
            elif op == "TransactWriteItems":
                for entry in params.get("TransactItems", []):
                    ((_, inner),) = entry.items()
                    fix(inner.get("Item") or inner.get("Key"))
            elif op == "Query" and "IndexName" not in params:
                names = params.get("ExpressionAttributeNames", {})
                for name, placeholder in _PK_IN_QUERY.findall(params["KeyConditionExpression"]):
                    attribute = names.get(f"#{name}", name)
                    value = params.get("ExpressionAttributeValues", {}).get(placeholder)
                    if attribute == key and value and "S" in value:
                        value["S"] = prefix + value["S"]
        elif call.service == "sqs" and op == "SendMessage":
            params["QueueUrl"] = self.h.floor_queue_url
            dedup = str(params.get("MessageDeduplicationId", ""))
            params["MessageDeduplicationId"] = hashlib.sha256((prefix + dedup).encode()).hexdigest()
        return params


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


class _Recording(CallCounter):
    """Counts calls and keeps their parameters (as sent) for the replay."""

    def __init__(self) -> None:
        super().__init__(capacity=False)
        self.params: list[dict[str, Any]] = []

    def _call(
        self,
        original: Callable[[Any, str, dict[str, Any]], Any],
        client: Any,
        service: str,
        operation: str,
        params: dict[str, Any],
    ) -> Any:
        self.params.append(params)
        return super()._call(original, client, service, operation, params)

    def take_with_params(self) -> list[tuple[Call, dict[str, Any]]]:
        calls = self.take()
        params, self.params = self.params, []
        return list(zip(calls, params, strict=True))


def _sample(
    h: Harness,
    floor: FloorReplay,
    recorder: _Recording,
    sampled: Sampled,
    unit: str,
    event: dict[str, Any],
    partitions: list[str],
    prefix: str,
) -> None:
    floor.seed(prefix, partitions)
    watch = GcWatch()
    with recorder.active(), watch.installed():
        invocation: Invocation = h.invoke(h.webhook, event)
    check_ok(unit, invocation)
    calls = recorder.take_with_params()
    prepared = floor.prepare(calls, prefix)
    sampled.bundle.append(invocation.seconds)
    sampled.full_gcs.append(watch.full)
    sampled.gc_ms.append(watch.ms)
    sampled.floor.append(floor.run(prepared))
    sampled.calls.append(len(calls))


def measure_latency(h: Harness, samples: int = 200, seed: int = 3) -> LatencyResult:
    rng = random.Random(seed)  # noqa: S311 - test data
    floor = FloorReplay(h)
    recorder = _Recording()
    inbound = Sampled()
    warm = Sampled()  # the first few: a fresh container's secret fetch, new connections
    base = 10_000
    for i in range(-WARMUP, samples):
        number = phone(base + WARMUP + i)
        message_id = provider_id(rng)
        body = inbound_body(number, message_id, TEXTS[i % len(TEXTS)])
        _sample(
            h,
            floor,
            recorder,
            inbound if i >= 0 else warm,
            "inbound",
            h.hook_event(body),
            [f"LEAD#{number}@c.us", f"PMID#{message_id}"],
            f"FLOOR{i + WARMUP}|",
        )
    # Acks need sent messages: a batch of conversations up to their echo, then the acks.
    chats = max(1, samples // len(ACKS))
    batch = Batch(h, list(range(20_000, 20_000 + chats)), rng)
    batch.firsts(plain_record)
    batch.drain_sender(plain_record)
    batch.echoes(plain_record)
    ack = Sampled()
    n = 0
    for status in ACKS:
        for chat in batch.chats:
            n += 1
            _sample(
                h,
                floor,
                recorder,
                ack,
                f"ack {status}",
                h.hook_event(ack_body(chat.phone, chat.sent_id, status)),
                [f"LEAD#{chat.chat_id}", f"PMID#{chat.sent_id}"],
                f"FLOORACK{n}|",
            )
    return LatencyResult(inbound, ack)


def latency_rows(result: LatencyResult) -> list[Row]:
    rows: list[Row] = []
    for name, sampled in (("inbound message", result.inbound), ("ack", result.ack)):
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            bundle = sampled.p(sampled.bundle, q)
            floor = sampled.p(sampled.floor, q)
            ratio = bundle / floor if floor else None
            calls = statistics.fmean(sampled.calls) if sampled.calls else 0.0
            rows.append(
                Row(
                    section="3 warm latency",
                    measure=f"webhook, {name}, {label}",
                    bundle=fmt_ms(bundle),
                    floor=f"{fmt_ms(floor)}: the same {calls:.3g} calls, bare boto3",
                    ratio=ratio,
                    target=f"<= {TARGET_RATIO}x",
                    ok=None if ratio is None else ratio <= TARGET_RATIO,
                    notes=f"{len(sampled.bundle)} samples, in process, moto server, interleaved"
                    + (_collector_note(sampled, q) if label == "p99" else ""),
                )
            )
    return rows


def _collector_note(sampled: Sampled, q: float) -> str:
    """How much of the tail is the garbage collector's (a full pass walks every object the
    process holds: moto's tables too when it runs in this process, see `bench.harness`)."""
    with_full = sum(1 for n in sampled.full_gcs if n)
    if not sampled.full_gcs:
        return ""
    worst = max(sampled.gc_ms) if sampled.gc_ms else 0.0
    return (
        f"; collector: a full pass during {with_full} of {len(sampled.full_gcs)} samples "
        f"(longest pause {worst:.1f} ms); {label_p(q)} of the others "
        f"{fmt_ms(sampled.without_full_gc(q))}"
    )


def label_p(q: float) -> str:
    return f"p{round(q * 100)}"
