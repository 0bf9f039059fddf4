"""moto's DynamoDB, made to cost what the items a request touches cost, as DynamoDB does.

moto 5.2 spends time and memory in proportion to the whole table in two places:

* ``TransactWriteItems`` deep-copies every table the transaction names before it starts, to
  put the copy back if a condition fails. With thousands of chats stored, each webhook's
  transaction copies them all: the local stack slows to about a message a second and its
  memory grows by gigabytes.
* ``Query`` lists and sorts every item of the table to find one partition's (and, on an
  index, every item to find the ones the index holds).

`install` keeps moto's own transaction code (its conditions, `CancellationReasons`, the
`ReturnValuesOnConditionCheckFailure` items, its validation errors) and changes only what it
backs up: the items the transaction names, copied before it runs and put back, exactly those,
when moto cancels it. The table itself is never copied, so a write another request made to
another item is never rolled back with it either. A Query on the table reads only its
partition; a Query on an index, only the items that carry the index's key (of one partition,
for an index keyed on the table's own hash key).

`serialise` makes the server handle one DynamoDB request at a time. It is still needed:
moto applies a transaction item by item, so without it a reader could see half a
transaction, two transactions on one item could interleave, and a Query could iterate a
partition while another thread adds to it. DynamoDB isolates a transaction from every other
write and from GetItem; the lock gives the local stack the same guarantee. Under the GIL,
letting reads run beside each other would win little: moto's work is pure Python.

The local stack (`devstack.aws.LocalAws`) installs both on its moto server; the bench measures
that stack. The product never sees this module.
"""

from __future__ import annotations

import copy
import inspect
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_INSTALL_LOCK = threading.Lock()
_ORIGINALS: dict[str, Any] = {}
_DYNAMODB_LOCK = threading.Lock()
_LOCAL = threading.local()  # per thread: inside a narrowed transaction; a query's item list


def serialise() -> None:
    """Make moto's DynamoDB handle one request at a time, as DynamoDB's isolation promises."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "_devstack_serialised", False):
        return

    def call_action(self: DynamoHandler) -> Any:
        with _DYNAMODB_LOCK:
            return original(self)

    call_action._devstack_serialised = True  # type: ignore[attr-defined]
    setattr(DynamoHandler, "call_action", call_action)  # noqa: B010 - patching a class


class _CopyWithoutTables(types.ModuleType):
    """Stands in for the `copy` module in moto's DynamoDB models. Inside a narrowed
    transaction a Table "copies" as itself (moto's restore then puts back the same object,
    after `_restore` has undone the named items); every other copy is a real one."""

    def __init__(self, table_type: type) -> None:
        super().__init__("copy")
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if getattr(_LOCAL, "narrowed", False) and isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def copy(self, value: Any) -> Any:
        return copy.copy(value)


Touched = tuple[Any, Any, Any]  # (table, hash value, range value)


def touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[Touched]:
    """Every item the transaction names (by its Put's item or its Key); malformed entries
    are left to moto, which reports them."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    keys: list[Touched] = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
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
            partition = table.items.get(hash_value)
            if partition is not None:
                partition.pop(range_value, None)
                if not partition:
                    del table.items[hash_value]
        else:
            table.items[hash_value][range_value] = old
    elif not table.has_range_key:
        if old is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old


def _narrow_transactions(original: Callable[..., None]) -> Callable[..., None]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        named = touched(self, transact_items)
        backups = [(t, h, r, copy.deepcopy(_read(t, h, r))) for t, h, r in named]
        # A cancelled transaction leaves no stream records, as moto's table copy ensured.
        streams = {
            id(t): (t.stream_shard, len(t.stream_shard.items))
            for t, _, _ in named
            if t.stream_shard is not None
        }
        _LOCAL.narrowed = True
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, old in reversed(backups):
                _restore(table, hash_value, range_value, old)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            _LOCAL.narrowed = False

    transact_write_items._devstack_narrowed = True  # type: ignore[attr-defined]
    return transact_write_items


def _partition_query(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        index_name = bound.arguments.get("index_name")
        hash_key = bound.arguments.get("hash_key")
        if index_name:
            index = {i.name: i for i in self.all_indexes()}.get(index_name)
            schema = index.schema if index is not None else []
            hash_attrs = [k["AttributeName"] for k in schema if k["KeyType"] == "HASH"]
            if not hash_attrs:
                return original(self, *args, **kwargs)
            # moto sorts what it finds on an index itself; only items with the key qualify.
            # An index keyed on the table's own hash key holds one partition's items only.
            attrs = [k["AttributeName"] for k in schema]
            one_partition = hash_attrs == [self.hash_key_attr] and self.range_key_attr
            candidates = (
                self.items.get(hash_key, {}).values()
                if one_partition and hash_key is not None
                else _every_item(self)
            )
            _LOCAL.items = [item for item in candidates if all(a in item.attrs for a in attrs)]
        elif hash_key is not None and self.range_key_attr:
            # moto sorts a partition's items by range key itself.
            _LOCAL.items = list(self.items.get(hash_key, {}).values())
        else:
            return original(self, *args, **kwargs)
        try:
            return original(self, *args, **kwargs)
        finally:
            del _LOCAL.items

    query._devstack_narrowed = True  # type: ignore[attr-defined]
    return query


def _every_item(table: Any) -> Iterator[Any]:
    if table.range_key_attr:
        for partition in table.items.values():
            yield from partition.values()
    else:
        yield from table.items.values()


def _all_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def all_items(self: Any) -> Any:
        items = getattr(_LOCAL, "items", None)
        return original(self) if items is None else items

    return all_items


def install() -> None:
    """Narrow moto's transactions and queries, and serialise its DynamoDB (idempotent)."""
    serialise()
    with _INSTALL_LOCK:
        if _ORIGINALS:
            return
        import moto.dynamodb.models as models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        _ORIGINALS["transact_write_items"] = DynamoDBBackend.transact_write_items
        _ORIGINALS["query"] = Table.query
        _ORIGINALS["all_items"] = Table.all_items
        _ORIGINALS["copy"] = models.copy  # type: ignore[attr-defined]
        models.copy = _CopyWithoutTables(Table)  # type: ignore[attr-defined]
        DynamoDBBackend.transact_write_items = _narrow_transactions(  # type: ignore[method-assign]
            DynamoDBBackend.transact_write_items
        )
        Table.query = _partition_query(Table.query)  # type: ignore[method-assign]
        Table.all_items = _all_items(Table.all_items)  # type: ignore[method-assign]


def uninstall() -> None:
    """moto's own transactions and queries again (the lock stays: it only adds isolation)."""
    with _INSTALL_LOCK:
        if not _ORIGINALS:
            return
        import moto.dynamodb.models as models
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.models.table import Table

        DynamoDBBackend.transact_write_items = _ORIGINALS.pop("transact_write_items")  # type: ignore[method-assign]
        Table.query = _ORIGINALS.pop("query")  # type: ignore[method-assign]
        Table.all_items = _ORIGINALS.pop("all_items")  # type: ignore[method-assign]
        models.copy = _ORIGINALS.pop("copy")  # type: ignore[attr-defined]


def installed_now() -> bool:
    return bool(_ORIGINALS)


@contextmanager
def installed() -> Iterator[None]:
    already = installed_now()
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()


@contextmanager
def moto_as_shipped() -> Iterator[None]:
    """moto's own code for the block (tests compare the narrowed one against it)."""
    was = installed_now()
    uninstall()
    try:
        yield
    finally:
        (install if was else uninstall)()
