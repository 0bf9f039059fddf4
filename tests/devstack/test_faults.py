"""The fault harness (`make faults`), a subset run through the same code against the full stack.

One fault stack (with the fallback template configured, which only matters once a window is
closed) runs the subset as a single scenario: each case has its own chat and its faults are
scoped to that chat's phone, so they run at the same time. Each test then reads its cases'
outcome. The harness's own counting is checked first, on made-up views, without a stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devstack.faults import cases_clock, cases_onemsg, cases_webhook
from devstack.faults.checks import evaluate, ready
from devstack.faults.harness import Harness, deliver, fault_stack, wait_for
from devstack.faults.model import (
    ACCEPT,
    REFUSE,
    WEBHOOK_RETRIES,
    Case,
    CaseResult,
    CaseView,
    Expect,
    Post,
    Scenario,
    ScenarioResult,
)

# --------------------------------------------------------------------------- the counting


def view(
    expects: list[Expect],
    messages: list[dict[str, Any]],
    sends: list[dict[str, Any]],
    **case_fields: Any,
) -> CaseView:
    case = Case("made up", "77010000001", lambda c: None, expects=expects, **case_fields)
    lead = {"lead": {"status": "auto_replied"}, "messages": messages}
    return CaseView(case, lead, sends, [], harness=None)  # type: ignore[arg-type]


def reply(opener: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"auto:{opener}", "direction": "out", "author": "auto", **fields}


def test_evaluate_counts_a_duplicate_when_1msg_accepted_two_sends_for_one_request() -> None:
    sends = [{"id": "p1", "method": "sendMessage"}, {"id": "p2", "method": "sendMessage"}]
    out = reply("m1", state="ACCEPTED", provider_id="p1", status="read")
    result = evaluate(view([Expect(("m1",))], [out], sends))
    assert (result.accepted, result.duplicates, result.lost) == (2, 1, 0)
    assert any("p2 that no reply records" in p for p in result.problems)


def test_evaluate_counts_a_lost_request_when_neither_accepted_nor_refused() -> None:
    out = reply("m1", state="PENDING", last_error="ProviderUnavailableError")
    result = evaluate(view([Expect(("m1",)), Expect(("m2",))], [out], []))
    assert (result.accepted, result.lost, result.refused) == (0, 2, 0)


def test_evaluate_counts_a_refusal_with_reason_apart_when_the_ledger_keeps_it() -> None:
    out = reply("m1", state="FAILED", reason="provider_rejected", status="failed")
    result = evaluate(view([Expect(("m1",), REFUSE, "provider_rejected")], [out], []))
    assert (result.refused, result.lost, result.duplicates, result.problems) == (1, 0, 0, [])


def test_evaluate_flags_a_refusal_when_an_accepted_reply_was_expected() -> None:
    out = reply("m1", state="SKIPPED", reason="window_closed", status="skipped")
    result = evaluate(view([Expect(("m1",), ACCEPT)], [out], []))
    assert result.lost == 0 and result.problems == [
        "expected an accepted reply, got SKIPPED window_closed"
    ]


def test_evaluate_counts_any_send_as_extra_when_the_chat_must_not_be_answered() -> None:
    result = evaluate(view([], [], [{"id": "p1", "method": "sendMessage"}]))
    assert result.duplicates == 1


def test_evaluate_checks_the_exact_1msg_calls_when_the_case_names_them() -> None:
    case_view = view([], [], [], calls={"sendMessage": 1})
    case_view.calls = [{"method": "sendMessage"}, {"method": "sendMessage"}]
    assert evaluate(case_view).problems == ["2 sendMessage call(s) reached 1MSG, expected 1"]


def test_run_is_not_ok_when_a_known_bug_scenario_starts_passing() -> None:
    fixed = ScenarioResult("was a bug", known_bug="...")
    still = ScenarioResult("still a bug", known_bug="...", duplicates=1)
    assert (fixed.verdict, fixed.as_expected) == ("XPASS", False)
    assert (still.verdict, still.as_expected) == ("XFAIL", True)


def test_evaluate_takes_a_refusal_the_race_allows_when_the_expectation_names_it() -> None:
    out = reply("m1", state="SKIPPED", reason="human_answered")
    expect = Expect(("m1",), or_refused=("human_answered",))
    result = evaluate(view([expect], [out], []))
    assert (result.refused, result.lost, result.problems) == (1, 0, [])


# --------------------------------------------------------------------------- the waiting


def lead_with(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"lead": {"status": "auto_replied"}, "messages": list(messages)}


def test_ready_waits_when_the_accepted_reply_has_not_reached_its_status() -> None:
    case = Case("made up", "77010000001", lambda c: None, expects=[Expect(("m1",))])
    sent = reply("m1", state="ACCEPTED", provider_id="p1", status="sent")
    assert not ready(case, lead_with(sent))
    assert ready(case, lead_with({**sent, "status": "read"}))


def test_ready_waits_when_the_lead_has_not_reached_its_status() -> None:
    case = Case("made up", "77010000001", lambda c: None, lead_status="window_closed")
    assert not ready(case, lead_with())
    assert ready(case, {"lead": {"status": "window_closed"}, "messages": []})


def test_ready_takes_a_refusal_as_final_when_an_accepted_reply_was_expected() -> None:
    # (the verdict, not the waiting, says it is wrong: no wait until the deadline for it)
    case = Case("made up", "77010000001", lambda c: None, expects=[Expect(("m1",))])
    out = reply("m1", state="SKIPPED", reason="stale")
    assert ready(case, lead_with(out))
    assert evaluate(CaseView(case, lead_with(out), [], [], harness=None)).problems  # type: ignore[arg-type]


def test_wait_for_returns_the_outcome_when_it_comes_after_several_polls() -> None:
    answers = iter([None, [], "settled"])
    assert wait_for(lambda: next(answers), "the outcome") == "settled"


def test_wait_for_raises_when_the_outcome_never_comes_before_the_deadline() -> None:
    with pytest.raises(TimeoutError, match="the outcome did not happen"):
        wait_for(lambda: None, "the outcome", seconds=-1)


def hook_client(*answers: httpx.Response | Exception) -> tuple[httpx.Client, list[int]]:
    queue, tries = list(answers), []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(1)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://hook"), tries


def test_deliver_posts_again_as_1msg_does_when_the_webhook_times_out_or_answers_5xx() -> None:
    http, tries = hook_client(
        httpx.ReadTimeout("slow"), httpx.Response(500), httpx.Response(200, json={"ok": True})
    )
    pauses: list[float] = []
    post = deliver(http, "/hook", b"{}", sleep=pauses.append)
    assert (post.status, post.body, post.retried, len(tries)) == (200, {"ok": True}, 2, 3)
    assert pauses == [1.0, 2.0]  # growing pauses, as guaranteedHooks waits out a slow moment


def test_deliver_records_no_answer_when_every_retry_timed_out() -> None:
    http, tries = hook_client(httpx.ConnectTimeout("busy"))
    post = deliver(http, "/hook", b"{}", sleep=lambda s: None)
    assert (post.status, post.body, post.retried) == (0, "ConnectTimeout", WEBHOOK_RETRIES)
    assert len(tries) == 1 + WEBHOOK_RETRIES


def test_deliver_posts_once_when_the_webhook_answers_4xx() -> None:
    http, tries = hook_client(httpx.Response(401, json={"message": "unknown webhook secret"}))
    post = deliver(http, "/hook", b"{}", sleep=lambda s: None)
    assert (post.status, post.retried, len(tries)) == (401, 0, 1)


# --------------------------------------------------------------------------- the stack


@dataclass
class Run:
    result: ScenarioResult
    groups: dict[str, list[Case]]

    def cases(self, group: str) -> list[CaseResult]:
        wanted = {id(c) for c in self.groups[group]}
        return [r for r in self.result.cases if id(r.view.case) in wanted]

    def one(self, group: str) -> CaseResult:
        (found,) = self.cases(group)
        return found


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    groups: dict[str, list[Case]] = {}

    def build(h: Harness) -> list[Case]:
        groups["concurrent"] = [cases_webhook.duplicate_concurrent(h, 8)]
        groups["429"] = [cases_onemsg.rate_limited(h)]
        groups["timeout"] = [cases_onemsg.timeout_after_accept(h)]
        groups["hostile"] = cases_webhook.hostile_cases(h)
        groups["template timeout"] = [cases_onemsg.template_timeout(h)]
        groups["echo lost"] = [cases_onemsg.timeout_echo_lost(h)]
        groups["clock ahead"] = [cases_clock.clock_ahead(h)]
        return [case for cases in groups.values() for case in cases]

    subset = Scenario(
        "subset",
        build,
        before=cases_webhook.kept_bodies_since,
        after=cases_webhook.kept_bodies_check,
    )
    with fault_stack(template=True, seed=7) as harness:
        result = harness.run_scenario(subset)
    yield Run(result, groups)


def clean(result: CaseResult) -> None:
    assert (result.duplicates, result.lost, result.problems) == (0, 0, [])


def posts(result: CaseResult) -> list[Post]:
    return result.view.case.posts


def test_same_webhook_8_times_at_once_gives_one_lead_one_message_one_reply(run: Run) -> None:
    result = run.one("concurrent")
    clean(result)
    assert [p.status for p in posts(result)] == [200] * 8
    assert result.view.lead is not None and len(result.view.inbound) == 1
    assert len(result.view.sends) == 1 and len(result.view.replies()) == 1


def test_429_is_retried_once_and_the_reply_sent_once(run: Run) -> None:
    result = run.one("429")
    clean(result)
    assert [c["status"] for c in result.view.calls] == [429, 200]
    (out,) = result.view.replies()
    assert out["state"] == "ACCEPTED" and out["attempt"] >= 2
    assert out["provider_id"] == result.view.sends[0]["id"]


def test_timeout_after_accept_is_settled_by_the_echo_without_a_second_send(run: Run) -> None:
    result = run.one("timeout")
    clean(result)
    assert [c["fault"] for c in result.view.calls] == ["timeout_after_accept"]
    (out,) = result.view.replies()
    assert (out["state"], out["status"]) == ("ACCEPTED", "read")
    assert out["provider_id"] == result.view.sends[0]["id"]


def test_hostile_bodies_get_2xx_or_401_and_nothing_is_answered_wrongly(run: Run) -> None:
    results = {r.view.case.label: r for r in run.cases("hostile")}
    for result in results.values():
        clean(result)
    assert [p.status for p in posts(results["wrong secret -> 401"])] == [401]
    assert all(
        200 <= p.status < 300
        for label, r in results.items()
        if label != "wrong secret -> 401"
        for p in posts(r)
    )
    answered = {label for label, r in results.items() if r.view.sends}
    assert answered == {
        "media (image + caption)",
        "time as a string",
        "only id, chatId, body",
        "valid item + broken items",
    }
    # the kept bodies are stored, and the 401 stored nothing
    assert not [p for p in run.result.problems if "raw bodies" in p]


def test_template_that_timed_out_after_accept_is_sent_once(run: Run) -> None:
    clean(run.one("template timeout"))


def test_send_that_timed_out_after_accept_is_sent_once_when_the_echo_is_lost(run: Run) -> None:
    clean(run.one("echo lost"))


def test_a_clock_a_day_ahead_is_answered_and_a_later_message_opens_the_next_request(
    run: Run,
) -> None:
    result = run.one("clock ahead")
    clean(result)
    first, later = (e.openers[0] for e in result.view.case.expects)
    assert [r["id"] for r in result.view.replies()] == [f"auto:{first}", f"auto:{later}"]
    assert len(result.view.sends) == 2
    assert (result.view.lead or {})["lead"]["session_id"] == later
