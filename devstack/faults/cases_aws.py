"""``make faults``, part two: AWS's own failures (see devstack.faultplan), as data.

Each scenario is one chat: the 1MSG options and the AWS fault steps it meets, and what must
come of it. The steps are scoped to the chat's phone, so they can run beside other chats.

- a sender killed (the worker exits, as at a Lambda timeout or OOM) right after 1MSG
  accepted its sendMessage: settled by the late echo, by 1MSG's history when nothing comes,
  or kept UNKNOWN until a late status settles it; never sent twice;
- DynamoDB throttling or a transaction conflict on the opener, a burst or the send result;
- the webhook's SendMessage to the queue failing: 1MSG's retries (guaranteedHooks) or,
  when they all fail too, the poller's sweep queue the reply;
- a record that waits out the burst, with the manager's message queued behind it in the
  same chat: the chat is held for the wait, not for the queue's visibility timeout.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.faults.cases_webhook import burst
from devstack.faults.checks import (
    all_posts,
    inbound_count,
    reply_field,
)
from devstack.faults.harness import Harness, single
from devstack.faults.model import (
    SEND_VISIBILITY_SECONDS,
    WEBHOOK_RETRIES,
    Case,
    CaseView,
    Expect,
    Scenario,
)

JSON = dict[str, Any]
KILL_AFTER_SEND = {"kind": "crash", "function": "SenderFunction", "operation": "sendMessage"}


def _retried(view: CaseView) -> str | None:
    """The webhook answered 5xx at first and 1MSG's retry (guaranteedHooks) was needed."""
    return None if any(p.retried for p in view.case.posts) else "no webhook needed a retry"


def _aws_faults_used(view: CaseView) -> str | None:
    plan = view.harness.plan
    if plan is None:
        return "no fault plan"
    from devstack import faultplan

    # A step met at least once counts: how many of its `times` a busy machine uses up
    # (how often the product tries again inside one invocation) depends on its time left.
    planned = [{"times": 1, **s, "phone": view.case.phone} for s in view.case.aws_faults]
    left = [s for s in faultplan.left(plan) if s in planned]
    return None if not left else f"{len(left)} AWS fault step(s) never met: {left}"


@dataclass(frozen=True)
class Spec:
    """One single-message chat: the faults it meets and what must come of it."""

    label: str
    aws: tuple[JSON, ...] = ()
    options: JSON = field(default_factory=dict)
    expect: Expect | None = None
    # The reply's ledger attempt, at least (a busy machine can add one that only settles
    # what 1MSG has: the sendMessage calls, exact, say that nothing went twice)
    attempt: int | None = None
    checks: tuple[Callable[[CaseView], str | None], ...] = ()
    known_bug: str | None = None  # a product bug it exposes (XFAIL until fixed)


SPECS: tuple[Spec, ...] = (
    Spec(
        "sender killed after accept, late echo",
        aws=(KILL_AFTER_SEND,),
        options={"ack_delay": 6.0},
        attempt=1,  # the echo settled it before the record came back
    ),
    Spec(
        "sender killed after accept, nothing came back",
        aws=(KILL_AFTER_SEND,),
        options={"echo": False, "withhold": ["sent", "delivered", "read"]},
        expect=Expect((), also=("delivered",)),
        attempt=2,  # the next attempt read 1MSG's history and settled it, no resend
    ),
    Spec(
        "sender killed, 1MSG clock 10 min behind",
        aws=(KILL_AFTER_SEND,),
        options={"echo": False, "withhold": ["sent", "delivered", "read"], "clock_skew": -600},
        expect=Expect((), also=("delivered",)),
        attempt=2,
    ),
    Spec(
        "sender killed, 1MSG history down, late acks",
        aws=(KILL_AFTER_SEND,),
        options={"echo": False, "history": False, "ack_delay": SEND_VISIBILITY_SECONDS + 4.0},
        expect=Expect((), status="sent", also=("delivered", "read")),
        checks=(reply_field("reason", lambda v: v == "outcome_unknown", "outcome_unknown"),),
    ),
    Spec(
        "opener's transaction throttled",
        aws=(
            {
                "kind": "dynamodb",
                "function": "WebhookFunction",
                "operation": "TransactWriteItems",
                "code": "ThrottlingError",
                "times": 6,  # more than one webhook call tries: a 5xx, then 1MSG's retry
            },
        ),
        checks=(_retried,),
    ),
    Spec(
        "send result write throttled",
        aws=(
            {
                "kind": "dynamodb",
                "function": "SenderFunction",
                "operation": "TransactWriteItems",
                "contains": "PMID#",
                "code": "ProvisionedThroughputExceeded",
                "times": 4,  # every try of the result's transaction in that attempt
            },
        ),
    ),
    Spec(
        "queueing failed, 1MSG retried",
        aws=(
            {
                "kind": "sqs",
                "function": "WebhookFunction",
                "operation": "SendMessage",
                "code": "ServiceUnavailable",
                "times": 2,
            },
        ),
        checks=(_retried,),
    ),
    Spec(
        "queueing failed for good, the sweep",
        aws=(
            {
                "kind": "sqs",
                "function": "WebhookFunction",
                "operation": "SendMessage",
                "code": "ServiceUnavailable",
                # the first POST and all of 1MSG's retries: 5xx, nothing queued
                "times": 1 + WEBHOOK_RETRIES,
            },
        ),
        checks=(all_posts(500),),
    ),
)


