"""moto's DynamoDB made O(items touched) instead of O(table), for the bench only.

Two things in moto 5.2 cost time in proportion to the whole table, where DynamoDB's cost
depends only on the items a request touches:

* TransactWriteItems deep-copies the *whole table* once per item of the transaction, to
  restore it when a condition fails;
* Query on the table (not an index) lists and sorts *every item* of the table to find the
  partition's.

Under moto every transaction and every Query then gets slower as the table grows, and, since
the local stack serialises DynamoDB requests, so does everything else: a burst grows
quadratically for a reason that is not the bundle's. This patch keeps moto's own code and
semantics but backs up only the items a transaction names (and puts exactly those back when
moto cancels it), and hands Query the partition's items only. It relies on the local stack's
lock around every DynamoDB request (`devstack.aws.serialise_dynamodb`, installed here too), so
nothing else writes meanwhile.

Installed in the bench process only; the product, devstack and the tests never see it.
"""

from __future__ import annotations

import copy
import inspect
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


class _ShallowTables(types.ModuleType):
    """Stands in for the `copy` module inside moto's dynamodb models during a transaction:
    a Table is "copied" as itself (the bench keeps its own per-item backup)."""

    def __init__(self, table_type: type) -> None:
        super().__init__("copy")
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def copy(self, value: Any) -> Any:
        return copy.copy(value)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """(table, hash value, range value) of every item the transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys: list[tuple[Any, Any, Any]] = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        if not isinstance(key, dict) or table.hash_key_attr not in key:
            continue
        try:
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = (
                DynamoType(key[table.range_key_attr])
                if table.range_key_attr is not None and table.range_key_attr in key
                else None
            )
        except Exception:  # noqa: S112 - moto itself reports the malformed key
            continue
        keys.append((table, hash_value, range_value))
    return keys


def _read(table: Any, hash_value: Any, range_value: Any) -> Any:
    if range_value is not None:
        return table.items.get(hash_value, {}).get(range_value)
    return None if table.has_range_key else table.items.get(hash_value)


def _restore(table: Any, hash_value: Any, range_value: Any, old: Any) -> None:
    if range_value is not None:
        if old is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = old
    elif not table.has_range_key:
        if old is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old


def install() -> None:
    """Patch moto's DynamoDB backend (idempotent); `uninstall` puts moto's own back."""
    from devstack.aws import serialise_dynamodb

    serialise_dynamodb()
    with _LOCK:
        if _STATE:
            return
        import moto.dynamodb.models as models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        original = DynamoDBBackend.transact_write_items
        shim = _ShallowTables(Table)

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            backups = [
                (table, h, r, copy.deepcopy(_read(table, h, r)))
                for table, h, r in _touched(self, transact_items)
            ]
            saved = models.copy  # type: ignore[attr-defined]
            models.copy = shim  # type: ignore[attr-defined]
            try:
                original(self, transact_items)
            except BaseException:
                for table, h, r, old in reversed(backups):
                    _restore(table, h, r, old)
                raise
            finally:
                models.copy = saved  # type: ignore[attr-defined]

        _STATE["original"] = original
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _STATE["query"] = Table.query
        Table.query = _partition_query(Table.query)  # type: ignore[method-assign]


def _partition_query(original: Any) -> Any:
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None or not self.range_key_attr:
            return original(self, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: partition  # the instance attribute shadows the method
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    return query


def uninstall() -> None:
    with _LOCK:
        original = _STATE.pop("original", None)
        if original is None:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        Table.query = _STATE.pop("query")  # type: ignore[method-assign]


@contextmanager
def installed() -> Iterator[None]:
    already = bool(_STATE)
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()
