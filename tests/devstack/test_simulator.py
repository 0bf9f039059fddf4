"""The 1MSG simulator behaves like the 1MSG contract in DESIGN.md section 2."""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.simulator import OneMsgSimulator

CHANNEL = "100001"
TOKEN = "local-token"
PHONE = "12025550100"
CHAT_ID = f"{PHONE}@c.us"
ID_RE = re.compile(r"^wamid\.HBg[A-Z0-9]{20,}$")
ROOT = Path(__file__).resolve().parents[2]
# Built once: every httpx client would otherwise load the CA bundle again (~20 ms each).
TLS = ssl.create_default_context()


# --------------------------------------------------------------------------- helpers


class Receiver:
    """A webhook endpoint on a loopback port that records every POSTed JSON body."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.fail_next = 0  # answer 500 to this many POSTs first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.bodies.append(body)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/1msg/s3cret"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def received(self) -> list[Any]:
        with self._lock:
            return list(self.bodies)

    def messages(self) -> list[dict[str, Any]]:
        return [m for b in self.received() for m in b.get("messages", [])]

    def acks(self) -> list[dict[str, Any]]:
        return [a for b in self.received() for a in b.get("ack", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll until check() is truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(0.01)
        value = check()
    return value


def settle(sim: OneMsgSimulator, quiet: float = 0.1) -> None:
    """Wait until no new delivery attempt happened for `quiet` seconds."""
    last = -1
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        count = len(sim.deliveries())
        if count == last:
            return
        last = count
        time.sleep(quiet)


@pytest.fixture
def sim() -> Iterator[OneMsgSimulator]:
    simulator = OneMsgSimulator(CHANNEL, TOKEN, ack_delay=0.01, seed=7)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def api(sim: OneMsgSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sim.url}/{CHANNEL}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5.0,
        trust_env=False,
        verify=TLS,
    ) as client:
        yield client


@pytest.fixture
def receiver(api: httpx.Client) -> Iterator[Receiver]:
    hook = Receiver()
    assert api.post("/webhook", json={"webhookUrl": hook.url}).status_code == 200
    yield hook
    hook.close()


def acks_on(api: httpx.Client, **extra: bool) -> None:
    response = api.post("/settings", json={"ackNotificationsOn": True, **extra})
    assert response.status_code == 200


def send(api: httpx.Client, body: str = "Hello, Ann!", **recipient: str) -> httpx.Response:
    return api.post("/sendMessage", json={"body": body, **(recipient or {"phone": PHONE})})


def template_request(**recipient: str) -> dict[str, Any]:
    return {
        "template": "session_reopen",
        "namespace": "ns-1",
        "language": {"policy": "deterministic", "code": "en"},
        "params": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}],
        **(recipient or {"chatId": CHAT_ID}),
    }


# --------------------------------------------------------------------------- sendMessage


def test_send_message_returns_sent_id_and_recipient_when_request_is_valid(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given a running simulator
    # When a valid text message is sent by phone
    response = send(api)

    # Then 1MSG's success shape comes back and the send is recorded
    assert response.status_code == 200
    data = response.json()
    assert data["sent"] is True
    assert ID_RE.match(data["id"])
    assert data["message"] == f"Sent to {CHAT_ID}"
    assert data["description"] == "Message has been sent to the provider"
    [sent] = sim.sent()
    assert sent["id"] == data["id"]
    assert (sent["method"], sent["phone"], sent["chatId"]) == ("sendMessage", PHONE, CHAT_ID)
    assert (sent["body"], sent["template"]) == ("Hello, Ann!", None)


def test_send_message_accepts_chat_id_and_4096_chars_when_body_is_at_the_limit(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # When a body of exactly 4096 characters is sent to a chatId
    response = send(api, "x" * 4096, chatId=CHAT_ID)

    # Then it is accepted for that chat
    assert response.json()["sent"] is True
    assert response.json()["message"] == f"Sent to {CHAT_ID}"
    assert sim.sent()[0]["phone"] == PHONE


@pytest.mark.parametrize("form", ["bearer", "query"])
def test_api_accepts_token_and_records_auth_form_when_token_is_given_as(
    sim: OneMsgSimulator, form: str
) -> None:
    # Given the token in the Authorization header or in the query string
    headers = {"Authorization": f"Bearer {TOKEN}"} if form == "bearer" else {}
    params = {"token": TOKEN} if form == "query" else {}

    # When a message is sent
    response = httpx.post(
        f"{sim.url}/{CHANNEL}/sendMessage",
        json={"body": "hi", "phone": PHONE},
        headers=headers,
        params=params,
        trust_env=False,
        verify=TLS,
    )

    # Then it is accepted; the call records the form used, never the token itself
    assert response.json()["sent"] is True
    [call] = sim.calls()
    assert call["auth"] == form
    assert call["method"] == "sendMessage"
    assert call["http"] == "POST"
    assert call["path"] == f"/{CHANNEL}/sendMessage"
    assert call["query"] == {}
    assert call["status"] == 200
    assert call["json"] == {"body": "hi", "phone": PHONE}
    assert TOKEN not in json.dumps(call)


@pytest.mark.parametrize(
    ("headers", "params"),
    [({}, {}), ({"Authorization": "Bearer nope"}, {}), ({}, {"token": "nope"})],
    ids=["missing", "wrong-bearer", "wrong-query"],
)
def test_api_answers_401_and_sends_nothing_when_token_is_missing_or_wrong(
    sim: OneMsgSimulator, headers: dict[str, str], params: dict[str, str]
) -> None:
    # When a call comes with no token or a wrong one
    response = httpx.post(
        f"{sim.url}/{CHANNEL}/sendMessage",
        json={"body": "hi", "phone": PHONE},
        headers=headers,
        params=params,
        trust_env=False,
        verify=TLS,
    )

    # Then it is refused with 1MSG's text, and nothing is sent
    assert response.status_code == 401
    assert response.json() == {"error": "Wrong token. Please provide token as a GET parameter."}
    assert sim.sent() == []
    assert "nope" not in json.dumps(sim.calls())


def test_api_answers_404_when_channel_is_unknown(sim: OneMsgSimulator) -> None:
    # When another channel id is used
    response = httpx.post(
        f"{sim.url}/999999/sendMessage",
        json={"body": "hi", "phone": PHONE},
        params={"token": TOKEN},
        trust_env=False,
        verify=TLS,
    )

    # Then the instance is not found
    assert response.status_code == 404
    assert response.json() == {"error": "Instance not found"}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"body": "", "phone": PHONE}, "'body' is required"),
        ({"phone": PHONE}, "'body' is required"),
        ({"body": "   ", "phone": PHONE}, "blank"),
        ({"body": "x" * 4097, "phone": PHONE}, "too long: 4097"),
        ({"body": "hi", "phone": PHONE, "chatId": CHAT_ID}, "exactly one of"),
        ({"body": "hi"}, "'phone' or 'chatId' is required"),
        ({"body": "hi", "phone": "+12025550100"}, "digits only"),
        ({"body": "hi", "phone": "1202-555-0100"}, "digits only"),
        ({"body": "hi", "chatId": "12025550100"}, "'<digits>@c.us'"),
    ],
    ids=["empty", "missing", "blank", "too-long", "both", "neither", "plus", "dashes", "chat"],
)
def test_send_message_answers_400_with_clear_error_when_request_is_invalid(
    sim: OneMsgSimulator, api: httpx.Client, payload: dict[str, Any], fragment: str
) -> None:
    # When an invalid sendMessage arrives
    response = api.post("/sendMessage", json=payload)

    # Then 400 with a readable reason, nothing sent
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert sim.sent() == []


def test_me_and_status_answer_authenticated_when_token_is_right(api: httpx.Client) -> None:
    # When the cheap health checks are called
    # Then the account is authenticated
    for method in ("/me", "/status"):
        assert api.get(method).json() == {"accountStatus": "authenticated"}


# --------------------------------------------------------------------------- webhook, settings


def test_webhook_list_is_replaced_when_posted_again(api: httpx.Client) -> None:
    # Given an empty list at start
    assert api.get("/webhook").json() == {"webhookUrl": []}
    api.post("/webhook", json={"webhookUrl": ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]})

    # When another list is posted
    response = api.post("/webhook", json={"webhookUrl": "http://127.0.0.1:1/c"})

    # Then the whole list is replaced, not merged
    assert response.json() == {"set": True, "webhookUrl": ["http://127.0.0.1:1/c"]}
    assert api.get("/webhook").json() == {"webhookUrl": ["http://127.0.0.1:1/c"]}


def test_webhook_answers_400_and_keeps_list_when_more_than_five_urls(api: httpx.Client) -> None:
    # Given one registered URL
    api.post("/webhook", json={"webhookUrl": "http://127.0.0.1:1/keep"})

    # When six URLs are posted
    urls = [f"http://127.0.0.1:1/{i}" for i in range(6)]
    response = api.post("/webhook", json={"webhookUrl": urls})

    # Then it is refused and the list is unchanged
    assert response.status_code == 400
    assert "at most 5" in response.json()["error"]
    assert api.get("/webhook").json() == {"webhookUrl": ["http://127.0.0.1:1/keep"]}


def test_settings_are_merged_when_posted(api: httpx.Client) -> None:
    # Given the defaults
    assert api.get("/settings").json() == {"ackNotificationsOn": False, "guaranteedHooks": False}

    # When two partial updates are posted
    api.post("/settings", json={"ackNotificationsOn": True})
    response = api.post("/settings", json={"guaranteedHooks": True})

    # Then both keys are kept
    expected = {"ackNotificationsOn": True, "guaranteedHooks": True}
    assert response.json() == {"update": True, "settings": expected}
    assert api.get("/settings").json() == expected


# --------------------------------------------------------------------------- echoes and acks


def test_echo_is_posted_and_no_ack_when_ack_notifications_are_off(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks are off (the default)
    # When a message is sent
    mid = send(api, "Hello, Ann!").json()["id"]

    # Then the fromMe echo arrives with 1MSG's shape
    [echo] = wait_for(receiver.messages)
    assert receiver.received()[0]["instanceId"] == CHANNEL
    assert echo == {
        "id": mid,
        "body": "Hello, Ann!",
        "type": "chat",
        "senderName": "Business",
        "chatName": PHONE,
        "chatId": CHAT_ID,
        "author": CHAT_ID,
        "fromMe": True,
        "self": 1,
        "time": echo["time"],
        "quotedMsgId": None,
        "isForwarded": 0,
    }
    assert isinstance(echo["time"], int)
    # and no ack is posted, although the statuses are reached (hookInfo)
    wait_for(lambda: len(api.get("/hookInfo", params={"messageId": mid}).json()["hooks"]) == 3)
    settle(sim)
    assert receiver.acks() == []
    assert [d["kind"] for d in sim.deliveries()] == ["echo"]


def test_acks_are_posted_in_order_when_ack_notifications_are_on(
    api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks are on
    acks_on(api)

    # When a message is sent
    mid = send(api).json()["id"]

    # Then sent, delivered, read arrive in order, each in its own POST
    acks = wait_for(lambda: len(receiver.acks()) == 3 and receiver.acks())
    assert [a["status"] for a in acks] == ["sent", "delivered", "read"]
    assert all(
        a == {"id": mid, "status": a["status"], "chatId": CHAT_ID, "phone": PHONE} for a in acks
    )
    ack_bodies = [b for b in receiver.received() if "ack" in b]
    assert len(ack_bodies) == 3
    assert all(b["instanceId"] == CHANNEL for b in ack_bodies)


def test_acks_are_posted_twice_when_duplicate_acks_is_set(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks on and duplication requested
    acks_on(api)
    sim.set_options(duplicate_acks=True)

    # When a message is sent
    send(api)

    # Then every ack arrives twice
    acks = wait_for(lambda: len(receiver.acks()) == 6 and receiver.acks())
    assert [a["status"] for a in acks] == ["sent", "sent", "delivered", "delivered", "read", "read"]


def test_acks_are_posted_in_reverse_when_reorder_acks_is_set(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks on and reordering requested
    acks_on(api)
    sim.set_options(reorder_acks=True)

    # When a message is sent
    send(api)

    # Then the acks arrive read first
    acks = wait_for(lambda: len(receiver.acks()) == 3 and receiver.acks())
    assert [a["status"] for a in acks] == ["read", "delivered", "sent"]


def test_hook_info_shows_withheld_status_when_it_was_not_posted(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks on, "delivered" withheld and "read" never reached
    acks_on(api)
    sim.set_options(acks=["sent", "delivered"], withhold=["delivered"])

    # When a message is sent
    mid = send(api).json()["id"]

    # Then only "sent" is posted, while hookInfo shows sent and delivered
    def hooks() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = api.get("/hookInfo", params={"messageId": mid}).json()[
            "hooks"
        ]
        return found

    entries = wait_for(lambda: len(hooks()) == 2 and hooks())
    assert [e["status"] for e in entries] == ["sent", "delivered"]
    assert all(e["id"] == mid and e["recipient_id"] == PHONE for e in entries)
    assert all(isinstance(e["timestamp"], int) for e in entries)
    settle(sim)
    assert [a["status"] for a in receiver.acks()] == ["sent"]


def test_hook_info_answers_404_when_message_is_unknown(api: httpx.Client) -> None:
    # When an id the simulator never issued is asked for
    response = api.get("/hookInfo", params={"messageId": "wamid.HBgUNKNOWN"})

    # Then 1MSG's not-found answer
    assert response.status_code == 404
    assert response.json() == {"error": "Message not found"}


def test_echo_is_not_posted_when_echo_option_is_off(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given echoes disabled and acks on
    acks_on(api)
    sim.set_options(echo=False)

    # When a message is sent
    send(api)

    # Then acks come, no echo
    wait_for(lambda: len(receiver.acks()) == 3)
    assert receiver.messages() == []


def test_fail_with_posts_failed_ack_with_error_when_set(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks on and a delivery failure requested
    acks_on(api)
    sim.set_options(fail_with="(#131047) Re-engagement message")

    # When a message is sent
    mid = send(api).json()["id"]

    # Then "sent" then "failed" with the error text arrive; no delivered/read
    acks = wait_for(lambda: len(receiver.acks()) == 2 and receiver.acks())
    assert [a["status"] for a in acks] == ["sent", "failed"]
    assert acks[1]["error"] == "(#131047) Re-engagement message"
    hooks = api.get("/hookInfo", params={"messageId": mid}).json()["hooks"]
    assert [h["status"] for h in hooks] == ["sent", "failed"]


def test_every_registered_url_receives_every_event_when_several_are_set(
    api: httpx.Client, receiver: Receiver
) -> None:
    # Given a second webhook URL next to the first
    second = Receiver()
    try:
        api.post("/webhook", json={"webhookUrl": [receiver.url, second.url]})
        acks_on(api)

        # When a message is sent
        send(api)

        # Then both receive the echo and the three acks
        for hook in (receiver, second):
            wait_for(lambda: len(hook.received()) == 4)  # noqa: B023 (called at once)
    finally:
        second.close()


def test_hooks_are_retried_until_2xx_when_guaranteed_hooks_is_on(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given guaranteed hooks and a receiver failing twice
    api.post("/settings", json={"guaranteedHooks": True})
    receiver.fail_next = 2

    # When a message is sent
    mid = send(api).json()["id"]

    # Then the echo is delivered on the third attempt
    [echo] = wait_for(receiver.messages)
    assert echo["id"] == mid
    wait_for(lambda: len(sim.deliveries()) == 3)
    settle(sim)
    attempts = [(d["kind"], d["attempt"], d["status"]) for d in sim.deliveries()]
    assert attempts == [("echo", 1, 500), ("echo", 2, 500), ("echo", 3, 200)]


def test_hook_is_dropped_when_it_fails_and_guaranteed_hooks_is_off(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given a receiver failing once and no guaranteed hooks
    receiver.fail_next = 1

    # When a message is sent
    send(api)

    # Then one failed attempt is recorded and never retried
    wait_for(sim.deliveries)
    settle(sim)
    assert [(d["attempt"], d["status"]) for d in sim.deliveries()] == [(1, 500)]
    assert receiver.received() == []


def test_hook_attempt_is_recorded_when_url_is_unreachable(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given a webhook URL nobody listens on
    dead = Receiver()
    dead.close()
    api.post("/webhook", json={"webhookUrl": dead.url})

    # When a message is sent
    send(api)

    # Then the attempt is recorded with the connection error and no status code
    [attempt] = wait_for(sim.deliveries)
    assert attempt["url"] == dead.url
    assert attempt["status"] is None
    assert attempt["error"] == "ConnectionRefusedError"


def test_delivery_logs_never_hold_body_phone_or_token_when_hooks_are_posted(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    # Given acks on and every log line captured
    caplog.set_level(logging.DEBUG)
    acks_on(api)

    # When a message is sent and delivered
    api.post("/sendMessage", params={"token": TOKEN}, json={"body": "SECRET-TEXT", "phone": PHONE})
    wait_for(lambda: len(receiver.received()) == 4)

    # Then no log line holds the body, the phone, the token or the webhook secret
    # (the test's own httpx client logs its request URL, token included: not the simulator's)
    own = f"HTTP Request: POST {sim.url}/{CHANNEL}/"
    lines = [r.getMessage() for r in caplog.records if not r.getMessage().startswith(own)]
    assert any(line.startswith("1MSG hook echo") for line in lines)
    for private in ("SECRET-TEXT", PHONE, TOKEN, "s3cret"):
        assert not [line for line in lines if private in line]


# --------------------------------------------------------------------------- sendTemplate


def test_send_template_is_accepted_and_echoes_template_name_when_window_fault_is_pending(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given a closed window for the next send
    sim.set_faults([{"kind": "window_closed"}])

    # When the template goes out first, then a free text message
    template = api.post("/sendTemplate", json=template_request())
    text = send(api)

    # Then the template passes (templates work outside the window) and the text hits the fault
    assert template.status_code == 200
    assert template.json()["sent"] is True
    assert template.json()["message"] == f"Sent to {CHAT_ID}"
    assert text.status_code == 400
    [sent] = sim.sent()
    assert (sent["method"], sent["template"], sent["body"]) == (
        "sendTemplate",
        "session_reopen",
        None,
    )
    [echo] = wait_for(receiver.messages)
    assert echo["body"] == "session_reopen"
    assert echo["fromMe"] is True


def test_send_template_answers_400_when_template_is_missing(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # When a template request lacks the template name
    payload = template_request()
    del payload["template"]
    response = api.post("/sendTemplate", json=payload)

    # Then it is refused
    assert response.status_code == 400
    assert "'template'" in response.json()["error"]
    assert sim.sent() == []


def test_send_template_hits_window_fault_when_fault_names_send_template(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given a window fault aimed at sendTemplate
    sim.set_faults([{"kind": "window_closed", "method": "sendTemplate"}])

    # When a template is sent
    response = api.post("/sendTemplate", json=template_request())

    # Then it is refused
    assert response.status_code == 400
    assert response.json() == {"error": "Dialog window is closed. Use a template message."}


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "status", "answer"),
    [
        ({"kind": "rate_limited"}, 429, {"error": "Too many requests"}),
        ({"kind": "server_error"}, 500, {"error": "Internal server error"}),
        ({"kind": "not_sent", "message": "Spam"}, 200, {"sent": False, "message": "Spam"}),
        (
            {"kind": "window_closed", "style": "400"},
            400,
            {"error": "Dialog window is closed. Use a template message."},
        ),
        (
            {"kind": "window_closed", "style": "200"},
            200,
            {"sent": False, "message": "Dialog window is closed"},
        ),
        (
            {"kind": "window_closed", "style": "meta"},
            400,
            {
                "error": {
                    "message": "(#131047) Re-engagement message",
                    "code": 131047,
                    "type": "OAuthException",
                }
            },
        ),
        (
            {"kind": "invalid_recipient"},
            400,
            {"error": "Recipient phone number is not a WhatsApp user"},
        ),
        (
            {"kind": "unauthorized"},
            401,
            {"error": "Wrong token. Please provide token as a GET parameter."},
        ),
    ],
    ids=lambda v: v["kind"] + v.get("style", "") if isinstance(v, dict) and "kind" in v else "",
)
def test_send_fails_without_sending_when_fault_is_planned(
    sim: OneMsgSimulator,
    api: httpx.Client,
    receiver: Receiver,
    fault: dict[str, Any],
    status: int,
    answer: dict[str, Any],
) -> None:
    # Given the fault for the next send
    sim.set_faults([fault])

    # When a message is sent, then another one
    response = send(api)
    after = send(api)

    # Then the first gets the fault's answer, nothing goes out for it; the plan is used up
    assert response.status_code == status
    assert response.json() == answer
    assert "retry-after" not in response.headers
    first = next(c for c in sim.calls() if c["method"] == "sendMessage")
    assert first["fault"] == fault["kind"]
    assert after.json()["sent"] is True
    assert [s["id"] for s in sim.sent()] == [after.json()["id"]]
    [echo] = wait_for(receiver.messages)
    assert echo["id"] == after.json()["id"]


def test_fault_repeats_and_waits_for_its_method_when_times_and_method_are_given(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given two 429s for sendMessage only, then a 500
    sim.set_faults(
        [{"kind": "rate_limited", "method": "sendMessage", "times": 2}, {"kind": "server_error"}]
    )

    # When a template, three messages are sent
    codes = [api.post("/sendTemplate", json=template_request()).status_code]
    codes += [send(api).status_code for _ in range(3)]

    # Then the template passes, the messages get 429, 429, 500
    assert codes == [200, 429, 429, 500]
    assert httpx.get(f"{sim.url}/_sim/faults", trust_env=False, verify=TLS).json() == {"plan": []}


def test_message_is_delivered_although_answer_times_out_when_fault_is_timeout_after_accept(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given the answer is held longer than the client waits
    acks_on(api)
    sim.set_faults([{"kind": "timeout_after_accept", "delay": 2}])

    # When the client sends with a short timeout
    with pytest.raises(httpx.ReadTimeout):
        api.post("/sendMessage", json={"body": "hi", "phone": PHONE}, timeout=0.3)

    # Then the message was accepted and delivered all the same
    [sent] = sim.sent()
    [echo] = wait_for(receiver.messages)
    assert echo["id"] == sent["id"]
    acks = wait_for(lambda: len(receiver.acks()) == 3 and receiver.acks())
    assert {a["id"] for a in acks} == {sent["id"]}
    assert api.get("/hookInfo", params={"messageId": sent["id"]}).status_code == 200


def test_queued_message_is_delivered_later_with_new_id_when_fault_is_queued(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given the next send is queued by the provider
    acks_on(api)
    sim.set_faults([{"kind": "queued"}])

    # When a message is sent
    response = send(api, "queued text")

    # Then the answer is pending, with a job id and no message id
    assert response.status_code == 200
    answer = response.json()
    assert answer["sent"] is False
    assert isinstance(answer["jobId"], int)
    assert "id" not in answer
    # and later the message goes out with a fresh id: echo and acks
    [echo] = wait_for(receiver.messages)
    assert ID_RE.match(echo["id"])
    assert echo["body"] == "queued text"
    [sent] = sim.sent()
    assert (sent["id"], sent["jobId"]) == (echo["id"], answer["jobId"])
    acks = wait_for(lambda: len(receiver.acks()) == 3 and receiver.acks())
    assert {a["id"] for a in acks} == {echo["id"]}


def test_set_faults_raises_when_kind_is_unknown(sim: OneMsgSimulator) -> None:
    # When a fault kind is misspelled
    # Then the plan is refused at once
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.set_faults([{"kind": "rate_limit"}])


# --------------------------------------------------------------------------- options, control


def test_latency_delays_answer_when_latency_is_set(sim: OneMsgSimulator, api: httpx.Client) -> None:
    # Given a provider latency of 0.2 s
    sim.set_options(latency=0.2)

    # When a message is sent
    started = time.monotonic()
    response = send(api)

    # Then the answer takes at least that long
    assert response.json()["sent"] is True
    assert time.monotonic() - started >= 0.2


def test_set_options_raises_when_option_is_unknown(sim: OneMsgSimulator) -> None:
    with pytest.raises(ValueError, match="unknown option"):
        sim.set_options(reorder=True)


def test_control_api_sets_faults_options_and_reset_when_called_over_http(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    control = httpx.Client(base_url=f"{sim.url}/_sim", timeout=5.0, trust_env=False, verify=TLS)
    with control:
        # Given a fault and options set over HTTP, without a token
        assert control.post("/faults", json={"plan": [{"kind": "server_error"}]}).json() == {
            "ok": True
        }
        options = control.post("/options", json={"echo": False}).json()["options"]
        assert options["echo"] is False
        assert control.post("/options", json={"nope": 1}).status_code == 400

        # When two messages are sent
        assert send(api).status_code == 500
        mid = send(api).json()["id"]

        # Then the control API shows the calls and the send
        calls = control.get("/calls").json()["calls"]
        assert [(c["method"], c["status"]) for c in calls] == [
            ("webhook", 200),
            ("sendMessage", 500),
            ("sendMessage", 200),
        ]
        assert [s["id"] for s in control.get("/sent").json()["sent"]] == [mid]
        assert control.get("/deliveries").json() == {"deliveries": []}

        # When reset
        assert control.post("/reset").json() == {"ok": True}

        # Then calls and sent are forgotten, options are back, the webhook and settings stay
        assert control.get("/calls").json() == {"calls": []}
        assert control.get("/sent").json() == {"sent": []}
        assert control.get("/options").json()["options"]["echo"] is True
        assert api.get("/webhook").json() == {"webhookUrl": [receiver.url]}


def test_reset_keeps_webhook_and_settings_when_called(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given a send, a pending fault and acks on
    acks_on(api)
    send(api)
    sim.set_faults([{"kind": "server_error"}])

    # When reset
    sim.reset()

    # Then history and faults are gone; webhook and settings are kept
    assert sim.calls() == [] and sim.sent() == []
    assert send(api).json()["sent"] is True
    assert sim.webhooks() == [receiver.url]
    assert sim.settings()["ackNotificationsOn"] is True


def test_inbound_message_is_posted_when_injected(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # When a client message is injected over the control API
    response = httpx.post(
        f"{sim.url}/_sim/inbound",
        json={"phone": PHONE, "body": "I need a quote", "senderName": "Ann"},
        trust_env=False,
        verify=TLS,
    )

    # Then the webhook receives it as a client message
    mid = response.json()["id"]
    [message] = wait_for(receiver.messages)
    assert message["id"] == mid
    assert (message["fromMe"], message["self"], message["body"]) == (False, 0, "I need a quote")
    assert (message["chatId"], message["senderName"]) == (CHAT_ID, "Ann")


def test_ids_repeat_when_seed_is_the_same() -> None:
    # Given two simulators with the same seed
    ids = []
    for _ in range(2):
        with OneMsgSimulator(CHANNEL, TOKEN, ack_delay=0.01, seed=42) as sim:
            response = httpx.post(
                f"{sim.url}/{CHANNEL}/sendMessage",
                params={"token": TOKEN},
                json={"body": "hi", "phone": PHONE},
                trust_env=False,
                verify=TLS,
            )
            ids.append(response.json()["id"])

    # Then they issue the same ids
    assert ids[0] == ids[1]


def test_stop_is_idempotent_when_called_twice() -> None:
    sim = OneMsgSimulator(CHANNEL, TOKEN)
    sim.start()
    url = sim.url
    sim.stop()
    sim.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/{CHANNEL}/me", params={"token": TOKEN}, trust_env=False, verify=TLS)


def test_cli_serves_the_api_when_run_as_module() -> None:
    # Given the simulator started as a command on a free port
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--port", str(port), "--channel", "100002", "--token", "cli-token"]
    proc = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [sys.executable, "-m", "devstack.simulator", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # When it is ready
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/100002/sendMessage" in line

        # Then it answers with the channel and token given
        response = httpx.get(
            f"http://127.0.0.1:{port}/100002/me",
            headers={"Authorization": "Bearer cli-token"},
            trust_env=False,
            verify=TLS,
        )
        assert response.json() == {"accountStatus": "authenticated"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


# --------------------------------------------------------------------------- per-chat faults

OTHER = "34612000001"


def test_phone_fault_answers_only_its_chat_when_other_chats_send_first(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given a 429 for one chat and a 500 for any chat
    sim.set_faults([{"kind": "rate_limited", "phone": OTHER}, {"kind": "server_error"}])
    # When another chat sends, then the faulted chat twice
    first = send(api)
    second = send(api, phone=OTHER)
    third = send(api, phone=OTHER)
    # Then each fault answered the call it was meant for, once
    assert (first.status_code, second.status_code, third.status_code) == (500, 429, 200)
    assert [c["fault"] for c in sim.calls()] == ["server_error", "rate_limited", None]


def test_phone_fault_skips_a_method_it_does_not_name_when_the_chat_calls_in_another_order(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given a closed window (twice) and a 500 on sendTemplate for one chat
    sim.set_faults(
        [
            {"kind": "window_closed", "phone": PHONE, "times": 2},
            {"kind": "server_error", "phone": PHONE, "method": "sendTemplate"},
        ]
    )
    # When the chat alternates sendMessage and sendTemplate
    codes = [
        send(api).status_code,
        api.post("/sendTemplate", json=template_request(phone=PHONE)).status_code,
        send(api).status_code,
        api.post("/sendTemplate", json=template_request(phone=PHONE)).status_code,
    ]
    # Then the template is never refused for the window, and each fault is used up
    assert codes == [400, 500, 400, 200]
    assert sim.sent()[0]["method"] == "sendTemplate"


def test_add_faults_keeps_the_plan_when_another_chat_adds_its_own(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    sim.add_faults([{"kind": "rate_limited", "phone": PHONE}])
    sim.add_faults([{"kind": "server_error", "phone": OTHER}])
    assert send(api, phone=OTHER).status_code == 500
    assert send(api).status_code == 429


def test_set_faults_raises_when_the_phone_is_not_digits(sim: OneMsgSimulator) -> None:
    with pytest.raises(ValueError, match="'phone'"):
        sim.set_faults([{"kind": "queued", "phone": "+34 612 000 001"}])


def test_chat_options_apply_to_that_chat_only_when_set_with_a_phone(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given acks on, and the echo off for one chat only
    acks_on(api)
    sim.set_options(OTHER, echo=False)
    # When both chats get a message
    send(api)
    send(api, phone=OTHER)
    wait_for(lambda: len(receiver.acks()) >= 6)
    settle(sim)
    # Then only the other chat's echo is missing
    assert [m["chatId"] for m in receiver.messages()] == [CHAT_ID]
    assert sim.options(OTHER)["echo"] is False and sim.options()["echo"] is True
    sim.reset()
    assert sim.options(OTHER)["echo"] is True


def test_calls_meet_a_refused_connection_when_in_an_outage(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given an outage
    sim.outage(0.5)
    assert sim.in_outage()
    # When a call is made meanwhile; Then the connection is refused and nothing is recorded
    with pytest.raises(httpx.ConnectError):
        send(api)
    assert sim.calls() == []
    # and after the outage the same URL serves again
    wait_for(lambda: not sim.in_outage())
    assert send(api).status_code == 200


def test_outage_ends_before_its_time_when_resumed(sim: OneMsgSimulator, api: httpx.Client) -> None:
    # Given an outage of an hour
    sim.outage(3600)
    with pytest.raises(httpx.ConnectError):
        send(api)
    # When it is resumed; Then the same URL serves again (the wait is far below the hour)
    sim.resume()
    wait_for(lambda: not sim.in_outage())
    assert send(api).status_code == 200


def test_outage_over_the_control_api_refuses_calls_when_started(
    sim: OneMsgSimulator,
) -> None:
    response = httpx.post(f"{sim.url}/_sim/outage", json={"seconds": 0.3}, trust_env=False)
    assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sim.url}/{CHANNEL}/me", params={"token": TOKEN}, trust_env=False)
    wait_for(lambda: not sim.in_outage())


def test_history_lists_the_chats_sends_since_min_time_when_asked_for_messages(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    # Given two messages sent to the chat, and one to another chat
    since = int(time.time()) - 1
    first = send(api, "first").json()["id"]
    second = send(api, "second").json()["id"]
    send(api, "elsewhere", phone="12025550199")
    # When the chat's history is read from before them, and from the future
    found = api.get("/messages", params={"chatId": CHAT_ID, "min_time": since}).json()
    later = api.get("/messages", params={"chatId": CHAT_ID, "min_time": since + 3600}).json()
    # Then it lists the chat's own messages, as 1MSG's message items, oldest first
    assert [(m["id"], m["body"], m["fromMe"]) for m in found["messages"]] == [
        (first, "first", True),
        (second, "second", True),
    ]
    assert later["messages"] == []


def test_history_fails_for_the_chat_when_its_history_option_is_off(
    sim: OneMsgSimulator, api: httpx.Client
) -> None:
    sim.set_options(PHONE, history=False)
    answer = api.get("/messages", params={"chatId": CHAT_ID, "min_time": 0})
    assert answer.status_code == 500
    assert api.get("/messages", params={"min_time": 0}).status_code == 400


def test_every_time_1msg_stamps_is_a_day_ahead_when_the_chat_clock_is_skewed(
    sim: OneMsgSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    # Given 1MSG's clock a day ahead for this chat only
    day = 86_400
    sim.set_options(PHONE, clock_skew=day)
    acks_on(api)
    before = int(time.time())
    # When a message is sent to the chat, and one to another chat
    mid = send(api, "Hello, Ann!").json()["id"]
    other = send(api, "elsewhere", phone="12025550199").json()["id"]
    wait_for(lambda: len(api.get("/hookInfo", params={"messageId": mid}).json()["hooks"]) == 3)
    # Then the chat's clock, its echo, its statuses and its history are a day ahead
    assert sim.now(PHONE) >= before + day and sim.now("12025550199") < before + day
    echoes = {
        m["id"]: m["time"]
        for m in wait_for(lambda: len(receiver.messages()) == 2 and receiver.messages())
    }
    assert echoes[mid] >= before + day and echoes[other] < before + day
    hooks = api.get("/hookInfo", params={"messageId": mid}).json()["hooks"]
    assert all(h["timestamp"] >= before + day for h in hooks)
    history = api.get("/messages", params={"chatId": CHAT_ID, "min_time": before + day}).json()
    assert [(m["id"], m["time"] >= before + day) for m in history["messages"]] == [(mid, True)]


def test_set_options_raises_when_clock_skew_is_not_a_number(sim: OneMsgSimulator) -> None:
    with pytest.raises(ValueError, match="clock_skew"):
        sim.set_options(PHONE, clock_skew="a day")