def _case(h: Harness, spec: Spec) -> Case:
    checks = [*spec.checks, _aws_faults_used]
    if spec.attempt is not None:
        want = spec.attempt
        checks.append(reply_field("attempt", lambda v: int(v or 0) >= want, f">= {want}"))
    case = single(
        h,
        spec.label,
        options=dict(spec.options),
        expect=dataclasses.replace(spec.expect) if spec.expect else None,
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=checks,
    )
    case.aws_faults = [dict(step) for step in spec.aws]
    return case


def conflicted_burst(h: Harness) -> Case:
    """Three messages at once, and their transactions meet conflicts: retried inside the
    webhook, every message recorded, one reply."""
    case = burst(h, concurrent=True)
    case.label = "burst with transaction conflicts"
    case.aws_faults = [
        {
            "kind": "dynamodb",
            "function": "WebhookFunction",
            "operation": "TransactWriteItems",
            "code": "TransactionConflict",
            "times": 3,
        }
    ]
    case.checks = [all_posts(200), inbound_count(3), _aws_faults_used]
    return case


def manager_behind_a_burst_wait(h: Harness) -> Case:
    """The auto-reply waits out the burst while the manager's message, queued right after,
    sits behind it in the chat's FIFO group: the group is held for the wait only. The
    manager's message then goes first and the auto-reply is skipped (`human_answered`);
    on a machine slow enough that the wait ended before the message was queued, the
    auto-reply goes first: either is right, one send each, never two auto-replies."""
    case = single(
        h,
        "manager message behind a burst wait",
        lead_status="in_progress",
        expect=Expect((), or_refused=("human_answered",)),
    )
    post = case.act
    sent: dict[str, float] = {}

    def act(c: Case) -> None:
        post(c)
        sent["at"] = time.time()
        response = h.http.post(
            f"/leads/{c.chat_id}/messages",
            json={"body": "A manager here: shall I book it?", "idempotency_key": c.phone},
        )
        if response.status_code != 202:
            c.errors.append(f"lead API answered {response.status_code}: {response.text[:200]}")

    def manager_not_held(view: CaseView) -> str | None:
        calls = [
            call
            for call in view.calls
            if (call.get("json") or {}).get("body") == "A manager here: shall I book it?"
        ]
        if len(calls) != 1:
            return f"{len(calls)} sendMessage calls for the manager's message, expected 1"
        waited = float(calls[0].get("at") or 0) - sent.get("at", 0)
        if waited >= SEND_VISIBILITY_SECONDS:
            return f"the manager's message waited {waited:.0f} s: the chat was held"
        return None

    def one_send_each(view: CaseView) -> str | None:
        replies = view.replies()
        out = replies[0] if replies else {}
        auto = 1 if out.get("state") == "ACCEPTED" else 0
        got = sum(1 for c in view.calls if c.get("method") == "sendMessage")
        return None if got == 1 + auto else f"{got} sendMessage calls, expected {1 + auto}"

    case.act = act
    case.manager_messages = 1
    case.calls = {}
    case.checks = [manager_not_held, one_send_each]
    return case


def _build(spec: Spec) -> Callable[[Harness], list[Case]]:
    return lambda h: [_case(h, spec)]


def aws_scenarios() -> list[Scenario]:
    scenarios = [Scenario(spec.label, _build(spec), known_bug=spec.known_bug) for spec in SPECS]
    scenarios.append(Scenario("burst with transaction conflicts", lambda h: [conflicted_burst(h)]))
    scenarios.append(
        Scenario("manager message behind a burst wait", lambda h: [manager_behind_a_burst_wait(h)])
    )
    return scenarios
