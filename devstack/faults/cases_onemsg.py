"""Cases about 1MSG's answers: errors, timeouts, closed windows and ack quirks."""

from __future__ import annotations

from devstack.faults.checks import (
    faulted_calls,
    polled_not_pushed,
    reply_field,
    status_times,
)
from devstack.faults.harness import Harness, single
from devstack.faults.model import (
    REFUSE,
    SCENARIO_DEADLINE,
    TIMEOUT_DELAY,
    Case,
    Expect,
    reply_of,
)


def _fails_once(h: Harness, label: str, kind: str) -> Case:
    """1MSG answers with `kind` once, then accepts: one reply, on a later attempt (the
    second, or later still when a busy machine makes an answer late: 1MSG's calls say it)."""
    return single(
        h,
        label,
        faults=[{"kind": kind}],
        calls={"sendMessage": 2},
        lead_status="auto_replied",
        checks=[
            faulted_calls(kind, 1),
            reply_field("attempt", lambda v: int(v or 0) >= 2, ">= 2 (after the faulted one)"),
        ],
    )


def rate_limited(h: Harness) -> Case:
    return _fails_once(h, "429 then success", "rate_limited")


def server_error(h: Harness) -> Case:
    return _fails_once(h, "500 then success", "server_error")


def connect_error(h: Harness) -> Case:
    """1MSG unreachable (connections refused) when the sender first tries; then back."""
    case = single(
        h,
        "connection refused, then back",
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[
            reply_field("attempt", lambda v: int(v or 0) >= 2, ">= 2 (a refused attempt)"),
            reply_field(
                "last_error", lambda v: v == "ProviderUnavailableError", "ProviderUnavailableError"
            ),
        ],
    )
    post, opener = case.act, case.expects[0].openers[0]

    def refused(c: Case) -> bool:
        out = reply_of(h.lead(c.chat_id), opener) or {}
        return out.get("last_error") == "ProviderUnavailableError"

    def act(case: Case) -> None:
        # 1MSG stays unreachable until the sender met it (however long the machine takes
        # to get there), then comes back.
        h.sim.outage(SCENARIO_DEADLINE)
        try:
            post(case)
            h.wait_for(lambda: refused(case), "a refused send attempt")
        finally:
            h.sim.resume()

    case.act = act
    return case


def timeout_after_accept(h: Harness) -> Case:
    """1MSG sends it but answers after the client gave up: the echo settles it, no resend."""
    return single(
        h,
        "timeout after accept",
        faults=[{"kind": "timeout_after_accept", "delay": TIMEOUT_DELAY}],
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[
            faulted_calls("timeout_after_accept", 1),
        ],
    )


def not_sent(h: Harness) -> Case:
    text = "Message has not been sent: the chat is archived"
    return single(
        h,
        "sent: false",
        faults=[{"kind": "not_sent", "message": text}],
        expect=Expect((), REFUSE, "provider_rejected"),
        calls={"sendMessage": 1},
        checks=[reply_field("reason_detail", lambda v: v == text, repr(text))],
    )


def window_closed(h: Harness, style: str, *, template: bool) -> Case:
    """1MSG answers that the 24 h window is closed, in one of its three styles."""
    if template:
        return single(
            h,
            f"window closed ({style}) -> template",
            faults=[{"kind": "window_closed", "style": style}],
            expect=Expect((), method="sendTemplate", author="template"),
            lead_status="auto_replied",
            calls={"sendMessage": 1, "sendTemplate": 1},
        )
    return single(
        h,
        f"window closed ({style})",
        faults=[{"kind": "window_closed", "style": style}],
        expect=Expect((), REFUSE, "window_closed"),
        lead_status="window_closed",
        calls={"sendMessage": 1, "sendTemplate": 0},
        checks=[reply_field("state", lambda v: v == "FAILED", "FAILED")],
    )


def window_closed_here(h: Harness, *, template: bool) -> Case:
    """The client wrote 25 h ago: our own check finds the window closed before any call."""
    label = "window closed at our check"
    at = -(25 * 3600)
    if template:
        return single(
            h,
            f"{label} -> template",
            at=at,
            expect=Expect((), method="sendTemplate", author="template"),
            lead_status="auto_replied",
            calls={"sendMessage": 0, "sendTemplate": 1},
        )
    return single(
        h,
        label,
        at=at,
        expect=Expect((), REFUSE, "window_closed"),
        lead_status="window_closed",
        calls={"sendMessage": 0, "sendTemplate": 0},
        checks=[reply_field("state", lambda v: v == "SKIPPED", "SKIPPED")],
    )


