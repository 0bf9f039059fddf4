"""Cases about provider clocks: 1MSG's (or the client phone's) clock a day ahead of ours.

A provider time further ahead than the allowed skew (`CLOCK_SKEW_SECONDS`) is brought back
to now plus that skew: the request is answered, its window runs from now (not from a day
ahead), and once the clock is right again a later message opens the next request. These run
in pass 2, whose session gap is short (`CLOCK_SESSION_GAP`), so "later" is seconds away.
"""

from __future__ import annotations

import time

from devstack.faults.checks import inbound_count, polled_not_pushed, status_times
from devstack.faults.harness import Harness, single
from devstack.faults.model import (
    CLOCK_SESSION_GAP,
    CLOCK_SKEW,
    WINDOW_SECONDS,
    Case,
    CaseView,
    Expect,
)

DAY = 86_400


def _lead(h: Harness, case: Case) -> dict[str, float]:
    lead = (h.lead(case.chat_id) or {}).get("lead") or {}
    return {k: float(lead.get(k) or 0) for k in ("last_inbound_at", "window_expires_at")}


def clock_ahead(h: Harness) -> Case:
    """A request and its follow-up stamped a day ahead; answered once, the window from now;
    the clock is right again, the gap passes, and the client's next message opens a request."""
    phone, name = h.phone(), h.name()
    first, follow, later = h.new_id(), h.new_id(), h.new_id()
    posted: dict[str, float] = {}

    def act(case: Case) -> None:
        posted["first"] = time.time()
        h.post(case, h.hook(h.message(case.chat_id, first, "Hello", name=name)))
        h.post(case, h.hook(h.message(case.chat_id, follow, h.question(), name=name)))
        h.wait_for(lambda: h.reply_settled(case.chat_id, first), "the first reply")
        lead, now = _lead(h, case), time.time()
        ahead = lead["last_inbound_at"] - (now + CLOCK_SKEW)
        if ahead > 0 or lead["window_expires_at"] > now + CLOCK_SKEW + WINDOW_SECONDS:
            case.errors.append(
                f"the lead's last client message is {ahead + CLOCK_SKEW:.0f} s ahead of now"
                f" and its window ends {lead['window_expires_at'] - now:.0f} s from now"
            )
            return  # a later message could not open a request for a day
        # The clock is right again; the client writes once the request is over.
        h.sim.set_options(phone, clock_skew=0)
        over = lead["last_inbound_at"] + CLOCK_SESSION_GAP + 1
        h.wait_for(lambda: time.time() > over, "the end of the first request")
        posted["later"] = time.time()
        h.post(case, h.hook(h.message(case.chat_id, later, h.question(), name=name)))

    def next_request(view: CaseView) -> str | None:
        lead = (view.lead or {}).get("lead") or {}
        if lead.get("session_id") != later:
            return f"lead session {lead.get('session_id')}, expected the later message's"
        window_end = posted.get("later", 0) + CLOCK_SKEW + WINDOW_SECONDS
        if float(lead.get("window_expires_at") or 0) > window_end:
            return f"window ends at {lead.get('window_expires_at')}, after {window_end:.0f}"
        return None

    return Case(
        "clock a day ahead, then right",
        phone,
        act,
        expects=[Expect((first,)), Expect((later,))],
        options={"clock_skew": DAY},
        lead_status="auto_replied",
        calls={"sendMessage": 2},
        checks=[inbound_count(3), next_request, status_times],
    )


def statuses_ahead(h: Harness) -> Case:
    """1MSG's clock a day ahead and no ack pushed: the poller reads hookInfo's timestamps (a
    day ahead) and keeps each status time at now plus the skew at most."""

    def not_ahead(view: CaseView) -> str | None:
        bound = time.time() + CLOCK_SKEW
        (reply,) = view.replies()[:1] or [{}]
        times = {k: float(reply.get(k) or 0) for k in ("sent_at", "delivered_at")}
        ahead = {k: round(v - bound) for k, v in times.items() if v > bound}
        return f"status times ahead of now + skew by {ahead} s" if ahead else None

    return single(
        h,
        "statuses a day ahead (hookInfo)",
        options={"clock_skew": DAY, "withhold": ["sent", "delivered", "read"]},
        expect=Expect((), also=("delivered",)),
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[polled_not_pushed, not_ahead],
    )
