"""Section 2: AWS calls per unit of work, with what DynamoDB, SQS and EventBridge bill for
them, the handler's duration and its log bytes (the inputs of the cost section).

Each unit runs through the real handler in this process against the moto server; the calls
are counted by `bench.awscalls.CallCounter` (1MSG's HTTP call is not an AWS call and is
counted on the simulator). A first conversation warms the container up: what only it makes
(the SSM secret, cached 5 minutes per container) is reported apart.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.awscalls import Call, CallCounter, item_size, summarise
from bench.harness import Harness, Invocation
from bench.table import Row, fmt_ms
from bench.units import (
    ACK,
    ACKS,
    ECHO,
    FIRST,
    FOLLOW_UP,
    SEND,
    SENDER_IDLE,
    Batch,
    Step,
    Unit,
    check_ok,
    unit_name,
)

# The fewest AWS calls each unit's work needs, and why (the ratio's denominator).
MINIMUM: dict[str, tuple[int, str]] = {
    FIRST: (3, "TransactWriteItems (marker+message+session+lead), SendMessage, PutEvents"),
    FOLLOW_UP: (2, "TransactWriteItems (marker+message+lead), PutEvents"),
    SEND: (3, "claim (lead check in the same transaction), finish transaction, PutEvents"),
    ECHO: (1, "GetItem of the pointer"),
    ACK: (2, "conditional UpdateItem (dedupe + forward-only status), PutEvents"),
}
# The tracker's targets (the 1MSG call aside).
TARGET: dict[str, int] = {FIRST: 4, FOLLOW_UP: 3, ACK: 3, SEND: 4}


@dataclass
class UnitStats:
    unit: str
    samples: list[list[Call]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    log_bytes: list[int] = field(default_factory=list)
    log_lines: list[int] = field(default_factory=list)
    by_status: dict[str, list[list[Call]]] = field(default_factory=dict)

    def mean(self, value: Callable[[list[Call]], float]) -> float:
        return statistics.fmean(value(s) for s in self.samples) if self.samples else 0.0

    @property
    def calls(self) -> float:
        return self.mean(len)

    @property
    def most_calls(self) -> int:
        return max((len(s) for s in self.samples), default=0)

    @property
    def ops(self) -> str:
        """The call list most samples made."""
        if not self.samples:
            return ""
        common = Counter(summarise(s) for s in self.samples).most_common(1)
        return common[0][0]

    @property
    def wru(self) -> float:
        return self.mean(lambda s: sum(c.wru for c in s))

    @property
    def gsi_wru(self) -> float:
        return self.mean(lambda s: sum(c.gsi_wru for c in s))

    @property
    def rru(self) -> float:
        return self.mean(lambda s: sum(c.rru for c in s))

    def requests(self, service: str) -> float:
        return self.mean(lambda s: sum(c.requests for c in s if c.service == service))

    @property
    def events(self) -> float:
        return self.mean(lambda s: sum(c.events for c in s))

    @property
    def item_bytes(self) -> int:
        return max((b for s in self.samples for c in s for b in c.item_bytes), default=0)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0

    @property
    def mean_log_bytes(self) -> float:
        return statistics.fmean(self.log_bytes) if self.log_bytes else 0.0

    @property
    def mean_log_lines(self) -> float:
        return statistics.fmean(self.log_lines) if self.log_lines else 0.0


@dataclass
class WorkResult:
    units: dict[str, UnitStats]
    first_use: list[Call]  # calls only a fresh container's first invocation made
    metric_names: set[str]
    onemsg_calls_per_send: float
    conversations: int


class Recorder:
    """A `bench.units.Record` that keeps each unit's calls (with a counter) or its duration
    and log bytes (without one: the timing pass has nothing in the way)."""

    def __init__(self, counter: CallCounter | None) -> None:
        self.counter = counter
        self.units: dict[str, UnitStats] = {}

    def __call__(self, unit: Unit, step: Step) -> Invocation:
        if self.counter is None:
            invocation = step()
            calls: list[Call] = []
        else:
            self.counter.take()
            with self.counter.active():
                invocation = step()
            calls = self.counter.take()
        name = unit_name(unit)
        check_ok(name, invocation)
        stats = self.units.setdefault(name, UnitStats(name))
        if self.counter is None:
            stats.seconds.append(invocation.seconds)
            stats.log_bytes.append(invocation.log_bytes)
            stats.log_lines.append(invocation.log_lines)
        else:
            stats.samples.append(calls)
        return invocation


def _merge_acks(units: dict[str, UnitStats]) -> None:
    """`ack:sent`, `ack:delivered`, `ack:read` -> one ACK entry, keeping them by status."""
    merged = units.setdefault(ACK, UnitStats(ACK))
    for status in ACKS:
        one = units.pop(f"{ACK}:{status}", None)
        if one is None:
            continue
        merged.samples += one.samples
        merged.seconds += one.seconds
        merged.log_bytes += one.log_bytes
        merged.log_lines += one.log_lines
        merged.by_status[status] = one.samples


def measure_work(h: Harness, conversations: int = 5, seed: int = 7) -> WorkResult:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    # A fresh container: its first conversation also fetches the webhook secret / token.
    warm = Recorder(h.counter(capacity=False))
    Batch(h, [1], rng).run_all(warm)
    first_calls = [c for s in warm.units.values() for sample in s.samples for c in sample]
    counted = Recorder(h.counter(capacity=True))
    Batch(h, list(range(100, 100 + conversations)), rng).run_all(counted)
    timed = Recorder(None)
    calls_before = len(h.simulator.calls())
    Batch(h, list(range(200, 200 + conversations)), rng).run_all(timed)
    onemsg = (len(h.simulator.calls()) - calls_before) / max(1, conversations)
    units = counted.units
    _merge_acks(units)
    _merge_acks(timed.units)
    for name, stats in timed.units.items():
        target = units.setdefault(name, UnitStats(name))
        target.seconds, target.log_bytes, target.log_lines = (
            stats.seconds,
            stats.log_bytes,
            stats.log_lines,
        )
    steady = Counter(c.operation for s in units.values() for sample in s.samples for c in sample)
    first_only = [c for c in first_calls if c.operation not in steady]
    return WorkResult(units, first_only, set(h.sink.metric_names), onemsg, conversations)


def work_rows(result: WorkResult) -> list[Row]:
    rows: list[Row] = []
    names = {
        FIRST: "AWS calls per first inbound message",
        FOLLOW_UP: "AWS calls per follow-up message",
        ACK: "AWS calls per ack (sent/delivered/read)",
        SEND: "AWS calls per send (1MSG call aside)",
        ECHO: "AWS calls per echo of our reply",
    }
    for unit in (FIRST, FOLLOW_UP, ACK, SEND, ECHO):
        stats = result.units[unit]
        minimum, why = MINIMUM[unit]
        target = TARGET.get(unit)
        worst = stats.most_calls
        notes = stats.ops
        if unit == ACK:
            per = ", ".join(
                f"{s}: {summarise(stats.by_status[s][0])}" for s in ACKS if stats.by_status.get(s)
            )
            notes = per
        if unit == SEND:
            notes += f"; + {result.onemsg_calls_per_send:g} 1MSG sendMessage"
        bundle = (
            f"{stats.calls:g} calls"
            if stats.calls == worst
            else f"{stats.calls:.2f} calls (max {worst})"
        )
        rows.append(
            Row(
                section="2 AWS calls",
                measure=names[unit],
                bundle=bundle,
                floor=f"min {minimum}: {why}",
                ratio=stats.calls / minimum,
                target="" if target is None else f"<= {target} calls",
                ok=None if target is None else worst <= target,
                notes=notes,
            )
        )
    idle = result.units.get(SENDER_IDLE)
    if idle is not None and idle.samples:
        per_reply = len(idle.samples) / max(1, result.conversations)
        rows.append(
            Row(
                section="2 AWS calls",
                measure="sender runs that send nothing, per reply",
                bundle=f"{per_reply:g} runs x {idle.calls:g} calls",
                floor="0 (FIFO queues have no per-message delay: the wait costs a run)",
                notes=f"{idle.ops}; the burst wait (BurstSeconds) re-delivers the record",
            )
        )
    if result.first_use:
        rows.append(
            Row(
                section="2 AWS calls",
                measure="extra calls of a container's first invocation",
                bundle=f"{len(result.first_use)} calls",
                notes=summarise(result.first_use) + " (cached 5 min per container)",
            )
        )
    return rows


def duration_rows(result: WorkResult) -> list[Row]:
    """Durations of the units in-process (no counter), for the record: inputs of the cost."""
    parts = [
        f"{u} {fmt_ms(result.units[u].median_seconds)}" for u in (FIRST, FOLLOW_UP, SEND, ECHO, ACK)
    ]
    logs = [f"{u} {result.units[u].mean_log_bytes:.0f} B" for u in (FIRST, SEND, ACK)]
    return [
        Row(
            section="2 AWS calls",
            measure="handler time per unit (moto server, warm, p50)",
            bundle=", ".join(parts),
            notes="log bytes/invocation: " + ", ".join(logs),
        )
    ]


def measure_poller(h: Harness, runs: int = 3) -> UnitStats:
    """One scheduled StatusPoller run on the data the conversations left: its calls (with
    capacity) once, then its duration over a few more runs."""
    poller = h.load("status_poller")
    event = {
        "version": "0",
        "id": "bench",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
    stats = UnitStats("poller")
    h.invoke(poller, event)  # first run of the container: its clients, its secret
    counter = h.counter(capacity=True)
    with counter.active():
        h.invoke(poller, event)
    stats.samples.append(counter.take())
    for _ in range(runs):
        invocation = h.invoke(poller, event)
        stats.seconds.append(invocation.seconds)
        stats.log_bytes.append(invocation.log_bytes)
        stats.log_lines.append(invocation.log_lines)
    return stats


def table_bytes(h: Harness) -> tuple[int, int]:
    """(bytes billed as storage, items) of the state table: item sizes + 100 B per item."""
    total = items = 0
    for page in h.client("dynamodb").get_paginator("scan").paginate(TableName=h.table):
        for item in page.get("Items", []):
            total += item_size(item) + 100
            items += 1
    return total, items


def single_write_rows(h: Harness) -> list[Row]:
    """Option: a send outcome written alone (a refused, skipped, retried or QUEUED send) as
    a plain conditional write, against the one-item transaction the store wrote before;
    write units as DynamoDB bills them, counted on the moto server."""
    from session_reply.store import SENDING, Store, Update, lead_pk, out_sk

    chat, send_key = "77010000000@c.us", "api:bench-single-write"
    store = Store(h.table)
    item = {"PK": {"S": lead_pk(chat)}, "SK": {"S": out_sk(send_key)}}
    outcome = Update(
        key={"PK": lead_pk(chat), "SK": out_sk(send_key)},
        sets={"state": "QUEUED"},
        condition="#attempt = :attempt",
        values={":attempt": 1},
    )
    units: dict[str, float] = {}
    for mode in ("before", "now"):
        state = {"state": {"S": SENDING}, "attempt": {"N": "1"}}
        store.client.put_item(TableName=h.table, Item={**item, **state})
        counter = h.counter(capacity=True)
        with counter.active():
            if mode == "now":
                store.finish_send(chat, send_key, 1, {"state": "QUEUED"})
            else:
                store._call("transact_write_items", TransactItems=[store._update(outcome)])
        units[mode] = sum(c.wru + c.gsi_wru for c in counter.take())
    saved = units["before"] - units["now"]
    return [
        Row(
            section="2 AWS calls",
            measure="option: a send outcome written alone is a conditional write, not a "
            "one-item transaction",
            bundle=f"{units['now']:g} WRU now, {units['before']:g} before",
            floor=f"{saved:g} WRU saved per such outcome",
            ratio=units["now"] / units["before"] if units["before"] else None,
            notes="refused, skipped, retried and QUEUED sends; the happy path's two "
            "transactions carry guarantees and stay (README)",
        )
    ]
