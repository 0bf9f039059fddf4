"""Judging a settled case: the counts (accepted, duplicates, lost, refused) and the checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.faults.model import (
    ACCEPT,
    JSON,
    REFUSE,
    Case,
    CaseResult,
    CaseView,
    Expect,
    refused,
)


def failed_deliveries(sends: list[JSON], deliveries: list[JSON]) -> list[JSON]:
    """1MSG's webhooks (echo, acks) about these sends that failed (timeout, no 2xx)."""
    ids = {str(s["id"]) for s in sends}
    return [
        d
        for d in deliveries
        if d.get("id") in ids and not (d.get("status") and 200 <= int(d["status"]) < 300)
    ]


def ready(case: Case, lead: JSON | None) -> bool:
    """Has the case's outcome come (the harness waits until it has)? The lead reached its
    status, and every request its final state: a refusal with a reason, or a reply 1MSG
    accepted that reached its status. Final whatever was expected: `evaluate` judges it."""
    view = CaseView(case, lead, [], [], harness=None)  # type: ignore[arg-type]
    if case.lead_status and (lead or {}).get("lead", {}).get("status") != case.lead_status:
        return False
    for expect in case.expects:
        out = next((o for o in map(view.out, expect.openers) if o), None)
        if out is None:
            return False
        accepted = out.get("state") == "ACCEPTED" and expect.reached(out.get("status"))
        if not (refused(out) or accepted):
            return False
    return True


def evaluate(view: CaseView) -> CaseResult:
    """Count one chat's requests (accepted, refused, lost), its extra sends, and its checks."""
    case = view.case
    problems = list(case.errors)
    send_ids = {str(s["id"]): s for s in view.sends}
    job_ids = {s.get("jobId"): s for s in view.sends if s.get("jobId") is not None}
    answered = refused = lost = 0
    for expect in case.expects:
        outs = [o for o in map(view.out, expect.openers) if o]
        if len(outs) > 1:
            problems.append(f"{len(outs)} auto-replies queued for one request")
        out: JSON = outs[0] if outs else {}
        state, reason = out.get("state"), out.get("reason")
        send = send_ids.get(str(out.get("provider_id")))
        if send is None and state == "QUEUED":
            send = job_ids.get(int(out.get("job_id") or -1))
        if send is not None:
            answered += 1
            if expect.outcome != ACCEPT:
                problems.append(f"expected a refusal ({expect.reason}), 1MSG accepted it")
            problems += _accepted_problems(expect, out, send)
        elif state in ("FAILED", "SKIPPED") and reason:
            refused += 1
            if expect.outcome != REFUSE and reason not in expect.or_refused:
                problems.append(f"expected an accepted reply, got {state} {reason}")
            elif expect.reason and reason != expect.reason:
                problems.append(f"refused with reason {reason}, expected {expect.reason}")
        else:
            lost += 1
            where = f"ledger state {state}" if out else "no reply in the ledger"
            problems.append(f"request {expect.openers[0]} lost ({where})")
    # A manager's message the case posted through the lead API is a send of its own.
    manager = [m for m in view.messages if str(m.get("id", "")).startswith("api:")]
    duplicates = max(0, len(view.sends) - len(case.expects) - case.manager_messages)
    if duplicates:
        problems.append(
            f"{len(view.sends)} sends accepted by 1MSG for {len(case.expects)} request(s)"
        )
    recorded = {str(o.get("provider_id")) for o in [*view.replies(), *manager]}
    for send in view.sends:
        if str(send["id"]) not in recorded and send.get("jobId") is None:
            problems.append(f"1MSG accepted {send['method']} {send['id']} that no reply records")
    if case.lead_exists is False and view.lead is not None:
        problems.append("a lead was stored")
    if case.lead_exists and view.lead is None:
        problems.append("no lead (GET /leads answered 404)")
    lead_status = (view.lead or {}).get("lead", {}).get("status")
    if case.lead_status and lead_status != case.lead_status:
        problems.append(f"lead status {lead_status}, expected {case.lead_status}")
    for method, expected in case.calls.items():
        got = sum(1 for c in view.calls if c.get("method") == method)
        if got != expected:
            problems.append(f"{got} {method} call(s) reached 1MSG, expected {expected}")
    for check in case.checks:
        problem = check(view)
        if problem:
            problems.append(problem)
    return CaseResult(view, len(view.sends), duplicates, lost, refused, problems)