def queued(h: Harness) -> Case:
    return single(
        h,
        "queued (jobId)",
        faults=[{"kind": "queued"}],
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[reply_field("job_id", lambda v: v not in (None, ""), "the jobId")],
    )


def invalid_recipient(h: Harness) -> Case:
    return single(
        h,
        "invalid recipient",
        faults=[{"kind": "invalid_recipient"}],
        expect=Expect((), REFUSE, "invalid_recipient"),
        lead_status="unreachable",
        calls={"sendMessage": 1},
    )


def unauthorized(h: Harness) -> Case:
    return single(
        h,
        "401 once, then success",
        faults=[{"kind": "unauthorized"}],
        calls={"sendMessage": 2},
        lead_status="auto_replied",
        checks=[faulted_calls("unauthorized", 1)],
    )


def duplicate_acks(h: Harness) -> Case:
    return single(
        h,
        "duplicate acks",
        options={"duplicate_acks": True},
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[status_times],
    )


def reordered_acks(h: Harness) -> Case:
    return single(
        h,
        "acks in reverse order",
        options={"reorder_acks": True},
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[status_times],
    )


def withheld_acks(h: Harness, *, busy: bool = False) -> Case:
    """No ack is pushed; the poller asks hookInfo. Alone, the reply reaches `read` (1MSG has
    all three by the first poll). In a busy run the first poll may find `delivered` only, and
    the poller stops asking at `delivered` by design: either is right there."""
    return single(
        h,
        "acks withheld (hookInfo)",
        options={"withhold": ["sent", "delivered", "read"]},
        expect=Expect((), also=("delivered",) if busy else ()),
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[polled_not_pushed],
    )


FAILED_ACKS = (
    ("131026 Message undeliverable: not a WhatsApp user", "invalid_recipient", "unreachable"),
    ("(#131047) Re-engagement message", "window_closed", "window_closed"),
)


def failed_ack(h: Harness, which: int = 0) -> Case:
    error, reason, lead_status = FAILED_ACKS[which]
    return single(
        h,
        f"failed ack ({reason})",
        options={"fail_with": error},
        expect=Expect((), status="failed"),
        calls={"sendMessage": 1},
        lead_status=lead_status,
        checks=[
            reply_field("reason", lambda v: v == reason, reason),
            reply_field("reason_detail", lambda v: v == error, repr(error)),
        ],
    )


def timeout_late_echo(h: Harness) -> Case:
    """As `timeout_after_accept`, but the echo comes after the client gave up (within the
    lease): it must settle the send that is waiting for it."""
    case = timeout_after_accept(h)
    case.label = "timeout after accept, echo after it"
    case.options = {"ack_delay": 5.0}  # > ONEMSG_TIMEOUT_SECONDS, < SEND_LEASE_SECONDS
    return case


def acks_before_result(h: Harness) -> Case:
    """1MSG posts the acks before its sendMessage answer reaches us (and no echo): they are
    parked and applied when the send result is stored."""
    return single(
        h,
        "acks before the send result",
        options={"echo": False, "latency": 1.0},
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[status_times],
    )


def timeout_echo_lost(h: Harness) -> Case:
    """1MSG sends it, answers after the client gave up, and its echo never comes; the
    sent/delivered/read acks (with the message id and the chat) do."""
    case = timeout_after_accept(h)
    case.label = "timeout after accept, echo lost"
    case.options = {"echo": False}
    return case


def template_timeout(h: Harness) -> Case:
    """The window closed at our check; sendTemplate times out after 1MSG sent it."""
    case = window_closed_here(h, template=True)
    case.label = "sendTemplate timeout after accept"
    case.faults = [
        {"kind": "timeout_after_accept", "delay": TIMEOUT_DELAY, "method": "sendTemplate"}
    ]
    case.checks.append(faulted_calls("timeout_after_accept", 1))
    return case


def template_server_error(h: Harness) -> Case:
    """1MSG says the window is closed (and keeps saying so); the template then meets a 500
    once: tried again, one template goes, never free text."""
    case = window_closed(h, "400", template=True)
    case.label = "window closed, sendTemplate 500 once"
    case.faults = [
        {"kind": "window_closed", "style": "400", "times": 2},
        {"kind": "server_error", "method": "sendTemplate"},
    ]
    case.calls = {"sendMessage": 2, "sendTemplate": 2}
    case.checks.append(faulted_calls("server_error", 1))
    return case
