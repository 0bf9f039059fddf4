"""The scenarios of `make faults`, in table order: pass 1, and pass 2 with a fallback template."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from devstack.faults.cases_aws import aws_scenarios
from devstack.faults.cases_clock import clock_ahead, statuses_ahead
from devstack.faults.cases_onemsg import (
    acks_before_result,
    connect_error,
    duplicate_acks,
    failed_ack,
    invalid_recipient,
    not_sent,
    queued,
    rate_limited,
    reordered_acks,
    server_error,
    template_server_error,
    template_timeout,
    timeout_after_accept,
    timeout_echo_lost,
    timeout_late_echo,
    unauthorized,
    window_closed,
    window_closed_here,
    withheld_acks,
)
from devstack.faults.cases_webhook import (
    backlog,
    burst,
    burst_in_one_body,
    duplicate_concurrent,
    duplicate_sequential,
    happy,
    hostile_cases,
    kept_bodies_check,
    kept_bodies_since,
    national_ids,
    two_bursts,
)
from devstack.faults.harness import Harness
from devstack.faults.model import (
    FINALE_CHATS,
    FINALE_DEADLINE,
    Case,
    Scenario,
)

# --------------------------------------------------------------------------- the finale


MIXED: tuple[Callable[[Harness], Case], ...] = (
    happy,
    duplicate_sequential,
    lambda h: duplicate_concurrent(h, 4),
    burst,
    lambda h: burst(h, concurrent=True),
    burst_in_one_body,
    two_bursts,
    rate_limited,
    server_error,
    timeout_after_accept,
    not_sent,
    lambda h: window_closed(h, "400", template=False),
    lambda h: window_closed(h, "200", template=False),
    lambda h: window_closed(h, "meta", template=False),
    lambda h: window_closed_here(h, template=False),
    queued,
    invalid_recipient,
    unauthorized,
    duplicate_acks,
    reordered_acks,
    functools.partial(withheld_acks, busy=True),
    lambda h: failed_ack(h, 0),
    lambda h: failed_ack(h, 1),
)


def finale(chats: int) -> Callable[[Harness], list[Case]]:
    def build(h: Harness) -> list[Case]:
        cases = [h.rng.choice(MIXED)(h) for _ in range(chats)]
        for case in cases:
            act, delay = case.act, h.rng.uniform(0, 3)

            def staggered(c: Case, act: Callable[[Case], None] = act, delay: float = delay) -> None:
                time.sleep(delay)
                act(c)

            case.act = staggered
        return cases

    return build


def _finale_outage(h: Harness) -> None:
    """Half way through the posts, 1MSG is unreachable for a moment."""
    time.sleep(1.5)
    h.sim.outage(1.5)


def main_scenarios(chats: int = FINALE_CHATS) -> list[Scenario]:

    one = _one
    return [
        Scenario("happy path", one(happy)),
        Scenario("same webhook x3", one(duplicate_sequential)),
        Scenario("same webhook x8 at once", one(duplicate_concurrent)),
        Scenario("burst of 3 in 1 s", one(burst)),
        Scenario("burst of 3 at once", one(lambda h: burst(h, concurrent=True))),
        Scenario("two bursts, gap > session", one(two_bursts)),
        Scenario("3 messages in one webhook", one(burst_in_one_body)),
        Scenario("old + new request together", one(backlog)),
        Scenario("429 then success", one(rate_limited)),
        Scenario("500 then success", one(server_error)),
        Scenario("connection refused", one(connect_error)),
        Scenario("timeout after accept", one(timeout_after_accept)),
        Scenario("timeout after accept, late echo", one(timeout_late_echo)),
        Scenario("timeout after accept, echo lost", one(timeout_echo_lost)),
        Scenario("sent: false", one(not_sent)),
        Scenario("window closed (400)", one(lambda h: window_closed(h, "400", template=False))),
        Scenario("window closed (200)", one(lambda h: window_closed(h, "200", template=False))),
        Scenario("window closed (meta)", one(lambda h: window_closed(h, "meta", template=False))),
        Scenario("window closed, our check", one(lambda h: window_closed_here(h, template=False))),
        Scenario("queued (jobId)", one(queued)),
        Scenario("invalid recipient", one(invalid_recipient)),
        Scenario("401 once", one(unauthorized)),
        Scenario("duplicate acks", one(duplicate_acks)),
        Scenario("reordered acks", one(reordered_acks)),
        Scenario("withheld acks (hookInfo)", one(withheld_acks)),
        Scenario("acks before the send result", one(acks_before_result)),
        Scenario("failed ack with error", lambda h: [failed_ack(h, 0), failed_ack(h, 1)]),
        Scenario("Brazil 8-digit + Mexico 521 ids", national_ids),
        Scenario(
            "hostile bodies", hostile_cases, before=kept_bodies_since, after=kept_bodies_check
        ),
        *aws_scenarios(),
        Scenario(
            f"finale: {chats} mixed chats",
            finale(chats),
            deadline=FINALE_DEADLINE,
            during=_finale_outage,
        ),
    ]


def template_scenarios() -> list[Scenario]:
    return [
        Scenario("tpl: happy path", _one(happy)),
        *(
            Scenario(
                f"tpl: window closed ({style})",
                _one(functools.partial(window_closed, style=style, template=True)),
            )
            for style in ("400", "200", "meta")
        ),
        Scenario(
            "tpl: window closed, our check", _one(lambda h: window_closed_here(h, template=True))
        ),
        Scenario("tpl: sendTemplate 500 once", _one(template_server_error)),
        Scenario("tpl: sendTemplate timeout", _one(template_timeout)),
    ]


def clock_scenarios() -> list[Scenario]:
    """Pass 2 too: they need its short session gap."""
    return [
        Scenario("clock a day ahead, then right", _one(clock_ahead)),
        Scenario("statuses a day ahead (hookInfo)", _one(statuses_ahead)),
    ]


def _one(make: Callable[[Harness], Case]) -> Callable[[Harness], list[Case]]:
    return lambda h: [make(h)]
