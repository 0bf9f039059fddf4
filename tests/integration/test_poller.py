"""The status poller: one message's failure never stops a run, every waiting message gets
its turn, and a run ends inside its time when 1MSG is slow."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from session_reply.flows import poll_statuses

from tests.conftest import LambdaContext, Stack, hook_event, load_handler, reset_caches

PHONES = ("77011111111", "77012222222", "77013333333")


@pytest.fixture
def waiting(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three clients answered; each reply (1MSG ids wamid.OUT0..2) still waits for a status."""
    monkeypatch.setenv("POLL_AFTER_SECONDS", "0")
    reset_caches()
    ids = (f"wamid.OUT{i}" for i in itertools.count())
    stack.onemsg.routes["send"].side_effect = lambda request: httpx.Response(
        200, json={"sent": True, "id": next(ids), "message": "ok"}
    )
    for phone in PHONES:
        chat = f"{phone}@c.us"
        stack.post_hook(
            hook_event("webhook/inbound.json", id=f"wamid.in.{phone}", chatId=chat, author=chat)
        )
        stack.drain()
        time.sleep(0.01)  # distinct acceptance times: the oldest is asked first
    return [f"wamid.OUT{i}" for i in range(len(PHONES))]


def poll(context: Any = None) -> dict[str, int]:
    result: dict[str, int] = load_handler("status_poller").lambda_handler(
        {}, context or LambdaContext()
    )
    return result


def asked(stack: Stack) -> list[str]:
    return [
        str(call.request.url.params["messageId"])
        for call in stack.onemsg.calls
        if call.request.url.path.endswith("/hookInfo")
    ]


def status_of(stack: Stack, phone: str) -> str:
    out = next(m for m in stack.lead(f"{phone}@c.us")["messages"] if m.get("author") == "auto")
    return str(out["status"])


def test_other_messages_are_polled_when_hookinfo_refuses_one_with_a_4xx(
    stack: Stack, waiting: list[str]
) -> None:
    # Given hookInfo answers 400 for the oldest message and `delivered` for the others
    def hook_info(request: httpx.Request) -> httpx.Response:
        message_id = request.url.params["messageId"]
        if message_id == waiting[0]:
            return httpx.Response(400, json={"error": "Invalid messageId"})
        return httpx.Response(200, json={"hooks": [{"id": message_id, "status": "delivered"}]})

    stack.onemsg.get("/hookInfo").mock(side_effect=hook_info)
    # When the poller runs
    result = poll()
    # Then the run went on past the refused message
    assert (result["checked"], result["failed"]) == (3, 1)
    assert [status_of(stack, p) for p in PHONES] == ["queued", "delivered", "delivered"]


def test_every_waiting_message_gets_its_turn_when_more_wait_than_one_run_reads(
    stack: Stack, waiting: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run reads one page of 2, and every message stays at `sent` (phones offline)
    monkeypatch.setenv("POLL_BATCH_SIZE", "2")
    monkeypatch.setattr(poll_statuses, "MAX_PAGES", 1)
    reset_caches()
    stack.onemsg.get("/hookInfo").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"hooks": [{"id": request.url.params["messageId"], "status": "sent"}]}
        )
    )
    # When the poller runs twice
    poll()
    poll()
    # Then the third message was asked about in the second run, not the first two again
    assert sorted(asked(stack)[:2]) == waiting[:2]
    assert asked(stack)[2] == waiting[2]


@dataclass
class NearlyOverContext(LambdaContext):
    """A run with less time left than one more 1MSG call needs."""

    def get_remaining_time_in_millis(self) -> int:
        return 2_000


def test_run_ends_without_calling_1msg_when_no_call_fits_in_the_time_left(
    stack: Stack, waiting: list[str]
) -> None:
    stack.onemsg.get("/hookInfo").respond(200, json={"hooks": []})
    result = poll(NearlyOverContext())
    assert asked(stack) == []
    assert result["checked"] == 0
