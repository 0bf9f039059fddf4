"""What the store's writes cost: a transaction of one item is a plain conditional write
(half the write units), with the same outcome as the transaction."""

from __future__ import annotations

from typing import Any

import pytest
from session_reply.flows.context import Context
from session_reply.store import SENDING, Store, lead_pk, out_sk

from tests.conftest import CHAT, Stack


class Calls:
    """The real (moto) client, with the names of the operations called."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.names: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.names.append(name)
        return getattr(self._client, name)


@pytest.fixture
def store(stack: Stack) -> tuple[Store, Calls]:
    store = Context.default().store
    calls = Calls(store.client)
    store.client = calls
    store.client.put_item(  # an OUT item mid-attempt, as a claim leaves it
        TableName=store.table,
        Item={
            "PK": {"S": lead_pk(CHAT)},
            "SK": {"S": out_sk("api:k1")},
            "state": {"S": SENDING},
            "attempt": {"N": "1"},
        },
    )
    calls.names.clear()
    return store, calls


def test_one_item_is_written_without_a_transaction_when_a_send_records_its_outcome(
    store: tuple[Store, Calls],
) -> None:
    # Given a send attempt that owns its key
    s, calls = store
    # When its outcome is recorded with no pointer or lead to write with it
    cancelled = s.finish_send(CHAT, "api:k1", 1, {"state": "QUEUED", "job_id": "j1"})
    # Then one conditional UpdateItem wrote it, no transaction
    assert cancelled is None and calls.names == ["update_item"]
    assert (s.get_out(CHAT, "api:k1") or {}).get("state") == "QUEUED"


def test_failed_condition_reads_as_the_transactions_when_the_attempt_no_longer_owns_the_key(
    store: tuple[Store, Calls],
) -> None:
    # Given a later attempt took the key
    s, _calls = store
    # When an older attempt records its outcome
    cancelled = s.finish_send(CHAT, "api:k1", 0, {"state": "QUEUED"})
    # Then the condition's failure comes back as a transaction's would, with the item as it is
    assert cancelled is not None and cancelled.failed(0)
    assert (cancelled.old_item(0) or {}).get("attempt") == 1
    assert (s.get_out(CHAT, "api:k1") or {}).get("state") == SENDING


def test_two_items_are_still_one_transaction_when_a_pointer_goes_with_the_outcome(
    store: tuple[Store, Calls],
) -> None:
    s, calls = store
    pointer = {"PK": "PMID#wamid.1", "SK": "PMID", "sk": out_sk("api:k1")}
    assert s.finish_send(CHAT, "api:k1", 1, {"state": "ACCEPTED"}, pointer=pointer) is None
    assert calls.names == ["transact_write_items"]
