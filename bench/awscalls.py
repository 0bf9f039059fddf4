"""Count the AWS calls a piece of work makes, and what each one is billed.

`CallCounter` wraps ``botocore.client.BaseClient._make_api_call`` in this (the bench's)
process while it is active: every client the product creates goes through it, whichever
session made it (boto3's default one, Powertools' parameters provider, ...). It records one
`Call` per API operation (retries inside botocore are one call, as the product sees them).

With ``capacity=True`` it also works out what DynamoDB bills for each call: it reads every
item a write names just before and just after the write (with its own client, not counted) and
applies DynamoDB's rules: a write unit per started KB of the larger image, twice that in a
transaction, a failed condition still billed, a read unit per started 4 KB (half for an
eventually consistent read), plus the global secondary index writes the change causes.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import botocore.exceptions

KB = 1024
SQS_CHUNK = 64 * KB
EVENT_CHUNK = 64 * KB
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan"})


@dataclass
class Call:
    service: str
    operation: str
    ok: bool = True
    error: str | None = None
    items: int = 0  # items in a transaction / entries in a batch
    wru: float = 0.0  # DynamoDB write request units, table
    gsi_wru: float = 0.0  # DynamoDB write request units, global secondary indexes
    rru: float = 0.0  # DynamoDB read request units
    requests: int = 1  # billed requests (SQS: per 64 KB chunk)
    events: int = 0  # EventBridge custom events (per 64 KB chunk of an entry)
    item_bytes: list[int] = field(default_factory=list)  # sizes of the items written

    @property
    def label(self) -> str:
        suffix = f"[{self.items}]" if self.operation == "TransactWriteItems" else ""
        failed = "" if self.ok else f" ({self.error})"
        return f"{self.operation}{suffix}{failed}"


def summarise(calls: list[Call]) -> str:
    """'TransactWriteItems[4], SendMessage, PutEvents' in call order; repeats as 'x2'."""
    counts = Counter(c.label for c in calls)
    seen: list[str] = []
    for call in calls:
        if call.label not in seen:
            seen.append(call.label)
    return ", ".join(f"{label} x{counts[label]}" if counts[label] > 1 else label for label in seen)


# -- DynamoDB item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
#    CapacityUnitCalculations.html) ---------------------------------------------------------


def _number_size(raw: str) -> int:
    digits = raw.lstrip("-").replace(".", "").lstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1 + (1 if raw.startswith("-") else 0)


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB JSON ({"S": ...}, {"N": ...}, ...)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(str(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in raw)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    return len(str(raw))


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / KB)))


def read_units(size: int, consistent: bool) -> float:
    units = float(max(1, math.ceil(size / (4 * KB))))
    return units if consistent else units / 2


@dataclass(frozen=True)
class TableShape:
    keys: tuple[str, ...]
    # index name -> (key attributes, projected attributes or None for ALL)
    indexes: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]]


def _index_image(
    item: Mapping[str, Any] | None,
    table_keys: tuple[str, ...],
    index: tuple[tuple[str, ...], tuple[str, ...] | None],
) -> dict[str, Any] | None:
    keys, projected = index
    if not item or any(k not in item for k in keys):
        return None  # sparse index: the item is not in it
    names = set(item) if projected is None else {*keys, *table_keys, *projected}
    return {k: item[k] for k in sorted(names) if k in item}


def gsi_write_units(
    shape: TableShape, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> float:
    """Index writes a base-table change causes: put, delete, update (2 when a key moved)."""
    units = 0.0
    for index in shape.indexes.values():
        old = _index_image(before, shape.keys, index)
        new = _index_image(after, shape.keys, index)
        if old == new:
            continue
        if old is None and new is not None:
            units += write_units(item_size(new))
        elif new is None and old is not None:
            units += write_units(item_size(old))
        elif old is not None and new is not None:
            moved = any(old.get(k) != new.get(k) for k in index[0])
            units += (
                write_units(item_size(old)) + write_units(item_size(new))
                if moved
                else write_units(max(item_size(old), item_size(new)))
            )
    return units


Snapshot = Callable[[str, dict[str, Any]], dict[str, Any] | None]
Shape = Callable[[str], TableShape]


class CallCounter:
    """Record the AWS calls made in this process while active (``with counter.active():``).

    ``snapshot(table, key)`` and ``shape(table)`` are needed only with ``capacity=True``;
    they must use a client whose calls the counter ignores (they run inside the counter).
    """

    def __init__(
        self,
        *,
        capacity: bool = False,
        snapshot: Snapshot | None = None,
        shape: Shape | None = None,
    ) -> None:
        self.capacity = capacity
        self.snapshot = snapshot
        self.shape = shape
        self.calls: list[Call] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def take(self) -> list[Call]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    @contextmanager
    def active(self) -> Iterator[CallCounter]:
        original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009
        counter = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if getattr(counter._local, "inside", False):
                return original(client, operation, params)
            service = client.meta.service_model.service_name
            counter._local.inside = True
            try:
                return counter._call(original, client, service, operation, params)
            finally:
                counter._local.inside = False

        setattr(botocore.client.BaseClient, "_make_api_call", counted)  # noqa: B010
        try:
            yield self
        finally:
            setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010

    def _call(
        self,
        original: Callable[[Any, str, dict[str, Any]], Any],
        client: Any,
        service: str,
        operation: str,
        params: dict[str, Any],
    ) -> Any:
        call = Call(service, operation)
        writes = self._writes(service, operation, params) if self.capacity else []
        before = [self._snap(table, key) for table, key, _ in writes]
        response: Any = None
        try:
            response = original(client, operation, params)
            return response
        except botocore.exceptions.ClientError as exc:
            call.ok = False
            call.error = str(exc.response.get("Error", {}).get("Code", "ClientError"))
            raise
        finally:
            self._bill(call, params, response, writes, before)
            with self._lock:
                self.calls.append(call)

    # -- billing ------------------------------------------------------------------------
    def _snap(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        assert self.snapshot is not None
        return self.snapshot(table, key)

    def _writes(
        self, service: str, operation: str, params: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any], float]]:
        """(table, key, multiplier) of every item a DynamoDB write names."""
        if service != "dynamodb" or self.shape is None:
            return []
        if operation in DYNAMODB_WRITES:
            table = str(params["TableName"])
            return [(table, self._key(table, params), 1.0)]
        if operation == "TransactWriteItems":
            out = []
            for entry in params.get("TransactItems", []):
                ((kind, op),) = entry.items()
                if kind == "ConditionCheck":
                    continue  # billed as a read
                out.append((str(op["TableName"]), self._key(str(op["TableName"]), op), 2.0))
            return out
        if operation == "BatchWriteItem":
            out = []
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    ((_, op),) = request.items()
                    out.append((str(table), self._key(str(table), op), 1.0))
            return out
        return []

    def _key(self, table: str, op: Mapping[str, Any]) -> dict[str, Any]:
        assert self.shape is not None
        source = op.get("Key") or op.get("Item") or {}
        return {k: source[k] for k in self.shape(table).keys if k in source}

    def _bill(
        self,
        call: Call,
        params: dict[str, Any],
        response: Any,
        writes: list[tuple[str, dict[str, Any], float]],
        before: list[dict[str, Any] | None],
    ) -> None:
        op = call.operation
        if op == "TransactWriteItems":
            call.items = len(params.get("TransactItems", []))
        if call.service == "sqs" and op == "SendMessage":
            size = len(str(params.get("MessageBody", "")).encode()) + item_size(
                _sqs_attributes(params.get("MessageAttributes") or {})
            )
            call.requests = max(1, math.ceil(size / SQS_CHUNK))
        if call.service == "sqs" and op.endswith("Batch"):
            call.items = len(params.get("Entries", []))
        if call.service == "events" and op == "PutEvents":
            entries = params.get("Entries", [])
            call.items = len(entries)
            call.events = sum(
                max(1, math.ceil(len(_entry_bytes(e)) / EVENT_CHUNK)) for e in entries
            )
        if not self.capacity or call.service != "dynamodb":
            return
        for (table, key, factor), old in zip(writes, before, strict=True):
            new = self._snap(table, key)
            size = max(item_size(old), item_size(new))
            call.wru += factor * write_units(size)
            call.item_bytes.append(item_size(new))
            if self.shape is not None:
                call.gsi_wru += gsi_write_units(self.shape(table), old, new)
        if op == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                if "ConditionCheck" in entry:
                    check = entry["ConditionCheck"]
                    old = self._snap(str(check["TableName"]), dict(check["Key"]))
                    call.rru += 2 * read_units(item_size(old), True)
        consistent = bool(params.get("ConsistentRead", False))
        if op == "GetItem":
            item = (response or {}).get("Item") if call.ok else None
            call.rru += read_units(item_size(item), consistent)
        elif op in ("Query", "Scan") and response:
            total = sum(item_size(i) for i in response.get("Items", []))
            call.rru += read_units(total, consistent)


def _sqs_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: {"S": str(v.get("StringValue", v.get("BinaryValue", "")))}
        for name, v in attributes.items()
    }


def _entry_bytes(entry: Mapping[str, Any]) -> bytes:
    return "".join(
        str(entry.get(k, "")) for k in ("Source", "DetailType", "Detail", "Resources", "Time")
    ).encode()
