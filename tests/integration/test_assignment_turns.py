"""Round robin without a call of its own: the sender moves the team's turn in its claim.

Several sender environments (each with its own roster cache, so each its own idea of where
the team's counter stands) take new requests in any order. Whatever the order, every request
gets the manager of the next turn: the spread over the team stays even (no manager more than
one lead ahead of another), exactly as with the atomic counter the claim replaced.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from session_reply.flows import assign_manager
from session_reply.store import MANAGERS_PK, Store

from tests.conftest import Stack, reset_caches
from tests.integration.test_assignment import client_writes, lead_of

_CHATS = itertools.count(77020000000)


def _clear_roster(stack: Stack, store: Store) -> None:
    for item in store.query_partition(MANAGERS_PK):
        stack.ddb.delete_item(
            TableName=store.table, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}}
        )


@settings(
    max_examples=6,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    team_size=st.integers(2, 4),
    senders=st.lists(st.integers(0, 2), min_size=3, max_size=7),
)
def test_spread_over_managers_stays_even_when_several_senders_take_turns(
    stack: Stack, team_size: int, senders: list[int]
) -> None:
    # Given a team of generalists and three sender environments that know nothing yet
    from session_reply.settings import get_settings

    store = Store(get_settings().table_name)
    _clear_roster(stack, store)
    names = [f"Manager {chr(65 + i)}" for i in range(team_size)]
    for i, name in enumerate(names):
        store.put_manager(
            {"id": f"m{i}", "name": name, "active": True, "topics": [], "capacity": 0}
        )
    reset_caches()
    caches: list[tuple[dict[str, Any], dict[str, Any]]] = [({}, {}) for _ in range(3)]
    chats = []
    # When new requests come, each answered by the environment the schedule names
    for env in senders:
        assign_manager._roster_cache, assign_manager._turns = caches[env]
        chat = str(next(_CHATS))
        chats.append(chat)
        client_writes(stack, chat, "How much is delivery?")
        stack.drain()
    # Then the managers take the requests in turn, in the order the requests came
    managers = [lead_of(stack, c)["manager"] for c in chats]
    start = names.index(managers[0])
    assert managers == [names[(start + i) % team_size] for i in range(len(chats))]
    counts = [managers.count(n) for n in names]
    assert max(counts) - min(counts) <= 1
    # and the counter stands at one turn per request
    turn = store.get({"PK": MANAGERS_PK, "SK": "TURN#general"})
    assert turn is not None and int(turn["turn"]) == len(chats)


def test_claim_moves_the_turn_only_when_it_still_stands_where_it_was_seen(
    stack: Stack,
) -> None:
    from session_reply.store import TurnTaken, turn_update

    store = Store(stack.aws.ctx.physical_name("StateTable"))
    store.update(turn_update("general", 0))
    with pytest.raises(TurnTaken) as taken:
        client_writes(stack, "77029999999", "How much is delivery?")
        lead = stack.lead("77029999999@c.us")["lead"]
        store.claim_send(
            "77029999999@c.us",
            "auto:x",
            {"id": "auto:x"},
            60,
            (None, {"assigned_session": lead["session_id"], "manager": "M"}),
            ("general", 0),  # seen before another request took turn 1
        )
    assert taken.value.turn == 1
    assert int((store.get({"PK": MANAGERS_PK, "SK": "TURN#general"}) or {})["turn"]) == 1
    assert store.get_out("77029999999@c.us", "auto:x") is None  # nothing was claimed
