"""Provider times are 1MSG's (or the phone's) clock: one ahead of ours never moves the lead's
window or a status time into the future beyond a small skew."""

from __future__ import annotations

import json
import time

import pytest
from session_reply.onemsg.wire import MAX_CLOCK_SKEW_SECONDS
from session_reply.settings import get_settings

from tests.conftest import REPLY_ID, Stack, hook_event, load_event, reset_caches, with_body

A_MONTH = 30 * 86_400


def test_window_ends_a_day_from_now_when_the_client_message_time_is_a_month_ahead(
    stack: Stack,
) -> None:
    # Given a client message whose provider time is a month in the future
    before = int(time.time())
    stack.post_hook(hook_event("webhook/inbound.json", time=before + A_MONTH))
    after = int(time.time())
    # When the lead is read
    lead = stack.lead()["lead"]
    # Then its request and window start no later than now plus the skew
    assert lead["session_opened_at"] <= after + MAX_CLOCK_SKEW_SECONDS
    window = get_settings().window_seconds
    assert lead["window_expires_at"] <= after + MAX_CLOCK_SKEW_SECONDS + window


def test_status_time_is_now_plus_skew_at_most_when_hook_timestamp_is_in_the_future(
    stack: Stack,
) -> None:
    # Given an answered client
    stack.post_hook(hook_event("webhook/inbound.json"))
    stack.drain()
    # When a status comes with a timestamp a month ahead
    event = load_event("webhook/hooks_status.json")
    body = json.loads(event["body"])
    body["hooks"][0]["timestamp"] = int(time.time()) + A_MONTH
    stack.post_hook(with_body(event, body))
    after = time.time()
    # Then its time is clamped
    out = next(m for m in stack.lead()["messages"] if m.get("provider_id") == REPLY_ID)
    assert out["status"] == "delivered"
    assert out["delivered_at"] <= after + MAX_CLOCK_SKEW_SECONDS


def test_a_later_message_opens_a_request_when_an_earlier_one_came_a_month_ahead(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a short session gap and skew, and a client message a month ahead (clamped)
    monkeypatch.setenv("SESSION_GAP_SECONDS", "60")
    monkeypatch.setenv("CLOCK_SKEW_SECONDS", "5")
    reset_caches()
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start)
    stack.post_hook(hook_event("webhook/inbound.json", id="wamid.ahead", time=int(start) + A_MONTH))
    lead = stack.lead()["lead"]
    assert lead["last_inbound_at"] <= int(start) + 5
    # When the client writes again, with a right clock, once the gap has passed
    later = start + 5 + 60 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    stack.post_hook(hook_event("webhook/inbound.json", id="wamid.later", time=int(later)))
    # Then that message opens a new request, and the window runs from it
    lead = stack.lead()["lead"]
    assert lead["session_id"] == "wamid.later"
    assert lead["window_expires_at"] == int(later) + get_settings().window_seconds