def _accepted_problems(expect: Expect, out: JSON, send: JSON) -> list[str]:
    problems = []
    if send.get("method") != expect.method:
        problems.append(f"sent with {send.get('method')}, expected {expect.method}")
    if out.get("state") != "ACCEPTED":
        problems.append(f"ledger state {out.get('state')}, expected ACCEPTED")
    if not expect.reached(out.get("status")):
        wanted = " or ".join((expect.status, *expect.also))
        problems.append(f"message status {out.get('status')}, expected {wanted}")
    if out.get("author") != expect.author:
        problems.append(f"reply author {out.get('author')}, expected {expect.author}")
    return problems


# --------------------------------------------------------------------------- checks


def all_posts(*codes: int) -> Callable[[CaseView], str | None]:
    def check(view: CaseView) -> str | None:
        got = [p.status for p in view.case.posts]
        if not got or any(code not in codes for code in got):
            return f"webhook answered {got}, expected {'/'.join(map(str, codes))}"
        return None

    return check


def all_2xx(view: CaseView) -> str | None:
    got = [p.status for p in view.case.posts]
    if not got or any(not 200 <= code < 300 for code in got):
        return f"webhook answered {got}, expected 2xx"
    return None


def kept(view: CaseView) -> str | None:
    """The webhook said it kept the body for inspection (and answered 2xx)."""
    if not all(isinstance(p.body, dict) and p.body.get("kept") for p in view.case.posts):
        return f"body not kept for inspection: {[p.body for p in view.case.posts]}"
    return None


def inbound_count(n: int) -> Callable[[CaseView], str | None]:
    def check(view: CaseView) -> str | None:
        got = len(view.inbound)
        return None if got == n else f"{got} inbound message(s) recorded, expected {n}"

    return check


def reply_field(
    name: str, test: Callable[[Any], bool], what: str
) -> Callable[[CaseView], str | None]:
    """A field of the (single) auto-reply's ledger item."""

    def check(view: CaseView) -> str | None:
        replies = view.replies()
        if len(replies) != 1:
            return f"{len(replies)} auto-replies, expected 1 to check {name}"
        value = replies[0].get(name)
        return None if test(value) else f"reply {name}={value!r}, expected {what}"

    return check


def status_times(view: CaseView) -> str | None:
    """Each status kept its own time, whatever order the acks came in."""
    replies = view.replies()
    missing = [k for k in ("sent_at", "delivered_at", "read_at") if not (replies or [{}])[0].get(k)]
    return f"reply lacks {', '.join(missing)}" if missing else None


def faulted_calls(kind: str, n: int) -> Callable[[CaseView], str | None]:
    def check(view: CaseView) -> str | None:
        got = sum(1 for c in view.calls if c.get("fault") == kind)
        return None if got == n else f"{got} call(s) met fault {kind}, expected {n}"

    return check


def polled_not_pushed(view: CaseView) -> str | None:
    """The statuses came through hookInfo only: no ack was posted for the reply."""
    ids = {str(s["id"]) for s in view.sends}
    acks = [
        d for d in view.harness.sim.deliveries() if d.get("kind") == "ack" and d.get("id") in ids
    ]
    polls = [
        c
        for c in view.harness.sim.calls()
        if c.get("method") == "hookInfo" and (c.get("query") or {}).get("messageId") in ids
    ]
    if acks:
        return f"{len(acks)} ack webhook(s) posted although withheld"
    return None if polls else "no hookInfo call for the reply"
