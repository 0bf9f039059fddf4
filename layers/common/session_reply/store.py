"""DynamoDB access: the single table of leads, sessions, messages, markers and the send ledger.

Every guarantee that two concurrent invocations could break is enforced here by a
conditional write or a transaction, never by read-then-write.

Items (PK / SK):
  LEAD#<chatId> / LEAD                      the lead and its current session
  LEAD#<chatId> / SESSION#<time>#<msgId>    one per request, opened by a client message
  LEAD#<chatId> / MSG#<time>#<msgId>        a message that came through the webhook
  LEAD#<chatId> / OUT#<sendKey>             a message we send: ledger and message in one
  PMID#<providerId> / PMID                  pointer to the message; its conditional put is
                                            the inbound dedupe and the ack -> message join
  PMID#<providerId> / STATUS#<status>       one per status event: dedupe, history, and the
                                            parking place of statuses that arrive early
  HOOK#<date> / <receivedAt>#<uuid>         a webhook body kept for inspection (TTL)

A chat's messages (MSG# and OUT# items) also carry `timeline` (`<time>#<SK>`), the range key
of the keys-only index `Timeline` (hash key PK): the lead API pages through a chat in time
order without reading the rest of it. OUT# keys are send keys, not times, hence the index.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from session_reply.domain.status import LEAD_NEW, LEAD_STATUS_RANK, MESSAGE_STATUS_RANK, UNKNOWN
from session_reply.errors import RetryableError, StoreUnavailableError

Item = dict[str, Any]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
# Send-ledger states. A send key moves PENDING -> SENDING -> one of the final states;
# SENDING whose lease expired may be claimed again, and that claim reconciles first (the
# last attempt never recorded its outcome). UNKNOWN: 1MSG may have it and nothing can tell;
# never sent again, settled by any echo or status that still comes.
PENDING, SENDING, ACCEPTED, QUEUED, FAILED, SKIPPED, UNKNOWN_SEND = (
    "PENDING",
    "SENDING",
    "ACCEPTED",
    "QUEUED",
    "FAILED",
    "SKIPPED",
    "UNKNOWN",
)
FINAL_SEND_STATES = frozenset({ACCEPTED, FAILED, SKIPPED})
# States in which an echo or a status of 1MSG can still settle the send.
UNSETTLED_SEND_STATES = (SENDING, QUEUED, UNKNOWN_SEND)
# Sparse index of sent messages still waiting for delivery: only items that carry these
# attributes are in it, so the poller queries a short list instead of scanning the table.
AWAITING_INDEX = "AwaitingStatus"
AWAITING_PK = "AWAIT"
AWAITING_ATTRS = ("awaiting_pk", "awaiting_since")
AWAITING_HUMAN = "HUMAN"  # leads auto-replied and waiting for a person (escalation)
AWAITING_MANAGER = "UNASSIGNED"  # leads no manager could take yet
AWAITING_REPLY = "REPLY"  # leads whose request opened and whose reply the sender has not taken
# The manager whose capacity this lead's request counts against, and that request: set with
# the assignment, removed (and the manager's load given back) by the first human response,
# a hand-over, or a reply that is not sent. A manager's load is the number of such leads.
SLOT_ATTRS = ("slot_manager_id", "slot_session")
MANAGERS_PK = "MANAGERS"
# A chat's messages in time order (keys only: a page's items are then read by key).
TIMELINE_INDEX = "Timeline"
TIMELINE_ATTR = "timeline"
MSG_LAST = "MSG#~"  # after every digit: the end of a partition's MSG# items
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
BATCH_GET_TRIES = 5


def now() -> float:
    return round(time.time(), 3)


def lead_pk(chat_id: str) -> str:
    return f"LEAD#{chat_id}"


def inbound_sk(sent_at: int, message_id: str) -> str:
    return f"MSG#{sent_at:010d}#{message_id}"


def out_sk(send_key: str) -> str:
    return f"OUT#{send_key}"


def timeline_key(at: float, sk: str) -> str:
    """Where a message stands in its chat's timeline: its time (fixed width, so that the
    string order is the time order), then its sort key."""
    return f"{float(at):014.3f}#{sk}"


def pmid_key(provider_id: str) -> Item:
    return {"PK": f"PMID#{provider_id}", "SK": "PMID"}


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any] | None) -> Item | None:
    if not item:
        return None
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


@dataclass(slots=True)
class Update:
    """An UpdateItem built from readable parts, with placeholders generated safely."""

    key: Item
    sets: dict[str, Any]
    set_if_missing: dict[str, Any] | None = None
    adds: dict[str, int | set[str]] | None = None
    removes: tuple[str, ...] = ()
    appends: dict[str, list[Any]] | None = None  # list attributes to append to
    condition: str | None = None
    values: dict[str, Any] | None = None  # extra :values used by the condition

    def expression(self, table: str) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = dict(self.values or {})
        clauses: list[str] = []
        sets = []
        # A None value means "nothing to set" (DynamoDB has no use for a null here).
        present = {attr: value for attr, value in self.sets.items() if value is not None}
        for i, (attr, value) in enumerate(present.items()):
            names[f"#s{i}"] = attr
            values[f":s{i}"] = value
            sets.append(f"#s{i} = :s{i}")
        for i, (attr, items) in enumerate((self.appends or {}).items()):
            names[f"#l{i}"] = attr
            values[f":l{i}"] = items
            values[":empty_list"] = []
            sets.append(f"#l{i} = list_append(if_not_exists(#l{i}, :empty_list), :l{i})")
        for i, (attr, value) in enumerate((self.set_if_missing or {}).items()):
            names[f"#m{i}"] = attr
            values[f":m{i}"] = value
            sets.append(f"#m{i} = if_not_exists(#m{i}, :m{i})")
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if self.adds:
            adds = []
            for i, (attr, amount) in enumerate(self.adds.items()):
                names[f"#a{i}"] = attr
                values[f":a{i}"] = amount
                adds.append(f"#a{i} :a{i}")
            clauses.append("ADD " + ", ".join(adds))
        if self.removes:
            removes = []
            for i, attr in enumerate(self.removes):
                names[f"#r{i}"] = attr
                removes.append(f"#r{i}")
            clauses.append("REMOVE " + ", ".join(removes))
        request: dict[str, Any] = {
            "TableName": table,
            "Key": serialize(self.key),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
        }
        if self.condition:
            request["ConditionExpression"] = self.condition
            # Conditions name attributes directly; give them their own placeholders.
            for word in _condition_names(self.condition):
                names[f"#{word}"] = word
        if values:
            request["ExpressionAttributeValues"] = serialize(values)
        return request


def _condition_names(condition: str) -> list[str]:
    """`#status_rank` in a condition refers to the attribute `status_rank`."""
    words = []
    for token in condition.replace("(", " ").replace(")", " ").replace(",", " ").split():
        if token.startswith("#"):
            words.append(token[1:])
    return words


# Cancellation reasons that say something about the items: the transaction ran and a
# condition did not hold ("None" marks the items that passed). Every other reason
# (TransactionConflict, ThrottlingError, ProvisionedThroughputExceeded, ValidationError, ...)
# says nothing about the conditions: the transaction is tried again.
CONDITION_REASONS = frozenset({"None", "ConditionalCheckFailed"})
# In-invocation tries of a transaction cancelled for such a reason, with full-jitter
# backoff from TRANSACTION_BACKOFF_SECONDS; then the caller gets a RetryableError.
TRANSACTION_ATTEMPTS = 4
TRANSACTION_BACKOFF_SECONDS = 0.05


class TransactionCancelled(Exception):
    """A transaction failed its conditions; `reasons` has one entry per item.

    Raised only when every reason is a condition outcome (`ConditionalCheckFailed` or
    `None`), so `failed(i)` is a fact about item i, never a throttle misread.
    """

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return self.reasons[index].get("Code") == "ConditionalCheckFailed"

    def old_item(self, index: int) -> Item | None:
        return deserialize(self.reasons[index].get("Item"))

    @property
    def conditional(self) -> bool:
        codes = {str(r.get("Code") or "None") for r in self.reasons}
        return (
            bool(self.reasons) and codes <= CONDITION_REASONS and "ConditionalCheckFailed" in codes
        )

    @property
    def codes(self) -> list[str]:
        return sorted({str(r.get("Code") or "None") for r in self.reasons} - {"None"})


# A transaction item that is also a call of its own (a ConditionCheck is not).
_SINGLE_WRITES = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}


class TransactionRetryableError(StoreUnavailableError):
    """A transaction cancelled for a reason other than a condition (a conflict with another
    write, throttling, a validation error): nothing was written; trying again is safe."""


@lru_cache(maxsize=1)
def _dynamodb_client() -> Any:
    # Short timeouts and the SDK's standard retries: the webhook must answer fast.
    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
    )
    return boto3.client("dynamodb", config=config)


class Store:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table = table_name
        self.client = client or _dynamodb_client()

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.client, operation)(**request)
            return response
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            if code == "TransactionConflictException":  # a single write met a transaction
                raise TransactionRetryableError(f"DynamoDB {operation} failed: {code}") from exc
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                cancelled = TransactionCancelled([dict(r) for r in reasons])
                if cancelled.conditional:
                    raise cancelled from exc
                raise TransactionRetryableError(
                    f"DynamoDB transaction cancelled ({', '.join(cancelled.codes) or 'no reason'})"
                ) from exc
            raise StoreUnavailableError(f"DynamoDB {operation} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailableError(f"DynamoDB {operation} failed: {exc}") from exc

    def _put(self, item: Item, condition: str | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"Put": {"TableName": self.table, "Item": serialize(item)}}
        if condition:
            request["Put"]["ConditionExpression"] = condition
            request["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return request

    def _update(self, update: Update) -> dict[str, Any]:
        body = update.expression(self.table)
        if update.condition:
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return {"Update": body}

    def transact(self, *items: dict[str, Any]) -> None:
        """Write the items atomically. A cancellation for a reason other than a condition
        wrote nothing, so it is tried again here (bounded, with jitter) before the caller
        gets a RetryableError; a condition that failed raises TransactionCancelled.

        One item is written as a plain conditional write: the same outcome (a single write
        is atomic), at half the write units (a transaction bills each item twice)."""
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                if len(items) == 1 and _SINGLE_WRITES.keys() >= items[0].keys():
                    self._write_one(items[0])
                else:
                    self._call("transact_write_items", TransactItems=list(items))
                return
            except TransactionRetryableError:
                if attempt == TRANSACTION_ATTEMPTS:
                    raise
                ceiling = TRANSACTION_BACKOFF_SECONDS * 2**attempt
                time.sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not crypto

    def _write_one(self, item: dict[str, Any]) -> None:
        """A transaction's one Put, Update or Delete as its own call; a failed condition
        raises TransactionCancelled as the transaction would (its reason, the old item)."""
        ((kind, request),) = item.items()
        try:
            self._call(_SINGLE_WRITES[kind], **request)
        except ClientError as exc:  # only ConditionalCheckFailedException reaches here
            reason: dict[str, Any] = {"Code": "ConditionalCheckFailed"}
            old = cast(Item, exc.response).get("Item")
            if old:
                reason["Item"] = old
            raise TransactionCancelled([reason]) from exc

    def try_transact(self, *items: dict[str, Any]) -> TransactionCancelled | None:
        """The transaction, or why it was cancelled (one reason per item)."""
        try:
            self.transact(*items)
        except TransactionCancelled as cancelled:
            return cancelled
        return None

    def update(self, update: Update, returns: str = "ALL_NEW") -> Item | None:
        """Apply `update`; None when its condition does not hold."""
        request = update.expression(self.table)
        request["ReturnValues"] = returns
        try:
            response = self._call("update_item", **request)
        except ClientError:  # only ConditionalCheckFailedException reaches here
            return None
        return deserialize(response.get("Attributes")) or {}

    def update_or_old(self, update: Update) -> tuple[Item | None, Item | None]:
        """(new item, None) when applied; (None, old item) when the condition failed."""
        request = update.expression(self.table)
        request["ReturnValues"] = "ALL_NEW"
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            response = self._call("update_item", **request)
        except ClientError as exc:
            return None, deserialize(cast(Item, exc.response.get("Item"))) or {}
        return deserialize(response.get("Attributes")) or {}, None

    def get(self, key: Item, consistent: bool = True) -> Item | None:
        response = self._call(
            "get_item", TableName=self.table, Key=serialize(key), ConsistentRead=consistent
        )
        return deserialize(response.get("Item"))

    def query_partition(self, pk: str, sk_prefix: str | None = None) -> list[Item]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": serialize({":pk": pk}),
            "ConsistentRead": True,
        }
        if sk_prefix:
            request["KeyConditionExpression"] += " AND begins_with(SK, :sk)"
            request["ExpressionAttributeValues"] = serialize({":pk": pk, ":sk": sk_prefix})
        items: list[Item] = []
        while True:
            response = self._call("query", **request)
            items.extend(i for i in map(deserialize, response.get("Items", [])) if i)
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- inbound -----------------------------------------------------------------------

    def open_session(
        self, pointer: Item, message: Item, session: Item, lead: Update
    ) -> TransactionCancelled | None:
        """Record a client message that opens a new request, atomically with its dedupe
        marker and the lead. Returns the cancellation when a condition failed: index 0
        failed = duplicate, index 3 failed = a session is already open."""
        return self.try_transact(
            self._put(pointer, "attribute_not_exists(PK)"),
            self._put(message),
            self._put(session),
            self._update(lead),
        )

    def record_message(
        self, pointer: Item, message: Item, lead: Update | None = None
    ) -> TransactionCancelled | None:
        """Record a message with its dedupe marker (and a lead update) in one transaction."""
        items = [self._put(pointer, "attribute_not_exists(PK)"), self._put(message)]
        if lead is not None:
            items.append(self._update(lead))
        return self.try_transact(*items)

    def keep_raw_hook(self, body: str, reason: str, ttl_days: int) -> None:
        at = now()
        day = time.strftime("%Y-%m-%d", time.gmtime(at))
        self._call(
            "put_item",
            TableName=self.table,
            Item=serialize(
                {
                    "PK": f"HOOK#{day}",
                    "SK": f"{at:.3f}#{uuid.uuid4()}",
                    "reason": reason,
                    "body": body[:100_000],
                    "size": len(body),
                    "received_at": at,
                    "expires_at": int(at) + ttl_days * 86_400,
                }
            ),
        )

    # -- leads -------------------------------------------------------------------------

    def get_lead(self, chat_id: str) -> Item | None:
        return self.get({"PK": lead_pk(chat_id), "SK": "LEAD"})

    def lead_with_messages(self, chat_id: str) -> tuple[Item | None, list[Item]]:
        """The lead and every message of the chat: what a lead older than the Timeline
        index is read with (`timeline_complete`)."""
        items = self.query_partition(lead_pk(chat_id))
        lead = next((i for i in items if i["SK"] == "LEAD"), None)
        messages = [i for i in items if i["SK"].startswith(("MSG#", "OUT#"))]
        return lead, messages

    def lead_and_messages(self, chat_id: str, limit: int) -> tuple[Item | None, list[Item], bool]:
        """The lead and the chat's first `limit` messages (MSG# items sort right after the
        lead), in one read; True when those are all of them."""
        response = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lead AND :last",
            ExpressionAttributeValues=serialize(
                {":pk": lead_pk(chat_id), ":lead": "LEAD", ":last": MSG_LAST}
            ),
            ConsistentRead=True,
            Limit=limit + 1,
        )
        items = [i for i in map(deserialize, response.get("Items", [])) if i]
        lead = items[0] if items and items[0]["SK"] == "LEAD" else None
        messages = items[1:] if lead else items
        return lead, messages, "LastEvaluatedKey" not in response

    def request_messages(self, chat_id: str, opened_at: float, limit: int) -> list[Item]:
        """The chat's first `limit` messages from `opened_at` on (a request's), in time
        order: one page, however long the chat's history."""
        response = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=serialize(
                {
                    ":pk": lead_pk(chat_id),
                    ":first": f"MSG#{int(opened_at):010d}#",
                    ":last": MSG_LAST,
                }
            ),
            ConsistentRead=True,
            Limit=limit,
        )
        return [i for i in map(deserialize, response.get("Items", [])) if i]

    def timeline_keys(self, chat_id: str, after: str | None, limit: int) -> tuple[list[Item], bool]:
        """Keys of the chat's messages after the position `after` (a `timeline_key`), in
        time order: at most `limit`, and whether more follow. The index is eventually
        consistent: a message written a moment ago may not be listed yet."""
        condition = "PK = :pk" + (" AND #timeline > :after" if after else "")
        values: Item = {":pk": lead_pk(chat_id), **({":after": after} if after else {})}
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": TIMELINE_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            "Limit": limit + 1,  # one more says whether another page follows
        }
        if after:
            request["ExpressionAttributeNames"] = {"#timeline": TIMELINE_ATTR}
        keys: list[Item] = []
        while len(keys) <= limit:
            response = self._call("query", **request)
            found = (i for i in map(deserialize, response["Items"]) if i)
            keys += [{"PK": i["PK"], "SK": i["SK"]} for i in found]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return keys[:limit], len(keys) > limit

    def get_items(self, keys: list[Item]) -> dict[tuple[str, str], Item]:
        """The items at `keys` (strongly consistent), by (PK, SK); missing ones are left
        out. BatchGetItem, 100 keys a call, what DynamoDB leaves unprocessed asked again."""
        wanted = list({(str(k["PK"]), str(k["SK"])): None for k in keys})
        found: dict[tuple[str, str], Item] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        serialize({"PK": pk, "SK": sk})
                        for pk, sk in wanted[start : start + BATCH_GET_KEYS]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(1, BATCH_GET_TRIES + 1):
                response = self._call("batch_get_item", RequestItems=pending)
                for raw in response.get("Responses", {}).get(self.table, []):
                    item = deserialize(raw)
                    if item:
                        found[(str(item["PK"]), str(item["SK"]))] = item
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                if attempt == BATCH_GET_TRIES:
                    raise StoreUnavailableError("DynamoDB BatchGetItem left keys unprocessed")
                ceiling = TRANSACTION_BACKOFF_SECONDS * 2**attempt
                time.sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not crypto
        return found

    def advance_lead_status(self, chat_id: str, session_id: str, status: str) -> Item | None:
        """Move the lead's status forward within its current session; None if it would not
        move (already there or beyond, or a newer session has opened)."""
        return self.update(lead_status_update(chat_id, session_id, status))

    def set_lead_once(
        self,
        chat_id: str,
        session_id: str,
        fields: dict[str, Any],
        removes: tuple[str, ...] = (),
        returns: str = "ALL_NEW",
        unless_answered: bool = False,
    ) -> Item | None:
        """Set timestamps that keep their first value (e.g. first_human_response_at) on the
        lead's current request (`unless_answered`: only while no human has responded)."""
        condition = "#session_id = :sid"
        if unless_answered:
            condition += " AND attribute_not_exists(#first_human_response_at)"
        return self.update(
            Update(
                key={"PK": lead_pk(chat_id), "SK": "LEAD"},
                sets={"updated_at": now()},
                set_if_missing=fields,
                removes=removes,
                condition=condition,
                values={":sid": session_id},
            ),
            returns=returns,
        )

    def mark_answered(
        self, chat_id: str, session_id: str, fields: dict[str, Any], held: str | None
    ) -> bool:
        """A human answered the lead's current request: `fields` keep their first value, the
        lead leaves the escalation list and gives back the slot `held` it was read with (its
        manager's load in the same transaction). False when the request or the slot changed
        since that read."""
        slot, values = slot_unchanged(held)
        return self.update_moving_slot(
            Update(
                key={"PK": lead_pk(chat_id), "SK": "LEAD"},
                sets={"updated_at": now()},
                set_if_missing=fields,
                removes=AWAITING_ATTRS + SLOT_ATTRS,
                condition=f"#session_id = :sid AND {slot}",
                values={":sid": session_id, **values},
            ),
            SlotMove(release=held),
        )

    def update_request_if_waiting(
        self,
        chat_id: str,
        session_id: str,
        waiting_for: str,
        fields: dict[str, Any],
        removes: tuple[str, ...] = (),
        returns: str = "ALL_NEW",
    ) -> Item | None:
        """Change a lead the poller found waiting, only if it still waits for the same thing
        in the same request."""
        return self.update(
            Update(
                key={"PK": lead_pk(chat_id), "SK": "LEAD"},
                sets={"updated_at": now(), **fields},
                removes=removes,
                condition="#session_id = :sid AND #awaiting_pk = :waiting",
                values={":sid": session_id, ":waiting": waiting_for},
            ),
            returns=returns,
        )

    def hand_over(
        self,
        chat_id: str,
        session_id: str,
        waiting_for: str,
        fields: dict[str, Any],
        removes: tuple[str, ...],
        held: str | None,
        move: SlotMove,
    ) -> bool:
        """`update_request_if_waiting` for a lead that changes manager: only if it still
        holds the slot `held` it was read with, and with the loads `move` changes, in one
        transaction. False when the lead changed meanwhile; SlotRefused when the manager
        to take has no room any more."""
        slot, values = slot_unchanged(held)
        return self.update_moving_slot(
            Update(
                key={"PK": lead_pk(chat_id), "SK": "LEAD"},
                sets={"updated_at": now(), **fields},
                removes=removes,
                condition=f"#session_id = :sid AND #awaiting_pk = :waiting AND {slot}",
                values={":sid": session_id, ":waiting": waiting_for, **values},
            ),
            move,
        )

    def add_status_event(self, provider_id: str, event: Item) -> bool:
        """Append a status event; False when this (message, status) was seen before."""
        item = {"PK": f"PMID#{provider_id}", "SK": f"STATUS#{event['status']}", **event}
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError:
            return False
        return True

    def mark_parked(self, provider_id: str) -> Item:
        """Leave a placeholder at the provider id's pointer (or find the real pointer, if
        the send result was stored meanwhile: then it has `sk`)."""
        return self.update(Update(key=pmid_key(provider_id), sets={}, adds={"parked": 1})) or {}

    def status_events(self, provider_id: str) -> list[Item]:
        return self.query_partition(f"PMID#{provider_id}", "STATUS#")

    def get_pointer(self, provider_id: str) -> Item | None:
        return self.get(pmid_key(provider_id))

    def apply_message_status(
        self, pk: str, sk: str, status: str, at: float, details: dict[str, Any]
    ) -> tuple[Item | None, str]:
        """Record one status on a message: (message, outcome), outcome one of `moved`,
        `out_of_order`, `duplicate` or `missing` (no such message yet).

        `<status>_at` is written once: its absence is the condition, so a repeated ack is a
        no-op (the dedupe on message and status). `status` moves forward only: the rank
        check is part of the same conditional write, so racing acks never move it back.
        Each first-seen status is appended to `history`.
        """
        rank = MESSAGE_STATUS_RANK[status]
        key = {"PK": pk, "SK": sk}
        stamp = f"{status}_at"
        entry = [
            {
                "status": status,
                "at": at,
                **({"error": details["reason_detail"]} if details.get("reason_detail") else {}),
            }
        ]
        moved, old = self.update_or_old(
            Update(
                key=key,
                sets={"status": status, "status_rank": rank, stamp: at, **details},
                appends={"history": entry},
                # Delivered, read or failed: the poller has nothing left to ask about.
                removes=AWAITING_ATTRS if rank >= MESSAGE_STATUS_RANK["delivered"] else (),
                condition=f"attribute_exists(PK) AND attribute_not_exists(#{stamp}) AND "
                "(attribute_not_exists(#status_rank) OR #status_rank < :rank)",
                values={":rank": rank},
            )
        )
        if moved is not None:
            return moved, "moved"
        if not old:
            return None, "missing"
        if stamp in old:
            return old, "duplicate"
        # Out of order: keep this status's time (and reason) without moving back.
        kept = self.update(
            Update(
                key=key,
                sets={stamp: at, **details},
                appends={"history": entry},
                condition=f"attribute_exists(PK) AND attribute_not_exists(#{stamp})",
            )
        )
        return (kept, "out_of_order") if kept is not None else (old, "duplicate")

    # -- the send ledger ---------------------------------------------------------------

    def create_pending_send(self, item: Item) -> Item | None:
        """Create an OUT item in PENDING; returns the existing item if the key was used."""
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=serialize(
                    {
                        **item,
                        "state": PENDING,
                        TIMELINE_ATTR: timeline_key(item["time"], item["SK"]),
                    }
                ),
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            return deserialize(cast(Item, exc.response.get("Item"))) or {}
        return None

    def claim_send(
        self,
        chat_id: str,
        send_key: str,
        fields: dict[str, Any],
        lease_seconds: int,
        request: tuple[Item | None, Item] | None = None,
        turn: tuple[str, int] | None = None,
        held_slot: str | None = None,
        move: SlotMove | None = None,
    ) -> tuple[Item | None, Item | None]:
        """Take the send key for one attempt. (claimed item, None) or (None, current item).

        Free to claim: new, PENDING, or SENDING whose lease ran out (a crashed or timed-out
        attempt, which the caller must reconcile before sending again).

        With `request` = (the OUT item as read, the lead's request fields), the claim and
        the lead's topic and manager are written in one transaction, conditional on both
        being unchanged since that read (no human response since, the same capacity slot
        `held_slot`); a lost race raises RetryableError. A slot field given as None is
        removed. With `turn` = (team, the counter as last seen), the team's round-robin
        counter moves to the next turn in the same transaction; TurnTaken when another
        request took that turn first. With `move`, the managers' loads change in it too
        (SlotRefused when the manager to take has no room any more).
        """
        at = now()
        lease_until = at + lease_seconds
        update = Update(
            key={"PK": lead_pk(chat_id), "SK": out_sk(send_key)},
            sets={
                "state": SENDING,
                "lease_until": lease_until,
                "attempt_at": at,
                "updated_at": at,
                **fields,
            },
            set_if_missing={
                "created_at": at,
                "status": "queued",
                "status_rank": 0,
                **(
                    {TIMELINE_ATTR: timeline_key(fields["time"], out_sk(send_key))}
                    if "time" in fields
                    else {}
                ),
            },
            adds={"attempt": 1},
            condition="(attribute_not_exists(#state) OR #state = :pending "
            "OR (#state = :sending AND #lease_until < :now))",
            values={":pending": PENDING, ":sending": SENDING, ":now": at},
        )

        def claimed(before: Item | None) -> Item:
            """The item as this claim left it; `claimed_from` is the state it was in
            (SENDING: the last attempt never recorded its outcome)."""
            return {
                "created_at": at,
                "status": "queued",
                "status_rank": 0,
                **(before or {}),
                **fields,
                "state": SENDING,
                "lease_until": lease_until,
                "attempt_at": at,
                "updated_at": at,
                "attempt": int((before or {}).get("attempt", 0)) + 1,
                "claimed_from": (before or {}).get("state"),
            }

        if request is None:
            body = update.expression(self.table)
            body["ReturnValues"] = "ALL_OLD"
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            try:
                response = self._call("update_item", **body)
            except ClientError as exc:
                return None, deserialize(cast(Item, exc.response.get("Item"))) or {}
            return claimed(deserialize(response.get("Attributes"))), None
        before, lead_fields = request
        held = slot_unchanged(held_slot)
        attempt = int((before or {}).get("attempt", 0))
        update.condition = f"{update.condition} AND " + (
            "#attempt = :prev" if before else "attribute_not_exists(#attempt)"
        )
        update.values = {**(update.values or {}), **({":prev": attempt} if before else {})}
        lead = Update(
            key={"PK": lead_pk(chat_id), "SK": "LEAD"},
            sets={"updated_at": at, **lead_fields},
            # The sender took the request's reply: it no longer waits as AWAITING_REPLY.
            removes=tuple(attr for attr in AWAITING_ATTRS if attr not in lead_fields)
            + tuple(a for a in SLOT_ATTRS if a in lead_fields and lead_fields[a] is None),
            condition="#session_id = :sid AND "
            "(attribute_not_exists(#assigned_session) OR #assigned_session <> :sid) AND "
            "attribute_not_exists(#first_human_response_at) AND " + held[0],
            values={":sid": lead_fields["assigned_session"], **held[1]},
        )
        items = [self._update(update), self._update(lead)]
        if turn is not None:
            items.append(self._update(turn_update(*turn)))
        cancelled = self.move_slot(items, move or SlotMove())
        if cancelled is not None:
            if cancelled.failed(0) and not cancelled.failed(1):
                return None, cancelled.old_item(0) or {}
            if turn is not None and cancelled.failed(2) and not cancelled.failed(1):
                now_at = int((cancelled.old_item(2) or {}).get("turn") or 0)
                raise TurnTaken(turn[0], now_at)
            raise RetryableError("the request changed while claiming its reply")
        return claimed(before), None

    def finish_send(
        self,
        chat_id: str,
        send_key: str,
        attempt: int,
        fields: dict[str, Any],
        pointer: Item | None = None,
        lead: Update | None = None,
        new_pointer: bool = False,
        move: SlotMove | None = None,
    ) -> TransactionCancelled | None:
        """Record an attempt's outcome, only if this attempt still owns the key; with the
        provider-id pointer, the lead update and the loads `move` changes in the same
        transaction when given."""
        out = Update(
            key={"PK": lead_pk(chat_id), "SK": out_sk(send_key)},
            sets={"updated_at": now(), **fields},
            removes=("lease_until",) if fields.get("state") in FINAL_SEND_STATES else (),
            condition="#state IN (:sending, :queued, :unknown) AND #attempt = :attempt",
            values={
                ":sending": SENDING,
                ":queued": QUEUED,
                ":unknown": UNKNOWN_SEND,
                ":attempt": attempt,
            },
        )
        items = [self._update(out)]
        if pointer is not None:
            # A placeholder left by statuses that came early makes this condition fail:
            # that is how the caller learns there is something parked to apply.
            items.append(self._put(pointer, "attribute_not_exists(PK)" if new_pointer else None))
        if lead is not None:
            items.append(self._update(lead))
        return self.move_slot(items, move) if move else self.try_transact(*items)

    def awaiting(self, kind: str, older_than: float, limit: int) -> list[Item]:
        """Items waiting (since before `older_than`) for what `kind` names: a delivery
        status (AWAITING_PK), a human response (AWAITING_HUMAN) or a manager."""
        response = self._call(
            "query",
            TableName=self.table,
            IndexName=AWAITING_INDEX,
            KeyConditionExpression="awaiting_pk = :pk AND awaiting_since < :t",
            ExpressionAttributeValues=serialize({":pk": kind, ":t": older_than}),
            Limit=limit,
        )
        return [i for i in map(deserialize, response.get("Items", [])) if i]

    def next_poll_turn(self, pk: str, sk: str, since: float, at: float) -> None:
        """A message the poller asked about and that is still waiting goes to the back of
        the poller's line (`awaiting_since` = now); `awaiting_started` keeps when the wait
        began, for the deadline."""
        self.update(
            Update(
                key={"PK": pk, "SK": sk},
                sets={"awaiting_since": at},
                set_if_missing={"awaiting_started": since},
                condition="attribute_exists(awaiting_pk)",
            )
        )

    def move_slot(self, items: list[dict[str, Any]], move: SlotMove) -> TransactionCancelled | None:
        """Write `items` (one of them the lead's slot change) and the managers' loads that go
        with it in one transaction, so that a load never counts a lead that does not count
        in it, whatever stops in between. The cancellation when one of `items` failed its
        condition; SlotRefused when only the manager to take was full (or inactive). A
        release the manager's count cannot take (it is at 0 already) is left out."""
        while True:
            slots = self._slot_items(move)
            cancelled = self.try_transact(*items, *slots)
            if cancelled is None or any(cancelled.failed(i) for i in range(len(items))):
                return cancelled
            if move.take and cancelled.failed(len(items)):
                raise SlotRefused(move.take)
            if not move.release:
                return cancelled
            move = SlotMove(move.take, move.any_capacity)

    def _slot_items(self, move: SlotMove) -> list[dict[str, Any]]:
        items = []
        if move.take:
            # A returning lead goes back to its manager whatever the capacity.
            items.append(
                self._update(
                    Update(
                        key=manager_key(move.take),
                        sets={},
                        adds={"load": 1},
                        condition="attribute_exists(PK)"
                        if move.any_capacity
                        else "#active = :true AND (attribute_not_exists(#capacity) "
                        "OR #capacity <= :zero OR #load < #capacity)",
                        values=None if move.any_capacity else {":true": True, ":zero": 0},
                    )
                )
            )
        if move.release:
            items.append(
                self._update(
                    Update(
                        key=manager_key(move.release),
                        sets={},
                        adds={"load": -1},
                        condition="#load > :zero",
                        values={":zero": 0},
                    )
                )
            )
        return items

    def update_moving_slot(self, update: Update, move: SlotMove) -> bool:
        """`update` (a lead's slot change) and the loads `move` changes, in one transaction
        (see `move_slot`); False when the update's condition failed."""
        return self.move_slot([self._update(update)], move) is None

    def mark_unknown(self, pk: str, sk: str, at: float) -> Item | None:
        """No final status by the deadline. The rank stays, so a late real status applies."""
        return self.update(
            Update(
                key={"PK": pk, "SK": sk},
                sets={"status": UNKNOWN, "unknown_at": at},
                removes=(*AWAITING_ATTRS, "awaiting_started"),
                condition="attribute_exists(awaiting_pk)",
            )
        )

    # -- managers ----------------------------------------------------------------------
    # All managers live in one small partition: one Query reads the whole roster.

    def list_managers(self) -> list[Item]:
        return self.query_partition(MANAGERS_PK, "MANAGER#")

    def manager_partition(self) -> list[Item]:
        """The roster and the teams' round-robin counters (`TURN#<team>`), in one Query."""
        return self.query_partition(MANAGERS_PK)

    def put_manager(self, manager: Item) -> None:
        """Create or replace a manager's profile; their current load is kept."""
        fields = {k: v for k, v in manager.items() if k not in ("id", "load")}
        self.update(
            Update(
                key={"PK": MANAGERS_PK, "SK": f"MANAGER#{manager['id']}"},
                sets={"id": manager["id"], "updated_at": now(), **fields},
                set_if_missing={"load": 0},
            )
        )

    def next_turn(self, team: str) -> int:
        """An atomic round-robin counter per team (the poller's hand-overs; the sender moves
        it with its claim, see `turn_update`)."""
        item = self.update(
            Update(key={"PK": MANAGERS_PK, "SK": f"TURN#{team}"}, sets={}, adds={"turn": 1}),
            returns="UPDATED_NEW",
        )
        return int((item or {}).get("turn", 0))

    def get_out(self, chat_id: str, send_key: str) -> Item | None:
        return self.get({"PK": lead_pk(chat_id), "SK": out_sk(send_key)})

    def add_candidate(self, chat_id: str, send_key: str, provider_id: str) -> None:
        """Remember a provider id seen for this chat while the send waits for its answer."""
        self.update(
            Update(
                key={"PK": lead_pk(chat_id), "SK": out_sk(send_key)},
                sets={},
                adds={"candidate_ids": {provider_id}},
                condition="#state IN (:sending, :queued, :unknown)",
                values={":sending": SENDING, ":queued": QUEUED, ":unknown": UNKNOWN_SEND},
            )
        )

    def sends_in_flight(self, chat_id: str) -> list[Item]:
        """The chat's sends that an echo or a status can still settle."""
        return [
            item
            for item in self.query_partition(lead_pk(chat_id), "OUT#")
            if item.get("state") in UNSETTLED_SEND_STATES
        ]


