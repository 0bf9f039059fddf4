"""``make demo``: clients' WhatsApp requests answered end to end, as a timeline, in three scenes.

1. A client writes in English: her burst is answered once, with the subject of her question;
   the statuses come back and the manager continues the dialog through the lead API.
2. A client writes in Russian: the reply is in Russian and names her subject in her words.
3. The business takes the day off (business hours set as an operator sets them, with
   `make catalogue ARGS="hours --set FILE"`): a request gets the out-of-hours reply, saying
   when the team is back.

Each client's messages are POSTed to the webhook the way 1MSG posts them; the demo watches what
an operator would watch: the lead (through the lead API), the text that reached 1MSG
sendMessage, the statuses, and at the end the events a CRM received. Each step has a deadline;
a step that does not happen fails the demo with a clear message.

The data is made up (a demo client); it runs only against the simulator, never the real 1MSG.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from devstack import onemsg_payloads
from devstack.stack import PROJECT_ROOT, LocalStack, port_free

CHAT_ID = "77011234567@c.us"
CLIENT_NAME = "Maria"
CLIENT_BURST = ("Hi!", "How much is delivery to Almaty?")
MANAGER_TEXT = "Maria, delivery to Almaty is 2500 KZT, 2 days. Shall I book it?"
# A second client, writing in Russian: answered in Russian, with the subject in her words.
SECOND_CHAT_ID = "77017654321@c.us"
SECOND_NAME = "Айгуль"
SECOND_BURST = ("Добрый день!", "Сколько стоит доставка углового дивана в Астану?")
# A third client writes on the business's day off: the out-of-hours reply.
NIGHT_CHAT_ID = "77019876543@c.us"
NIGHT_NAME = "Daniel"
NIGHT_BURST = ("Is the grey corner sofa in stock?",)
HOURS_EXAMPLE = PROJECT_ROOT / "ops" / "hours.example.json"
# The functions read the business's data (hours, catalogue, texts, managers) afresh on every
# request here, so scene 3 sees the hours set a moment before; on AWS within 30 s.
FUNCTION_ENV = {"MANAGERS_CACHE_SECONDS": "0"}
STEP_SECONDS = 20.0
POLL_SECONDS = 0.1
STATUS_ORDER = ("queued", "sent", "delivered", "read")

T = TypeVar("T")
Item = dict[str, Any]


class StepFailed(Exception):
    """A step of the demo did not happen within its deadline."""


class Timeline:
    """Prints each event with the milliseconds since the client's message."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = time.time()

    def reset(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = time.time()

    def ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    def at_wall(self, wall: float) -> float:
        return (wall - self.wall0) * 1000

    def say(self, text: str) -> None:
        """One line at the moment the demo saw it, so the column always goes forward."""
        print(f"{self.ms():8.0f} ms  {text}", flush=True)


def scene(title: str) -> None:
    print(f"\n== {title}", flush=True)


def wait_for(what: str, probe: Callable[[], T | None], seconds: float = STEP_SECONDS) -> T:
    """Poll ``probe`` until it returns something; StepFailed after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise StepFailed(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(POLL_SECONDS)


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.api_url, timeout=15)
        self.timeline = Timeline()

    # -- the lead API ---------------------------------------------------------------------
    def lead(self, chat_id: str = CHAT_ID) -> dict[str, Any] | None:
        response = self.http.get(f"/leads/{chat_id}")
        if response.status_code != 200:
            return None
        data = response.json()
        return data if isinstance(data, dict) and data.get("lead") else None

    def message(self, pick: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        data = self.lead()
        for message in (data or {}).get("messages") or []:
            if pick(message):
                return dict(message)
        return None

    def sent_to_1msg(self, pick: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((s for s in self.stack.sent() if pick(s)), None)

    def follow_statuses(self, label: str, pick: Callable[[dict[str, Any]], bool]) -> None:
        """Print each status as it first shows on the lead API, until ``read``."""
        seen: set[str] = set()

        def probe() -> bool | None:
            message = self.message(pick)
            status = str((message or {}).get("status") or "")
            if status and status not in seen:
                seen.add(status)
                self.timeline.say(f"{label} status: {status}")
                if status == "failed":
                    reason = (message or {}).get("reason") or (message or {}).get("error")
                    raise StepFailed(f"{label} failed: {reason}")
            return True if status == "read" else None

        wait_for(f"{label} reaching status read", probe)

    # -- the story ------------------------------------------------------------------------
    def run(self) -> None:
        scene("1. A client writes in English: one reply to her burst, then the manager")
        # A burst, as clients write: a greeting, then the real question a moment later.
        # One request, one reply, and the topic comes from the question.
        self.timeline.reset()
        self.post_burst(CHAT_ID, CLIENT_NAME, CLIENT_BURST)

        data = wait_for("the lead appearing on GET /leads/{chatId}", self._lead_with_manager)
        lead = data["lead"]
        self.timeline.say(
            f"lead {lead.get('chat_id')}: name {lead.get('name')!r}, status {lead.get('status')}"
        )
        self.timeline.say(
            f"subject {lead.get('topic')!r} (category {lead.get('category')!r}), "
            f"language {lead.get('language')!r}, manager {lead.get('manager')!r}"
        )

        sent = wait_for(
            "the auto-reply reaching 1MSG sendMessage",
            lambda: self.sent_to_1msg(lambda x: x.get("chatId") == CHAT_ID),
        )
        self.timeline.say(
            f"1MSG {sent.get('method')} got the auto-reply "
            f"{self.timeline.at_wall(float(sent['at'])):.0f} ms after the first webhook "
            f"(it waits out the burst):\n"
            f"{'':12}{sent.get('body') or sent.get('template')!r}"
        )
        self.follow_statuses(
            "auto-reply", lambda m: m.get("direction") == "out" and m.get("author") == "auto"
        )
        replies = [x for x in self.stack.sent() if x.get("chatId") == CHAT_ID]
        if len(replies) != 1:
            raise StepFailed(f"the burst got {len(replies)} auto-replies instead of one")
        self.timeline.say(f"{len(CLIENT_BURST)} client messages, 1 auto-reply")

        print(f"\nManager {lead.get('manager')} continues the dialog\n", flush=True)
        self.manager_reply(len(self.stack.sent()))

        scene("2. A client writes in Russian: the reply speaks it and names her subject")
        lead, body = self.answered(SECOND_CHAT_ID, SECOND_NAME, SECOND_BURST)
        if lead.get("language") != "ru" or f"«{lead.get('topic')}»" not in body:
            raise StepFailed("the second client was not answered in Russian with her subject")

        scene("3. Out of hours: the business takes today off, a client writes")
        self.take_today_off()
        lead, body = self.answered(NIGHT_CHAT_ID, NIGHT_NAME, NIGHT_BURST)
        if not lead.get("out_of_hours") or "We are closed now" not in body:
            raise StepFailed("the request out of hours did not get the out-of-hours reply")
        self.timeline.say(f"out of hours; the wait for a manager starts {lead['team_back_local']}")
        self.crm()

    def post_burst(self, chat_id: str, name: str, texts: tuple[str, ...]) -> None:
        """The client's messages, POSTed as 1MSG posts them, a moment apart."""
        for offset, text in enumerate(texts):
            if offset:
                time.sleep(0.6)
            print(f"{'' if offset else chr(10)}Client {name} writes: {text!r}", flush=True)
            message = onemsg_payloads.client_message(
                chat_id, f"wamid.demo{secrets.token_hex(8)}", text, name
            )
            body = onemsg_payloads.hook(self.stack.settings.channel_id, message)
            response = self.http.post(self.stack.webhook_path, json=body)
            self.timeline.say(f"webhook answered {response.status_code}")
            if response.status_code != 200:
                raise StepFailed(f"the webhook answered {response.status_code}: {response.text}")
        print(flush=True)

    def answered(self, chat_id: str, name: str, burst: tuple[str, ...]) -> tuple[Item, str]:
        """A client's burst, and the lead and the auto-reply's text once it reached 1MSG."""
        self.timeline.reset()
        self.post_burst(chat_id, name, burst)
        sent = wait_for(
            f"{name}'s auto-reply reaching 1MSG sendMessage",
            lambda: self.sent_to_1msg(lambda x: x.get("chatId") == chat_id),
        )
        lead = (self.lead(chat_id) or {}).get("lead") or {}
        body = str(sent.get("body") or sent.get("template"))
        self.timeline.say(
            f"subject {lead.get('topic')!r} (category {lead.get('category')!r}), "
            f"language {lead.get('language')!r}; 1MSG {sent.get('method')} got:\n"
            f"{'':12}{body!r}"
        )
        return lead, body

    def take_today_off(self) -> None:
        """The shipped example schedule with today among its closed dates, set the way an
        operator sets it (the catalogue CLI against this stack's table)."""
        schedule = json.loads(HOURS_EXAMPLE.read_text(encoding="utf-8"))
        today = datetime.now(ZoneInfo(schedule["timezone"])).date().isoformat()
        schedule["closed"] = [*schedule.get("closed", []), today]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "hours.json"
            path.write_text(json.dumps(schedule), encoding="utf-8")
            aws = self.stack.aws_env
            command = [sys.executable, "-m", "ops.catalogue", "--endpoint-url"]
            command += [aws["AWS_ENDPOINT_URL"], "hours", "--set", str(path)]
            done = subprocess.run(  # noqa: S603 - our own interpreter and module
                command,
                cwd=PROJECT_ROOT,
                env={**os.environ, **aws, "PYTHONPATH": "layers/common:."},
                capture_output=True,
                text=True,
                timeout=STEP_SECONDS,
                check=False,
            )
        if done.returncode != 0:
            raise StepFailed(f"setting the business hours failed: {done.stderr.strip()}")
        print(
            f'Business hours, as an operator sets them (make catalogue ARGS="hours --set FILE"):'
            f"\n  {HOURS_EXAMPLE.relative_to(PROJECT_ROOT)} ({schedule['timezone']}) with today,"
            f" {today}, among the closed dates",
            flush=True,
        )

    def _lead_with_manager(self) -> dict[str, Any] | None:
        data = self.lead()
        if data and data["lead"].get("manager") and data["lead"].get("topic"):
            return data
        return None

    def manager_reply(self, sent_before: int) -> None:
        key = f"demo-{secrets.token_hex(6)}"
        started = self.timeline.ms()
        response = self.http.post(
            f"/leads/{CHAT_ID}/messages", json={"body": MANAGER_TEXT, "idempotency_key": key}
        )
        self.timeline.say(f"POST /leads/{{chatId}}/messages answered {response.status_code}")
        if response.status_code != 202:
            raise StepFailed(
                f"the lead API answered {response.status_code} (expected 202): {response.text}"
            )
        message_id = str(response.json().get("message_id"))
        sent = wait_for(
            "the manager's message reaching 1MSG sendMessage",
            lambda: next(
                (x for x in self.stack.sent()[sent_before:] if x.get("body") == MANAGER_TEXT),
                None,
            ),
        )
        at = self.timeline.at_wall(float(sent["at"]))
        self.timeline.say(
            f"1MSG {sent.get('method')} got it {at - started:.0f} ms after the API call:\n"
            f"{'':12}{sent.get('body')!r}"
        )

        def mine(m: dict[str, Any]) -> bool:
            return m.get("id") == message_id or (
                m.get("direction") == "out"
                and m.get("author") == "manager"
                and m.get("body") == MANAGER_TEXT
            )

        self.follow_statuses("manager message", mine)
        lead = wait_for(
            "the lead status becoming in_progress",
            lambda: (
                d["lead"]
                if (d := self.lead()) and d["lead"].get("status") == "in_progress"
                else None
            ),
        )
        first = lead.get("first_human_response_at")
        when = f"{self.timeline.at_wall(float(first)):.0f} ms" if first else "not recorded"
        self.timeline.say(f"lead status {lead['status']} (first human response at {when})")

    def crm(self) -> None:
        self.stack.drain(STEP_SECONDS)
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            events.extend(self.stack.crm_events())
            time.sleep(POLL_SECONDS * 2)
        kinds = Counter(str(e.get("detail-type")) for e in events)
        print(
            f"\nCRM subscriber received {len(events)} event(s) "
            f"({', '.join(f'{n} {kind}' for kind, n in kinds.items())}); the first of each:",
            flush=True,
        )
        for kind in kinds:
            event = next(e for e in events if e.get("detail-type") == kind)
            detail = json.dumps(compact(event.get("detail") or {}), ensure_ascii=False)
            print(f"  {kind}: {detail}")
        if not events:
            raise StepFailed("no event reached the CRM subscriber queue")


# Personal data (phone, chat id, text, names) and noise (timestamps, provider ids) stay out.
_DROPPED_KEYS = re.compile(
    r"phone|chat_?id|body|text|caption|(^|_)name$|sender|provider_id|session_id|^at$|^time$",
    re.I,
)
_LONG_DIGITS = re.compile(r"\d{7,}")


def compact(value: Any) -> Any:
    """An event detail for the screen: no phone, chat id, body or name; digit runs masked."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if not _DROPPED_KEYS.search(str(k))}
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, str):
        return _LONG_DIGITS.sub(
            lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], value
        )
    return value


def main() -> int:
    env = dict(os.environ)
    if env.pop("ONEMSG_API_URL", None):
        print(
            "note: the demo writes as a made-up client, so it always uses the 1MSG simulator "
            "(ONEMSG_API_URL is ignored)",
            file=sys.stderr,
        )
    if not env.get("API_PORT"):
        env["API_PORT"] = "3000" if port_free(3000) else "0"
    started = time.monotonic()
    print(
        "Starting the local stack (moto, 1MSG simulator, functions, gateway, SQS pump) ...",
        flush=True,
    )
    stack = LocalStack(env=env, echo_logs=False, function_env=FUNCTION_ENV)
    try:
        with stack:
            parts = ", ".join(f"{k} {v:.0f} ms" for k, v in stack.timings.items())
            print(
                f"Ready in {(time.monotonic() - started) * 1000:.0f} ms ({parts}); "
                f"API {stack.api_url}",
                flush=True,
            )
            try:
                Demo(stack).run()
            except (StepFailed, httpx.HTTPError) as exc:
                stack.keep_logs = True
                print(f"\nFAILED: {exc}\nFunction logs: {stack.log_dir}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 130
    print(
        "\nDemo finished: each request was answered once, in the session, in the client's "
        "language with the subject of the request (out of hours, saying when the team is "
        "back), and the CRM knows."
    )
    return 0
