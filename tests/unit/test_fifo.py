"""A FIFO batch handled in order: a failing record holds only its own chat, for the wait it
asked; records that no longer fit in the function's time go back at once."""

from __future__ import annotations

from typing import Any

from session_reply.errors import RetryableError
from session_reply.fifo import process_fifo_batch


def record(n: int, group: str) -> dict[str, Any]:
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}", "attributes": {"MessageGroupId": group}}


def run(records: list[dict[str, Any]], fail: dict[str, int | None], left: list[float]):  # type: ignore[no-untyped-def]
    handled: list[str] = []
    delays: dict[str, int] = {}

    def handle(r: dict[str, Any]) -> None:
        handled.append(r["messageId"])
        if r["messageId"] in fail:
            raise RetryableError("later", retry_after=fail[r["messageId"]])

    result = process_fifo_batch(
        records,
        handle,
        lambda receipt, seconds: delays.__setitem__(receipt, seconds),
        remaining_seconds=lambda: left.pop(0) if left else 60.0,
        reserve_seconds=35,
    )
    return result, handled, delays


def test_failing_record_holds_only_its_chat_for_its_wait_when_a_batch_mixes_chats() -> None:
    records = [record(1, "a"), record(2, "a"), record(3, "b")]
    result, handled, delays = run(records, {"m1": 3}, [])
    assert handled == ["m1", "m3"]  # m2 must go out after m1: not run
    assert result.failed == ["m1", "m2"]
    assert delays == {"r1": 3, "r2": 0}  # m2 goes back at once; chat b is not held at all
    assert result.response() == {
        "batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]
    }


def test_records_that_no_longer_fit_go_back_at_once_when_the_time_budget_runs_low() -> None:
    records = [record(1, "a"), record(2, "b"), record(3, "c")]
    # 60 s when the first starts (never checked), 20 s left before the second: below 35 s
    result, handled, delays = run(records, {}, [20.0])
    assert handled == ["m1"]
    assert result.failed == ["m2", "m3"]
    assert delays == {"r2": 0, "r3": 0}


def test_unexpected_error_keeps_the_record_and_holds_its_chat_when_the_handler_crashes() -> None:
    def handle(r: dict[str, Any]) -> None:
        raise KeyError("bug")

    delays: dict[str, int] = {}
    result = process_fifo_batch(
        [record(1, "a"), record(2, "a")],
        handle,
        lambda receipt, seconds: delays.__setitem__(receipt, seconds),
        remaining_seconds=lambda: 60.0,
        reserve_seconds=35,
    )
    assert result.failed == ["m1", "m2"]
    assert delays == {"r1": 30, "r2": 0}
