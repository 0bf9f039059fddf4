"""The AWS fault plan the workers share (devstack.faultplan): steps scoped to a chat, consumed
across workers, and a file read by every AWS call but written only when a step changes."""

from __future__ import annotations

from pathlib import Path

from devstack import faultplan

STEP = {"kind": "crash", "function": "SenderFunction", "operation": "sendMessage"}


def test_step_is_taken_once_by_its_chat_when_planned_for_one_time(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    faultplan.add_steps(plan, [{**STEP, "phone": "77010000001"}])
    other = faultplan._take(plan, "crash", "SenderFunction", '{"chatId": "7702"}', "sendMessage")
    taken = faultplan._take(
        plan, "crash", "SenderFunction", '{"chatId": "77010000001@c.us"}', "sendMessage"
    )
    again = faultplan._take(
        plan, "crash", "SenderFunction", '{"chatId": "77010000001@c.us"}', "sendMessage"
    )
    assert other is None and again is None
    assert taken is not None and taken["phone"] == "77010000001"
    assert faultplan.left(plan) == []


def test_plan_is_not_written_when_no_step_matches(tmp_path: Path) -> None:
    # Given a plan with one step, written out
    plan = tmp_path / "plan.json"
    faultplan.add_steps(plan, [{**STEP, "phone": "77010000001"}])
    before = plan.stat().st_mtime_ns
    # When calls of another chat look for a step
    for _ in range(3):
        assert faultplan._take(plan, "crash", "SenderFunction", "7702", "sendMessage") is None
    # Then the file was only read (a rewrite empties it for a moment, and a worker reading
    # it then would miss its step)
    assert plan.stat().st_mtime_ns == before
    assert [s["phone"] for s in faultplan.left(plan)] == ["77010000001"]
