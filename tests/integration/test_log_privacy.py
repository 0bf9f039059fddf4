"""No personal data in any log line: a whole conversation runs through the real handlers
with their real Powertools loggers, and every line they print is searched for the client's
number, chat id, name and texts, and for WhatsApp's message ids (`wamid.…`), which hold the
number base64-encoded."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from session_reply.observability import logger

from tests.conftest import (
    CHAT,
    REPLY_ID,
    LambdaContext,
    Stack,
    hook_event,
    load_event,
    load_handler,
    reset_caches,
)

PHONE = CHAT.split("@", 1)[0]
NAME = "Maria"
CLIENT_TEXT = "How much is delivery to Almaty"
MANAGER_TEXT = "2500 KZT, 2 days"
PROVIDER_ID = "wamid."  # any of WhatsApp's ids: the client's message, our reply, its echo
PHONE_IN_IDS = base64.b64encode(PHONE.encode()).decode().rstrip("=")  # as a wamid holds it


def personal_data_in(output: str) -> list[str]:
    found = []
    for line in output.splitlines():
        for needle in (PHONE, NAME, CLIENT_TEXT, MANAGER_TEXT, "Almaty", PROVIDER_ID, PHONE_IN_IDS):
            if needle in line:
                at = line.index(needle)
                found.append(f"{needle!r} in …{line[max(0, at - 120) : at + 40]}…")
        # Nor the number in another spelling (+7 701 123 45 67, 7-701-...)
        if PHONE in re.sub(r"[^0-9]", "", line):
            found.append(f"digits of the phone in {line[:300]}")
    return found


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every line the package's Powertools logger writes, as Lambda would ship it."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    before = handler.setStream(buffer)
    yield buffer
    handler.setStream(before)


def test_no_log_line_holds_the_number_name_or_text_when_a_whole_conversation_runs(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    log_lines: io.StringIO,
) -> None:
    monkeypatch.setenv("ESCALATE_AFTER_SECONDS", "0")
    monkeypatch.setenv("POLL_AFTER_SECONDS", "0")
    reset_caches()
    # Given a client writes, the first send is rate limited, then accepted
    stack.onemsg.routes["send"].side_effect = [
        httpx.Response(429, json={"error": "Too many requests"}),
        httpx.Response(200, json={"sent": True, "id": REPLY_ID, "message": f"Sent to {CHAT}"}),
    ]
    stack.onemsg.get("/hookInfo").respond(404, json={"error": "not found"})
    stack.post_hook(hook_event("webhook/inbound.json"))
    queued = stack.receive()
    stack.run_sender(queued)
    stack.sqs.change_message_visibility(  # the backoff is over
        QueueUrl=stack.queue_url, ReceiptHandle=queued[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    stack.drain()
    # And the echo, acks, a poller run, a manager's messages and reads of the lead follow
    stack.post_hook(load_event("webhook/echo_of_reply.json"))
    stack.post_hook(load_event("webhook/ack_delivered.json"))
    poller = load_handler("status_poller")
    poller.lambda_handler({}, LambdaContext())
    stack.post_hook(hook_event("webhook/manager_typed_in_app.json"))
    post = load_event("manager_api/post_message.json")
    post["body"] = json.dumps({"body": MANAGER_TEXT, "idempotency_key": "crm-1"})
    assert stack.call_api(post)[0] == 202
    stack.drain()
    assert stack.call_api(load_event("manager_api/get_lead.json"))[0] == 200
    assert stack.call_api(load_event("manager_api/post_message_unknown_lead.json"))[0] == 404
    # When every line the handlers printed is read
    output = capfd.readouterr()  # the metrics (EMF) are printed, not logged
    lines = log_lines.getvalue() + output.out + output.err
    # Then the conversation was logged (ids and outcomes), but no personal data
    assert '"send done"' in lines and '"send will be retried"' in lines
    assert personal_data_in(lines) == []
    assert '"lead_ref"' in lines and '"send_ref"' in lines and '"provider_ref"' in lines