@dataclass(frozen=True, slots=True)
class SlotMove:
    """What a change of a lead's slot does to the managers' loads: `take` counts the lead
    against a manager (within capacity, unless `any_capacity`), `release` stops counting it
    against the one it held."""

    take: str | None = None
    any_capacity: bool = False
    release: str | None = None


def slot_unchanged(held: str | None) -> tuple[str, Item]:
    """A lead update's condition (and its values) that the lead still holds the slot it
    was read with: `held`'s, or none."""
    if held:
        return "#slot_manager_id = :held_slot", {":held_slot": held}
    return "attribute_not_exists(#slot_manager_id)", {}


def drop_slot_update(chat_id: str, session_id: str, manager_id: str) -> Update:
    """The lead forgets the slot `manager_id` holds for this request (its load goes back in
    the same transaction: `SlotMove(release=manager_id)`); fails once it holds it no more."""
    return Update(
        key={"PK": lead_pk(chat_id), "SK": "LEAD"},
        sets={"updated_at": now()},
        removes=SLOT_ATTRS,
        condition="#slot_session = :sid AND #slot_manager_id = :held_slot",
        values={":sid": session_id, ":held_slot": manager_id},
    )


def manager_key(manager_id: str) -> Item:
    return {"PK": MANAGERS_PK, "SK": f"MANAGER#{manager_id}"}


