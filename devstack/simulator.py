"""A 1MSG WhatsApp Business API simulator on a loopback port.

It serves the part of the 1MSG contract the product uses (DESIGN.md section 2): ``sendMessage``,
``sendTemplate``, ``hookInfo``, ``messages`` (a chat's history), ``webhook``, ``settings``,
``me``/``status`` under
``/{channelId}/{method}``, and POSTs back what 1MSG would: the ``fromMe`` echo of every accepted
send and, once ``ackNotificationsOn`` is set, the ``sent``/``delivered``/``read`` acks, from a
background worker with a delay between steps. Faults (429, 500, closed window, queued, timeout after
accept, ...) and delivery quirks (duplicated, reordered or withheld acks) are switched on from the
tests or over the ``/_sim/`` control API, for every chat or (``phone``) for one chat only, so
scenarios on different chats can run at the same time. ``outage(seconds)`` stops listening for a
while: calls meet a refused connection, as when 1MSG cannot be reached at all. The
``clock_skew`` option sets 1MSG's clock ahead of ours (or behind) for a chat: every time it
stamps (``now(phone)``, echoes, statuses, the chat's history) moves with it.

Run it on its own:
``python -m devstack.simulator --port 8088 --channel 100001 --token local-token``.

Message bodies, phone numbers and the token are never logged.
"""

from __future__ import annotations

import argparse
import collections
import copy
import heapq
import hmac
import http.client
import itertools
import json
import logging
import queue
import random
import re
import signal
import string
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["OneMsgSimulator", "main"]

log = logging.getLogger("devstack.simulator")

JSON = dict[str, Any]

STATUSES = ("sent", "delivered", "read")
ACK_STATUSES = (*STATUSES, "failed")
SEND_METHODS = ("sendMessage", "sendTemplate")
MAX_BODY_CHARS = 4096
MAX_WEBHOOKS = 5
MAX_REQUEST_BYTES = 1024 * 1024
HOOK_ATTEMPTS = 4  # first try + 3 retries, only with guaranteedHooks
HOOK_TIMEOUT = 5.0
# Webhooks of different chats are posted in parallel (as 1MSG does); one chat's in order.
DELIVERY_THREADS = 8

WRONG_TOKEN = "Wrong token. Please provide token as a GET parameter."
INSTANCE_NOT_FOUND = "Instance not found"
MESSAGE_NOT_FOUND = "Message not found"
WINDOW_CLOSED_400 = "Dialog window is closed. Use a template message."
WINDOW_CLOSED_200 = "Dialog window is closed"
NOT_A_WHATSAPP_USER = "Recipient phone number is not a WhatsApp user"

FAULT_KINDS = (
    "rate_limited",
    "server_error",
    "timeout_after_accept",
    "not_sent",
    "queued",
    "window_closed",
    "invalid_recipient",
    "unauthorized",
)
WINDOW_STYLES = ("400", "200", "meta")
DEFAULT_SETTINGS: JSON = {"ackNotificationsOn": False, "guaranteedHooks": False}
BOOL_SETTINGS = ("ackNotificationsOn", "guaranteedHooks")

_PHONE_RE = re.compile(r"\d{5,15}")
_CHAT_ID_RE = re.compile(r"(\d{5,15})@c\.us")
_ID_ALPHABET = string.ascii_uppercase + string.digits


def _default_options(ack_delay: float) -> JSON:
    return {
        "echo": True,
        "acks": list(STATUSES),
        "withhold": [],
        "duplicate_acks": False,
        "reorder_acks": False,
        "ack_delay": ack_delay,
        "fail_with": None,
        "latency": 0.0,
        "history": True,  # False: `GET messages` fails for this chat (500)
        # Seconds 1MSG's clock (or the client phone's) is ahead of ours (negative: behind):
        # added to every time it stamps (messages, echoes, statuses, the chat's history).
        "clock_skew": 0.0,
    }


def _validate_options(current: JSON, opts: dict[str, Any]) -> JSON:
    """Return ``current`` updated with ``opts``; ValueError on an unknown key or a bad value."""
    merged = dict(current)
    for key, value in opts.items():
        if key not in current:
            raise ValueError(f"unknown option {key!r}; known: {', '.join(sorted(current))}")
        if key in ("echo", "duplicate_acks", "reorder_acks", "history"):
            if not isinstance(value, bool):
                raise ValueError(f"option {key!r} must be a boolean")
        elif key in ("acks", "withhold"):
            allowed = STATUSES if key == "acks" else ACK_STATUSES
            if not isinstance(value, list) or any(s not in allowed for s in value):
                raise ValueError(f"option {key!r} must be a list of {', '.join(allowed)}")
            value = list(value)
        elif key in ("ack_delay", "latency"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"option {key!r} must be a number of seconds >= 0")
            value = float(value)
        elif key == "clock_skew":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("option 'clock_skew' must be a number of seconds")
            value = float(value)
        elif key == "fail_with" and value is not None and not isinstance(value, str):
            raise ValueError("option 'fail_with' must be an error text or null")
        merged[key] = value
    return merged


