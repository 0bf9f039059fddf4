"""The worker pool's bookkeeping under concurrency, shown with stand-in workers (no processes)."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.runtime import Invoker, _Pool


class _StandInWorker:
    def __init__(self, name: str) -> None:
        self.logical_id = "Fn"
        self.name = name
        self.running = True
        self.stopped = False

    def alive(self) -> bool:
        return self.running

    def wait_ready(self) -> None:
        return None

    def stop(self) -> None:
        self.stopped = True  # asked to end; the process goes a moment later (`running`)


@pytest.fixture
def invoker(monkeypatch: pytest.MonkeyPatch) -> Invoker:
    inv = Invoker.__new__(Invoker)
    inv._pools = {"Fn": _Pool(2)}
    spawned = iter(_StandInWorker(f"w{i}") for i in range(100))

    def spawn(_logical_id: str) -> Any:
        return next(spawned)

    monkeypatch.setattr(inv, "_spawn", spawn)
    return inv


def test_next_invocation_gets_a_fresh_environment_when_a_worker_was_released_after_stop(
    invoker: Invoker,
) -> None:
    # Given an invocation in flight when the stack stops its pools (the worker's process is
    # still alive when the invocation ends)
    busy = invoker._acquire("Fn")
    invoker.stop()
    # When that invocation releases its worker, the process then goes, and another call comes
    invoker._release(busy)  # type: ignore[arg-type]
    busy.running = False
    nxt = invoker._acquire("Fn")
    # Then the pool does not trip over the worker it no longer owns: a new one serves the call
    assert nxt is not busy
    assert busy.stopped
    pool = invoker._pools["Fn"]
    assert pool.all == [nxt] and pool.idle == []