class SlotRefused(RetryableError):
    """The manager chosen was full (or no longer active) when the lead was to count against
    them; nothing was written."""

    def __init__(self, manager_id: str) -> None:
        super().__init__("the manager chosen has no room any more")
        self.manager_id = manager_id


class TurnTaken(RetryableError):
    """Another request took the team's next turn first; nothing was written. `turn` is
    where the team's counter stands now."""

    def __init__(self, team: str, turn: int) -> None:
        super().__init__(f"team {team}: the turn moved on")
        self.team = team
        self.turn = turn


def turn_update(team: str, seen: int) -> Update:
    """The team's round-robin counter from `seen` to the next turn, only if no other
    request took that turn since it was read."""
    return Update(
        key={"PK": MANAGERS_PK, "SK": f"TURN#{team}"},
        sets={"turn": seen + 1},
        condition="attribute_not_exists(#turn) OR #turn = :seen",
        values={":seen": seen},
    )


def lead_status_update(
    chat_id: str, session_id: str, status: str, first_values: dict[str, Any] | None = None
) -> Update:
    """The lead's status moved forward within its current request (with fields that keep
    their first value); its condition fails once the lead is there or beyond, or a newer
    request has opened."""
    rank = LEAD_STATUS_RANK[status]
    return Update(
        key={"PK": lead_pk(chat_id), "SK": "LEAD"},
        sets={"status": status, "status_rank": rank, "updated_at": now()},
        set_if_missing=first_values,
        condition="#session_id = :sid AND #status_rank < :rank",
        values={":sid": session_id, ":rank": rank},
    )