def _validate_fault(fault: Any) -> JSON:
    if not isinstance(fault, dict):
        raise ValueError("each fault must be an object")
    kind = fault.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    method = fault.get("method")
    if method is not None and method not in SEND_METHODS:
        raise ValueError(f"fault 'method' must be one of {', '.join(SEND_METHODS)}")
    times = fault.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError("fault 'times' must be an integer >= 1")
    delay = fault.get("delay", 15)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError("fault 'delay' must be a number of seconds >= 0")
    if kind == "window_closed" and str(fault.get("style", "400")) not in WINDOW_STYLES:
        raise ValueError(f"window_closed 'style' must be one of {', '.join(WINDOW_STYLES)}")
    if "message" in fault and not isinstance(fault["message"], str):
        raise ValueError("fault 'message' must be a string")
    phone = fault.get("phone")
    if phone is not None and not (isinstance(phone, str) and _PHONE_RE.fullmatch(phone)):
        raise ValueError("fault 'phone' must be the recipient's digits, e.g. '77011234567'")
    return {**fault, "times": times, "_left": times}


def _matches(fault: JSON, method: str) -> bool:
    """Does this fault answer a call of ``method``?"""
    wanted = fault.get("method")
    if wanted is not None:
        return bool(wanted == method)
    # Unless it names the method, a closed window never refuses a template: templates are
    # what 1MSG allows outside the 24 h window.
    return not (fault["kind"] == "window_closed" and method == "sendTemplate")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"Setting '{key}' must be a boolean")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _redact_url(url: str) -> str:
    """Scheme and host only: a webhook path may hold a secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def _http_post(url: str, payload: JSON) -> int:
    """POST JSON with the standard library (which, unlike httpx, logs no URL) and return
    the HTTP status."""
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ValueError("webhook URL has no host")
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=HOOK_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST",
            target,
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "1msg-simulator"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _recipient(payload: JSON) -> tuple[str | None, str | None]:
    """Return (digits, error) for the phone/chatId pair of a send request."""
    has_phone = payload.get("phone") not in (None, "")
    has_chat = payload.get("chatId") not in (None, "")
    if has_phone and has_chat:
        return None, "Provide exactly one of 'phone' or 'chatId', not both"
    if not has_phone and not has_chat:
        return None, "Parameter 'phone' or 'chatId' is required"
    if has_phone:
        phone = payload["phone"]
        if isinstance(phone, int) and not isinstance(phone, bool):
            phone = str(phone)
        if not isinstance(phone, str) or not _PHONE_RE.fullmatch(phone):
            return None, (
                "Parameter 'phone' must be 5 to 15 digits only: country code and number, "
                "no '+', spaces or dashes"
            )
        return phone, None
    chat_id = payload["chatId"]
    match = _CHAT_ID_RE.fullmatch(chat_id) if isinstance(chat_id, str) else None
    if match is None:
        return None, "Parameter 'chatId' must look like '<digits>@c.us', e.g. '12025550100@c.us'"
    return match.group(1), None


def _validate_send(method: str, payload: Any) -> tuple[str | None, str | None]:
    """Return (digits, error) for a sendMessage/sendTemplate request body."""
    if not isinstance(payload, dict):
        return None, "Request body must be a JSON object"
    if method == "sendMessage":
        body = payload.get("body")
        if body is None or body == "":
            return None, "Parameter 'body' is required and must not be empty"
        if not isinstance(body, str):
            return None, "Parameter 'body' must be a string"
        if not body.strip():
            return None, "Parameter 'body' must not be blank"
        if len(body) > MAX_BODY_CHARS:
            return None, (
                f"Parameter 'body' is too long: {len(body)} characters, "
                f"the maximum is {MAX_BODY_CHARS}"
            )
        quoted = payload.get("quotedMsgId")
        if quoted is not None and not isinstance(quoted, str):
            return None, "Parameter 'quotedMsgId' must be a string"
    else:
        template = payload.get("template")
        if not isinstance(template, str) or not template.strip():
            return None, "Parameter 'template' is required"
        if not isinstance(payload.get("namespace"), str) or not payload["namespace"].strip():
            return None, "Parameter 'namespace' is required"
        language = payload.get("language")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            return None, "Parameter 'language' must be an object like {'policy': ..., 'code': 'en'}"
        if not isinstance(payload.get("params", []), list):
            return None, "Parameter 'params' must be a list"
    return _recipient(payload)


@dataclass
class _Reply:
    status: int
    payload: Any
    wait: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # concurrent senders queue; socketserver's 5 would reset them

    def __init__(self, address: tuple[str, int], sim: OneMsgSimulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout_after_accept) is expected: no traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            log.debug("simulator: a client connection ended early")
        else:
            log.exception("simulator: a request failed")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "1msg-simulator/1.0"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        # The default line holds the query string, i.e. maybe the token: never print it.
        return

    def _dispatch(self, verb: str) -> None:
        sim = self.server.sim
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._write(_Reply(413, {"error": "Request body too large"}))
            return
        raw = self.rfile.read(length) if length else b""
        try:
            reply = sim._handle(verb, self.path, self.headers.get("Authorization"), raw)
        except Exception as exc:
            log.exception("simulator: bug while answering %s", verb)
            reply = _Reply(500, {"error": f"simulator bug: {type(exc).__name__}"})
        if reply.wait > 0:
            sim._stopping.wait(reply.wait)
        self._write(reply)

    def _write(self, reply: _Reply) -> None:
        data = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("simulator: client went away before the answer")


class OneMsgSimulator:
    """An in-process 1MSG channel: the HTTP API plus a webhook delivery worker.

    ``calls()``, ``sent()`` and ``deliveries()`` return thread-safe copies of what happened.
    """

    def __init__(
        self,
        channel_id: str,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ack_delay: float = 0.15,
        seed: int | None = None,
    ) -> None:
        self.channel_id = str(channel_id)
        self._token = token
        self._host = host
        self._port = port
        self._initial_ack_delay = float(ack_delay)
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._resume = threading.Event()  # set: an outage ends now
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self._worker_thread: threading.Thread | None = None
        self._queue: list[tuple[float, int, int, str, Callable[[], object]]] = []
        # Due deliveries per lane (a chat's phone), run by the delivery threads in order.
        self._lanes: dict[str, collections.deque[tuple[int, Callable[[], object]]]] = {}
        self._busy_lanes: set[str] = set()
        self._ready_lanes: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._delivery_threads: list[threading.Thread] = []
        self._seq = itertools.count()
        self._job_ids = itertools.count(1001)
        self._generation = 0
        self._webhooks: list[str] = []
        self._settings: JSON = dict(DEFAULT_SETTINGS)
        self._options: JSON = _default_options(self._initial_ack_delay)
        self._chat_options: dict[str, JSON] = {}  # phone -> the options set for that chat only
        self._faults: list[JSON] = []
        self._calls: list[JSON] = []
        self._sent: list[JSON] = []
        self._deliveries: list[JSON] = []
        self._messages: dict[str, JSON] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Serve on the loopback port (0 = a free one) and start the delivery worker."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("the simulator was already started")
        self._listen()
        self._worker_thread = threading.Thread(
            target=self._work, name=f"1msg-sim-hooks-{self._port}", daemon=True
        )
        self._worker_thread.start()
        for n in range(DELIVERY_THREADS):
            thread = threading.Thread(
                target=self._deliver, name=f"1msg-sim-post-{self._port}-{n}", daemon=True
            )
            thread.start()
            self._delivery_threads.append(thread)
        log.info("1MSG simulator listening on %s (channel %s)", self.url, self.channel_id)

    def _listen(self) -> None:
        server = _Server((self._host, self._port), self)
        self._port = int(server.server_address[1])
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"1msg-sim-http-{self._port}",
            daemon=True,
        )
        self._server_thread.start()

    def outage(self, seconds: float) -> None:
        """Stop listening for ``seconds``: every call meanwhile meets a refused connection
        (nothing reaches the API, so nothing is recorded), then serve again on the same port.
        Webhook deliveries go on. Calls already in progress are answered. ``resume()`` ends
        it earlier."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError("outage 'seconds' must be a number > 0")
        with self._lock:
            if self._server is None or self._stopping.is_set():
                raise RuntimeError("the simulator is not serving (not started, or in an outage)")
            server, self._server = self._server, None
            self._resume.clear()
        server.shutdown()
        server.server_close()
        log.info("1MSG simulator: outage for %.1f s", seconds)
        threading.Thread(
            target=self._end_outage, args=(float(seconds),), name="1msg-sim-outage", daemon=True
        ).start()

    def in_outage(self) -> bool:
        with self._lock:
            return bool(self._port) and self._server is None and not self._stopping.is_set()

    def resume(self) -> None:
        """End the outage now (serving again takes a moment: see ``in_outage``)."""
        self._resume.set()

    def _end_outage(self, seconds: float) -> None:
        self._resume.wait(seconds)
        if self._stopping.is_set():
            return
        deadline = time.monotonic() + 5.0
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._listen()
                except OSError:
                    # The port is briefly held by a closing connection; try again.
                    if time.monotonic() > deadline:
                        log.exception("simulator: could not listen again after the outage")
                        return
                else:
                    log.info("1MSG simulator: serving again after the outage")
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server and the delivery worker. Safe to call more than once."""
        with self._cv:
            if self._stopping.is_set():
                return
            self._stopping.set()
            self._resume.set()
            self._cv.notify_all()
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for _ in self._delivery_threads:
            self._ready_lanes.put(None)
        for thread in (self._server_thread, self._worker_thread, *self._delivery_threads):
            if thread is not None:
                thread.join(timeout=HOOK_TIMEOUT + 1)

    def __enter__(self) -> OneMsgSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL: the product calls ``f"{url}/{channel_id}/sendMessage"``."""
        if not self._port:
            raise RuntimeError("start() the simulator first")
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        return f"http://{host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    # ------------------------------------------------------------------ inspection

    def calls(self) -> list[JSON]:
        """Every 1MSG API call received (not ``/_sim/``), in order."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def sent(self) -> list[JSON]:
        """The accepted sendMessage/sendTemplate calls, in order of acceptance."""
        with self._lock:
            return copy.deepcopy(self._sent)

    def deliveries(self) -> list[JSON]:
        """Every webhook POST attempt: url, kind (echo/ack/message), id, ack, attempt, status."""
        with self._lock:
            return copy.deepcopy(self._deliveries)

    def options(self, phone: str | None = None) -> JSON:
        """The delivery options; with ``phone``, those that apply to that chat."""
        with self._lock:
            return self._options_for(phone)

    def _options_for(self, phone: str | None) -> JSON:
        with self._lock:
            merged = copy.deepcopy(self._options)
            merged.update(copy.deepcopy(self._chat_options.get(phone or "", {})))
            return merged

    def now(self, phone: str | None = None) -> int:
        """1MSG's clock (unix seconds) for that chat: ours plus its ``clock_skew``."""
        return int(time.time() + float(self._options_for(phone)["clock_skew"]))

    def settings(self) -> JSON:
        with self._lock:
            return dict(self._settings)

    def webhooks(self) -> list[str]:
        with self._lock:
            return list(self._webhooks)

    # ------------------------------------------------------------------ control

    def set_faults(self, plan: list[JSON]) -> None:
        """Replace the fault plan: each fault answers the next matching send call(s).

        A fault with ``phone`` answers only sends to that recipient: the first of that chat's
        faults that matches the call. Faults without ``phone`` answer any send, strictly in plan
        order (the head waits for the method it names).
        """
        if not isinstance(plan, list):
            raise ValueError("the fault plan must be a list")
        faults = [_validate_fault(f) for f in plan]
        with self._lock:
            self._faults = faults

    def add_faults(self, plan: list[JSON]) -> None:
        """Append to the fault plan (e.g. the faults of one more chat, scoped by ``phone``)."""
        if not isinstance(plan, list):
            raise ValueError("the fault plan must be a list")
        faults = [_validate_fault(f) for f in plan]
        with self._lock:
            self._faults.extend(faults)

    def set_options(self, phone: str | None = None, **opts: Any) -> None:
        """Change the delivery options (echo, acks, withhold, duplicate_acks, ...); with
        ``phone``, for sends to that recipient only (on top of the options for all)."""
        if phone is None:
            with self._lock:
                self._options = _validate_options(self._options, opts)
            return
        if not isinstance(phone, str) or not _PHONE_RE.fullmatch(phone):
            raise ValueError("'phone' must be the recipient's digits, e.g. '77011234567'")
        with self._lock:
            valid = _validate_options(self._options, opts)
            chat = self._chat_options.setdefault(phone, {})
            chat.update({key: valid[key] for key in opts})

    def reset(self) -> None:
        """Forget calls, sent, deliveries and faults; options back to defaults; pending
        deliveries are cancelled. The webhook list, settings and hookInfo history stay."""
        with self._cv:
            self._generation += 1
            self._queue.clear()
            for lane in self._lanes.values():
                lane.clear()
            self._calls.clear()
            self._sent.clear()
            self._deliveries.clear()
            self._faults.clear()
            self._options = _default_options(self._initial_ack_delay)
            self._chat_options.clear()

    def inbound(
        self,
        phone: str,
        body: str,
        *,
        sender_name: str = "Client",
        from_me: bool = False,
        at: int | None = None,
    ) -> str:
        """POST a message to the registered webhooks as 1MSG would: a client's message, or with
        ``from_me=True`` one the manager typed in the 1MSG/WhatsApp app (``self: 0``).
        Returns the message id."""
        if not _PHONE_RE.fullmatch(phone):
            raise ValueError("phone must be 5 to 15 digits")
        with self._lock:
            mid = self._new_id()
        item = {
            "id": mid,
            "body": body,
            "type": "chat",
            "senderName": "Business" if from_me else sender_name,
            "chatName": sender_name if not from_me else phone,
            "chatId": f"{phone}@c.us",
            "author": f"{phone}@c.us",
            "fromMe": from_me,
            "self": 0,
            "time": self.now(phone) if at is None else at,
            "quotedMsgId": None,
            "isForwarded": 0,
        }
        payload = {"instanceId": self.channel_id, "messages": [item]}
        self._schedule(0.0, lambda: self._post_all("message", mid, None, payload, phone), phone)
        return mid

    # ------------------------------------------------------------------ HTTP entry

    def _handle(self, verb: str, raw_path: str, authorization: str | None, raw: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path == "/_sim" or path.startswith("/_sim/"):
            return self._control(verb, path, raw)
        query_token = query.pop("token", None)
        segments = path.strip("/").split("/")
        bearer: str | None = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer":
                bearer = value.strip()
        if bearer is not None and _same(bearer, self._token):
            auth: str | None = "bearer"
        elif query_token is not None and _same(query_token, self._token):
            auth = "query"
        else:
            auth = None
        presented = "bearer" if authorization else "query" if query_token is not None else None
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        record: JSON = {
            "method": segments[1] if len(segments) == 2 else None,
            "http": verb,
            "path": path,
            "auth": auth or presented,
            "json": copy.deepcopy(body),
            "query": query,
            "status": None,
            "response": None,
            "at": time.time(),
            "fault": None,
        }
        with self._lock:
            self._calls.append(record)
        reply = self._api(verb, segments, auth, query, body, bad_json, record)
        with self._lock:
            record["status"] = reply.status
            record["response"] = copy.deepcopy(reply.payload)
        log.info("1MSG %s %s -> %d", verb, path, reply.status)
        return reply

    def _api(
        self,
        verb: str,
        segments: list[str],
        auth: str | None,
        query: dict[str, str],
        body: Any,
        bad_json: bool,
        record: JSON,
    ) -> _Reply:
        if len(segments) != 2:
            return _Reply(404, {"error": "Not found. Use /{channelId}/{method}"})
        channel, method = segments
        if channel != self.channel_id:
            return _Reply(404, {"error": INSTANCE_NOT_FOUND})
        if auth is None:
            return _Reply(401, {"error": WRONG_TOKEN})
        routes: dict[str, tuple[str, ...]] = {
            "sendMessage": ("POST",),
            "sendTemplate": ("POST",),
            "hookInfo": ("GET",),
            "messages": ("GET",),
            "webhook": ("GET", "POST"),
            "settings": ("GET", "POST"),
            "me": ("GET",),
            "status": ("GET",),
        }
        if method not in routes:
            return _Reply(404, {"error": f"Method '{method}' not found"})
        if verb not in routes[method]:
            return _Reply(405, {"error": f"Use {' or '.join(routes[method])} for {method}"})
        if bad_json:
            return _Reply(400, {"error": "Request body is not valid JSON"})
        if method in SEND_METHODS:
            return self._send(method, body, record)
        if method == "hookInfo":
            return self._hook_info(query)
        if method == "messages":
            return self._history(query)
        if method == "webhook":
            return self._webhook(verb, body)
        if method == "settings":
            return self._settings_call(verb, body)
        return _Reply(200, {"accountStatus": "authenticated"})

    # ------------------------------------------------------------------ API methods

    def _send(self, method: str, payload: Any, record: JSON) -> _Reply:
        phone, error = _validate_send(method, payload)
        if error is not None or phone is None:
            return _Reply(400, {"error": error})
        fault = self._take_fault(method, phone)
        latency = float(self._options_for(phone)["latency"])
        if fault is None:
            mid = self._accept(method, payload, phone)
            return _Reply(200, self._success(mid, phone), latency)
        kind = fault["kind"]
        with self._lock:
            record["fault"] = kind
        if kind == "rate_limited":
            return _Reply(429, {"error": "Too many requests"}, latency)
        if kind == "server_error":
            return _Reply(500, {"error": "Internal server error"}, latency)
        if kind == "unauthorized":
            return _Reply(401, {"error": WRONG_TOKEN}, latency)
        if kind == "invalid_recipient":
            return _Reply(400, {"error": NOT_A_WHATSAPP_USER}, latency)
        if kind == "not_sent":
            text = fault.get("message", "Message has not been sent")
            return _Reply(200, {"sent": False, "message": text}, latency)
        if kind == "timeout_after_accept":
            mid = self._accept(method, payload, phone)
            return _Reply(200, self._success(mid, phone), float(fault.get("delay", 15)))
        if kind == "queued":
            with self._lock:
                job_id = next(self._job_ids)
            delay = float(self._options_for(phone)["ack_delay"])
            job = copy.deepcopy(payload)
            self._schedule(delay, lambda: self._accept(method, job, phone, job_id=job_id), phone)
            return _Reply(200, {"sent": False, "jobId": job_id}, latency)
        # window_closed
        style = str(fault.get("style", "400"))
        if style == "200":
            return _Reply(200, {"sent": False, "message": WINDOW_CLOSED_200}, latency)
        if style == "meta":
            meta = {
                "message": "(#131047) Re-engagement message",
                "code": 131047,
                "type": "OAuthException",
            }
            return _Reply(400, {"error": meta}, latency)
        return _Reply(400, {"error": WINDOW_CLOSED_400}, latency)

    def _take_fault(self, method: str, phone: str) -> JSON | None:
        """Consume the first of this chat's faults (``phone``) that matches the call, else
        the head of the faults for any chat when it matches (strict order there: a fault that
        does not match this method waits for the call it names)."""
        with self._lock:
            head = next(
                (f for f in self._faults if f.get("phone") == phone and _matches(f, method)),
                None,
            )
            if head is None:
                head = next((f for f in self._faults if f.get("phone") is None), None)
                if head is None or not _matches(head, method):
                    return None
            head["_left"] -= 1
            if head["_left"] <= 0:
                self._faults = [f for f in self._faults if f is not head]
            return {k: v for k, v in head.items() if not k.startswith("_")}

    @staticmethod
    def _success(mid: str, phone: str) -> JSON:
        return {
            "sent": True,
            "id": mid,
            "message": f"Sent to {phone}@c.us",
            "description": "Message has been sent to the provider",
        }

    def _hook_info(self, query: dict[str, str]) -> _Reply:
        mid = query.get("messageId")
        if not mid:
            return _Reply(400, {"error": "Parameter 'messageId' is required"})
        with self._lock:
            message = self._messages.get(mid)
            if message is None:
                return _Reply(404, {"error": MESSAGE_NOT_FOUND})
            return _Reply(200, {"hooks": copy.deepcopy(message["hooks"])})

    def _history(self, query: dict[str, str]) -> _Reply:
        """`GET messages?chatId=&min_time=`: the messages 1MSG sent to the chat since
        `min_time` (unix seconds), oldest first, in the shape of webhook message items."""
        match = _CHAT_ID_RE.fullmatch(query.get("chatId", ""))
        if match is None:
            return _Reply(400, {"error": "Parameter 'chatId' is required (<digits>@c.us)"})
        phone = match.group(1)
        try:
            since = float(query.get("min_time") or 0)
        except ValueError:
            return _Reply(400, {"error": "Parameter 'min_time' must be unix seconds"})
        opts = self._options_for(phone)
        if not opts["history"]:
            return _Reply(500, {"error": "Internal server error"})
        skew = float(opts["clock_skew"])
        with self._lock:
            items = [
                {
                    "id": s["id"],
                    "body": s["body"] if s["body"] is not None else s["template"],
                    "type": "chat" if s["method"] == "sendMessage" else "template",
                    "chatId": s["chatId"],
                    "fromMe": True,
                    "self": 1,
                    "time": int(s["at"] + skew),
                }
                for s in self._sent
                if s["phone"] == phone and s["at"] + skew >= since
            ]
        return _Reply(200, {"messages": items, "lastMessageNumber": len(items)})

    def _webhook(self, verb: str, body: Any) -> _Reply:
        if verb == "GET":
            with self._lock:
                return _Reply(200, {"webhookUrl": list(self._webhooks)})
        if not isinstance(body, dict) or "webhookUrl" not in body:
            return _Reply(400, {"error": "Parameter 'webhookUrl' is required"})
        value = body["webhookUrl"]
        if value in (None, ""):
            urls: list[Any] = []
        elif isinstance(value, str):
            urls = [value]
        elif isinstance(value, list):
            urls = value
        else:
            return _Reply(400, {"error": "Parameter 'webhookUrl' must be a URL or a list of URLs"})
        if len(urls) > MAX_WEBHOOKS:
            return _Reply(400, {"error": f"A channel can have at most {MAX_WEBHOOKS} webhook URLs"})
        for url in urls:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return _Reply(400, {"error": "Each webhook URL must start with http(s)://"})
        with self._lock:
            self._webhooks = list(urls)
            return _Reply(200, {"set": True, "webhookUrl": list(self._webhooks)})

    def _settings_call(self, verb: str, body: Any) -> _Reply:
        if verb == "GET":
            with self._lock:
                return _Reply(200, dict(self._settings))
        if not isinstance(body, dict):
            return _Reply(400, {"error": "Request body must be a JSON object"})
        update = dict(body)
        try:
            for key in BOOL_SETTINGS:
                if key in update:
                    update[key] = _as_bool(key, update[key])
        except ValueError as exc:
            return _Reply(400, {"error": str(exc)})
        with self._lock:
            self._settings.update(update)
            return _Reply(200, {"update": True, "settings": dict(self._settings)})

    # ------------------------------------------------------------------ control API

    def _control(self, verb: str, path: str, raw: bytes) -> _Reply:
        name = path.removeprefix("/_sim").strip("/")
        if verb == "GET":
            getters: dict[str, Callable[[], Any]] = {
                "calls": self.calls,
                "sent": self.sent,
                "deliveries": self.deliveries,
                "options": self.options,
                "settings": self.settings,
            }
            if name == "faults":
                with self._lock:
                    plan = [
                        {
                            **{k: v for k, v in f.items() if not k.startswith("_")},
                            "left": f["_left"],
                        }
                        for f in self._faults
                    ]
                return _Reply(200, {"plan": plan})
            if name in getters:
                return _Reply(200, {name: getters[name]()})
            return _Reply(404, {"error": f"unknown control endpoint {path}"})
        if verb != "POST":
            return _Reply(405, {"error": "use GET or POST"})
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _Reply(400, {"error": "Request body is not valid JSON"})
        try:
            if name == "faults":
                if not isinstance(body, dict):
                    raise ValueError("send {'plan': [...]}")
                self.set_faults(body.get("plan", []))
                return _Reply(200, {"ok": True})
            if name == "options":
                if not isinstance(body, dict):
                    raise ValueError("send the options as a JSON object")
                phone = body.pop("phone", None)
                self.set_options(phone, **body)
                return _Reply(200, {"ok": True, "options": self.options(phone)})
            if name == "outage":
                if not isinstance(body, dict):
                    raise ValueError("send {'seconds': n}")
                self.outage(body.get("seconds", 0))
                return _Reply(200, {"ok": True})
            if name == "reset":
                self.reset()
                return _Reply(200, {"ok": True})
            if name == "inbound":
                if not isinstance(body, dict):
                    raise ValueError("send {'phone', 'body', 'senderName', 'fromMe'}")
                mid = self.inbound(
                    str(body.get("phone", "")),
                    str(body.get("body", "")),
                    sender_name=str(body.get("senderName", "Client")),
                    from_me=bool(body.get("fromMe", False)),
                )
                return _Reply(200, {"ok": True, "id": mid})
        except (TypeError, ValueError) as exc:
            return _Reply(400, {"error": str(exc)})
        return _Reply(404, {"error": f"unknown control endpoint {path}"})

    # ------------------------------------------------------------------ delivery

    def _new_id(self) -> str:
        return "wamid.HBg" + "".join(self._rng.choice(_ID_ALPHABET) for _ in range(32))

    def _accept(self, method: str, payload: JSON, phone: str, job_id: int | None = None) -> str:
        """Record an accepted send and schedule its echo and acks."""
        with self._lock:
            mid = self._new_id()
            opts = self._options_for(phone)
            is_text = method == "sendMessage"
            self._sent.append(
                {
                    "id": mid,
                    "method": method,
                    "chatId": f"{phone}@c.us",
                    "phone": phone,
                    "body": payload["body"] if is_text else None,
                    "template": None if is_text else payload["template"],
                    "jobId": job_id,
                    "at": time.time(),
                }
            )
            self._messages[mid] = {"phone": phone, "hooks": []}
        echo = {
            "instanceId": self.channel_id,
            "messages": [
                {
                    "id": mid,
                    "body": payload["body"] if is_text else payload["template"],
                    "type": "chat",
                    "senderName": "Business",
                    "chatName": phone,
                    "chatId": f"{phone}@c.us",
                    "author": f"{phone}@c.us",
                    "fromMe": True,
                    "self": 1,
                    "time": int(time.time() + float(opts["clock_skew"])),
                    "quotedMsgId": payload.get("quotedMsgId"),
                    "isForwarded": 0,
                }
            ],
        }
        steps: list[Callable[[], None]] = []
        if opts["echo"]:
            steps.append(lambda: self._post_all("echo", mid, None, echo, phone))
        statuses = [s for s in STATUSES if s in opts["acks"]]
        if opts["fail_with"] is not None:
            statuses = [s for s in statuses if s == "sent"] + ["failed"]
        if opts["reorder_acks"]:
            statuses.reverse()
        for status in statuses:
            steps.append(self._ack_step(mid, phone, status, opts))
        delay = float(opts["ack_delay"])
        for i, step in enumerate(steps, start=1):
            self._schedule(delay * i, step, phone)
        return mid

    def _ack_step(self, mid: str, phone: str, status: str, opts: JSON) -> Callable[[], None]:
        def step() -> None:
            item: JSON = {"id": mid, "status": status, "chatId": f"{phone}@c.us", "phone": phone}
            hook: JSON = {
                "id": mid,
                "status": status,
                "timestamp": int(time.time() + float(opts["clock_skew"])),
                "recipient_id": phone,
            }
            if status == "failed":
                item["error"] = hook["error"] = opts["fail_with"]
            with self._lock:
                self._messages[mid]["hooks"].append(hook)
                notify = bool(self._settings.get("ackNotificationsOn"))
            if not notify or status in opts["withhold"]:
                return
            payload = {"instanceId": self.channel_id, "ack": [item]}
            for _ in range(2 if opts["duplicate_acks"] else 1):
                self._post_all("ack", mid, status, payload, phone)

        return step

    def _schedule(self, delay: float, action: Callable[[], object], lane: str = "") -> None:
        with self._cv:
            due = time.monotonic() + max(0.0, delay)
            entry = (due, next(self._seq), self._generation, lane, action)
            heapq.heappush(self._queue, entry)
            self._cv.notify()

    def _work(self) -> None:
        """Hand each due step to its lane; the delivery threads run the lanes."""
        while True:
            with self._cv:
                while not self._stopping.is_set():
                    if not self._queue:
                        self._cv.wait()
                        continue
                    wait = self._queue[0][0] - time.monotonic()
                    if wait > 0:
                        self._cv.wait(wait)
                        continue
                    _, _, generation, lane, action = heapq.heappop(self._queue)
                    if generation != self._generation:
                        continue
                    self._lanes.setdefault(lane, collections.deque()).append((generation, action))
                    if lane not in self._busy_lanes:
                        self._busy_lanes.add(lane)
                        self._ready_lanes.put(lane)
                if self._stopping.is_set():
                    return

    def _deliver(self) -> None:
        """Run one lane at a time to its end: a chat's webhooks stay in order."""
        while True:
            lane = self._ready_lanes.get()
            if lane is None:
                return
            while not self._stopping.is_set():
                with self._lock:
                    steps = self._lanes.get(lane)
                    if not steps:
                        self._busy_lanes.discard(lane)
                        self._lanes.pop(lane, None)
                        break
                    generation, action = steps.popleft()
                    if generation != self._generation:
                        continue
                try:
                    action()
                except Exception:
                    log.exception("simulator: a delivery step failed")

    def _post_all(
        self, kind: str, mid: str, ack: str | None, payload: JSON, lane: str = ""
    ) -> None:
        with self._lock:
            urls = list(self._webhooks)
        for url in urls:
            self._post(url, kind, mid, ack, payload, 1, lane)

    def _post(
        self,
        url: str,
        kind: str,
        mid: str,
        ack: str | None,
        payload: JSON,
        attempt: int,
        lane: str = "",
    ) -> None:
        if self._stopping.is_set():
            return
        code: int | None = None
        error: str | None = None
        try:
            code = _http_post(url, payload)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            error = type(exc).__name__
        record = {
            "url": url,
            "kind": kind,
            "id": mid,
            "ack": ack,
            "attempt": attempt,
            "status": code,
            "error": error,
            "at": time.time(),
        }
        with self._lock:
            self._deliveries.append(record)
            retry = bool(self._settings.get("guaranteedHooks")) and attempt < HOOK_ATTEMPTS
            base = max(0.05, float(self._options["ack_delay"]))
        ok = code is not None and 200 <= code < 300
        log.info(
            "1MSG hook %s %s%s -> %s %s (attempt %d)",
            kind,
            mid,
            f" {ack}" if ack else "",
            _redact_url(url),
            code if code is not None else error,
            attempt,
        )
        if not ok and retry:
            delay = min(2.0, base * 2 ** (attempt - 1))
            self._schedule(
                delay, lambda: self._post(url, kind, mid, ack, payload, attempt + 1, lane), lane
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.simulator", description="Run the 1MSG simulator in the foreground."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--channel", default="100001")
    parser.add_argument("--token", default="local-token")
    parser.add_argument("--ack-delay", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sim = OneMsgSimulator(
        args.channel, args.token, args.host, args.port, ack_delay=args.ack_delay, seed=args.seed
    )
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    # Before the ready line: whoever reads it may stop us at once.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    sim.start()
    print(f"1MSG simulator: {sim.url}/{sim.channel_id}/sendMessage (Ctrl-C to stop)", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