def timeline_complete(lead: Item) -> bool:
    """Every message of this lead is in the Timeline index: it was created with the index
    (or an operator indexed its older messages, which sets `timeline_from` to 0). A lead
    older than the index is read whole, as before."""
    since = lead.get("timeline_from")
    return since is not None and float(since) <= float(lead.get("created_at") or 0)


def new_lead_update(chat_id: str, fields: dict[str, Any], condition: str, values: Item) -> Update:
    """The lead update that opens a session: per-session fields reset, lead fields kept."""
    at = now()
    return Update(
        key={"PK": lead_pk(chat_id), "SK": "LEAD"},
        sets={
            **fields,
            "status": LEAD_NEW,
            "status_rank": LEAD_STATUS_RANK[LEAD_NEW],
            "updated_at": at,
        },
        # `timeline_from` equal to `created_at`: the lead was created with the Timeline
        # index, so all its messages are in it (see `timeline_complete`).
        set_if_missing={"created_at": at, "chat_id": chat_id, "timeline_from": at},
        adds={"inbound_count": 1, "session_count": 1},
        removes=(
            *(attr for attr in AWAITING_ATTRS if attr not in fields),
            "assigned_session",
            "escalated_at",
            "auto_reply_at",
            "first_human_response_at",
            "first_human_response_sk",
            "closed_reason",
        ),
        condition=condition,
        values=values,
    )
