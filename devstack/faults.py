"""``make faults``: every 1MSG fault and webhook quirk against the full local stack.

One `LocalStack` serves a pass (moto, the function workers, the gateway, the SQS pump, the
poller on a 1 s timer and the 1MSG simulator), with function settings made for a fast run
(`FAST_ENV`). The scenarios run one after the other; each uses its own fresh chats, and the
simulator's faults and delivery options are scoped to those chats' phone numbers, so the
finale can run fifty chats with mixed faults at once. A second, smaller pass runs with a
fallback template configured (`TEMPLATE_ENV`): a closed window must then get the template
exactly once.

What is counted, per scenario and in total:

- posted: webhooks the harness POSTed (1MSG's own echoes and acks not counted)
- expected: client requests that must be answered: an auto-reply 1MSG accepted, or a
  refusal recorded with its reason
- accepted: sends 1MSG accepted for the scenario's chats (the simulator's record)
- dup: accepted sends beyond one per request (a chat answered twice, or answered when it
  must not be)
- lost: requests with neither an accepted reply nor a recorded refusal (judged from the lead
  API `GET /leads/{chatId}` and the simulator)
- refused: requests refused with a recorded reason (`sent: false`, closed window, ...)
- 5xx: webhook answers 5xx that the harness retried, as 1MSG does
- hookerr: 1MSG's own webhooks (echo, acks) about the scenario's sends that timed out or got
  no 2xx (the simulator gives up after 5 s, and retries only with guaranteedHooks)
- settle: seconds from the first POST until the send queue is drained and the expected
  statuses are in
- checks: the scenario's own expectations (exact 1MSG call counts, reasons, statuses, ...)

The run exits 1 when any duplicate, lost request or failed check is found. A scenario that
exposes a known product bug (`Scenario.known_bug`) is reported as XFAIL and does not fail the
run; when it starts passing (XPASS) the run fails, so the mark is dropped with the fix.

The 1MSG faults: 429, 500, 401, `sent: false`, a closed window (three answer styles), an
invalid recipient, `queued` (jobId), a delay beyond the client's timeout after accepting, a
refused connection (the simulator stops listening for a while: `OneMsgSimulator.outage`),
duplicated, reordered, withheld (hookInfo only), early and failed acks; and hostile webhook
bodies. `python -m devstack faults --only <name> --seed <n> --chats <n>` runs a part.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from devstack import faultplan
from devstack.simulator import OneMsgSimulator
from devstack.stack import LocalStack

JSON = dict[str, Any]

# Function settings for a fast run (each is a Settings field of the product).
FAST_ENV = {
    "ONEMSG_TIMEOUT_SECONDS": "2",  # the 1MSG client's timeout
    "SEND_LEASE_SECONDS": "10",  # how long an unknown outcome waits for its echo
    "MAX_BACKOFF_SECONDS": "2",
    "BURST_SECONDS": "1",
    "POLL_AFTER_SECONDS": "1",  # the poller asks hookInfo after this long without a status
    "SESSION_GAP_SECONDS": "600",  # so a burst 15 minutes ago is an earlier request
    "SWEEP_AFTER_SECONDS": "4",  # the poller queues again a reply the sender never took
}
# The send queue's visibility timeout in fault runs (the template's 360 s, scaled to the
# 10 s lease): how long a record whose sender was killed stays invisible.
SEND_VISIBILITY_SECONDS = 15
TEMPLATE_ENV = {"TEMPLATE_NAME": "session_followup", "TEMPLATE_NAMESPACE": "local_ns"}
STACK_ENV = {
    "API_PORT": "0",
    "LOCAL_SCHEDULE_SECONDS": "1",  # the status poller's timer
    "LOCAL_FUNCTION_CONCURRENCY": "8",  # eight concurrent webhooks run in eight environments
}
# The simulator holds a timed-out answer this long: beyond ONEMSG_TIMEOUT_SECONDS.
TIMEOUT_DELAY = 4.0
SESSION_GAP = int(FAST_ENV["SESSION_GAP_SECONDS"])
WEBHOOK_RETRIES = 3  # 1MSG's guaranteedHooks retries a 5xx
POLL_SECONDS = 0.5
# Environments started before pass 1, so the finale pays no cold start midway.
WARM = {"WebhookFunction": 8, "SenderFunction": 5}
SCENARIO_DEADLINE = 45.0
FINALE_DEADLINE = 150.0
FINALE_CHATS = 50

ACCEPT = "accepted"
REFUSE = "refused"
SEND_METHODS = ("sendMessage", "sendTemplate")
NAMES = ("Maria", "Aigerim", "Lucía", "Timur", "Ana", "João", "Dana", "Pablo", "Aida", "Ermek")
QUESTIONS = (
    "Hi! How much is delivery to Almaty?",
    "Hola, ¿cuánto cuesta el envío a Madrid?",
    "Olá, qual é o preço da entrega?",
    "Do you have this in stock?",
    "I want to return my order",
    "Can I pay by card on delivery?",
)
# Valid mobile numbers (Kazakhstan, Spain, Brazil/São Paulo): prefix and digits that follow.
PHONE_PLANS = (("7701", 7), ("34612", 6), ("55119", 8))


# --------------------------------------------------------------------------- the model


@dataclass
class Expect:
    """One client request that must be answered: accepted by 1MSG, or refused with a reason.

    ``openers`` are the ids of the messages that may open it (one, or several when a burst
    arrives at once and any of them may win).
    """

    openers: tuple[str, ...]
    outcome: str = ACCEPT
    reason: str | None = None  # REFUSE: the reason the ledger must record
    method: str = "sendMessage"  # ACCEPT: the 1MSG method that carries it
    status: str = "read"  # ACCEPT: the message status it must reach
    # ACCEPT: other final statuses that also do (e.g. `delivered` when only hookInfo tells)
    also: tuple[str, ...] = ()
    author: str = "auto"  # ACCEPT: `template` when the template went instead

    def reached(self, status: Any) -> bool:
        return status == self.status or status in self.also


@dataclass
class Post:
    """One webhook the harness POSTed, and 1MSG-style retries of its 5xx answers."""

    status: int
    body: Any
    retried: int = 0


@dataclass
class Case:
    """One chat of a scenario: what 1MSG does to it, what is posted, what must come of it."""

    label: str
    phone: str
    act: Callable[[Case], None]
    expects: list[Expect] = field(default_factory=list)
    lead_status: str | None = None  # the lead's final status
    calls: dict[str, int] = field(default_factory=dict)  # exact 1MSG calls for this chat
    faults: list[JSON] = field(default_factory=list)  # scoped to this chat's phone
    # AWS faults (devstack.faultplan steps: DynamoDB, SQS, a killed worker), this chat's too
    aws_faults: list[JSON] = field(default_factory=list)
    options: JSON = field(default_factory=dict)  # simulator delivery options for this chat
    lead_exists: bool | None = True  # False: the lead API must answer 404
    manager_messages: int = 0  # messages the case sends through the lead API
    checks: list[Callable[[CaseView], str | None]] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def chat_id(self) -> str:
        return f"{self.phone}@c.us"


@dataclass
class CaseView:
    """What a check sees once the scenario settled."""

    case: Case
    lead: JSON | None  # the lead API's answer, None on 404
    sends: list[JSON]  # what 1MSG accepted for this chat
    calls: list[JSON]  # the send calls 1MSG received for this chat
    harness: Harness

    @property
    def messages(self) -> list[JSON]:
        return list((self.lead or {}).get("messages") or [])

    @property
    def inbound(self) -> list[JSON]:
        return [m for m in self.messages if m.get("direction") == "in"]

    def out(self, opener: str) -> JSON | None:
        return reply_of(self.lead, opener)

    def replies(self) -> list[JSON]:
        return [m for m in self.messages if str(m.get("id", "")).startswith("auto:")]


@dataclass
class CaseResult:
    view: CaseView
    accepted: int
    duplicates: int
    lost: int
    refused: int
    problems: list[str]


@dataclass
class Scenario:
    name: str
    build: Callable[[Harness], list[Case]]
    deadline: float = SCENARIO_DEADLINE
    # Runs while the cases act (e.g. an outage); its return value goes to `after`.
    during: Callable[[Harness], None] | None = None
    before: Callable[[Harness], Any] | None = None
    after: Callable[[Harness, Any], list[str]] | None = None
    # A product bug this scenario exposes: it is expected to fail (and must, until fixed).
    known_bug: str | None = None


@dataclass
class ScenarioResult:
    name: str
    known_bug: str | None = None
    posted: int = 0
    expected: int = 0
    accepted: int = 0
    duplicates: int = 0
    lost: int = 0
    refused: int = 0
    retried: int = 0
    hook_errors: int = 0  # 1MSG's echo/ack webhooks that timed out or got no 2xx
    settle: float = 0.0
    settled: bool = True
    problems: list[str] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.problems)

    @property
    def verdict(self) -> str:
        """ok / FAILED; for a known bug XFAIL (still fails) or XPASS (fixed: drop the mark)."""
        if self.known_bug:
            return "XPASS" if self.ok else "XFAIL"
        return "ok" if self.ok else "FAILED"

    @property
    def as_expected(self) -> bool:
        return self.verdict in ("ok", "XFAIL")


# --------------------------------------------------------------------------- the harness


class Harness:
    """Drives one running LocalStack: posts webhooks, reads the lead API and the simulator."""

    def __init__(
        self, stack: LocalStack, rng: random.Random | None = None, plan: Path | None = None
    ) -> None:
        if stack.simulator is None:
            raise RuntimeError("the fault harness needs the 1MSG simulator (unset ONEMSG_API_URL)")
        self.stack = stack
        self.plan = plan  # the AWS fault plan the workers read (devstack.faultplan)
        self.sim: OneMsgSimulator = stack.simulator
        self.rng = rng or random.Random()
        self.channel = stack.settings.channel_id
        self.http = httpx.Client(
            base_url=stack.api_url,
            timeout=30,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        self._numbers = itertools.count(self.rng.randrange(100_000))
        self._lock = threading.Lock()
        self.last_cases: list[Case] = []

    def close(self) -> None:
        self.http.close()

    # -- chats and bodies ---------------------------------------------------------------
    def phone(self) -> str:
        with self._lock:
            n = next(self._numbers)
        prefix, width = PHONE_PLANS[n % len(PHONE_PLANS)]
        return prefix + f"{n:0{width}d}"[-width:]

    @staticmethod
    def new_id() -> str:
        return "wamid.FAULTS" + secrets.token_hex(12).upper()

    def name(self) -> str:
        return self.rng.choice(NAMES)

    def question(self) -> str:
        return self.rng.choice(QUESTIONS)

    def message(
        self, chat_id: str, mid: str, text: str, *, name: str = "Client", at: int | None = None
    ) -> JSON:
        """A client's message item, as 1MSG posts it."""
        return {
            "id": mid,
            "body": text,
            "type": "chat",
            "senderName": name,
            "chatName": name,
            "chatId": chat_id,
            "author": chat_id,
            "fromMe": False,
            "self": 0,
            "time": int(time.time()) if at is None else at,
            "quotedMsgId": None,
            "isForwarded": 0,
        }

    def hook(self, *messages: Any, instance_id: str | None = None) -> JSON:
        return {"instanceId": instance_id or self.channel, "messages": list(messages)}

    # -- webhooks -----------------------------------------------------------------------
    def post(
        self,
        case: Case,
        body: Any = None,
        *,
        raw: bytes | None = None,
        path: str | None = None,
    ) -> Post:
        """POST a webhook as 1MSG does, retrying a 5xx answer (guaranteedHooks)."""
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        retried = 0
        while True:
            response = self.http.post(
                path or self.stack.webhook_path,
                content=data,
                headers={"Content-Type": "application/json", "User-Agent": "1msg-faults"},
            )
            if response.status_code < 500 or retried >= WEBHOOK_RETRIES:
                break
            retried += 1
            time.sleep(0.2 * 2**retried)
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text[:200]
        post = Post(response.status_code, answer, retried)
        with self._lock:
            case.posts.append(post)
        return post

    def post_concurrently(self, case: Case, bodies: Sequence[Any]) -> None:
        """POST the bodies at the same moment, each from its own thread."""
        barrier = threading.Barrier(len(bodies))
        errors: list[str] = []

        def send(body: Any) -> None:
            try:
                barrier.wait(timeout=10)
                self.post(case, body)
            except Exception as exc:  # reported as the case's problem
                errors.append(f"concurrent POST failed: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=send, args=(b,), daemon=True) for b in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        case.errors += errors

    # -- what happened --------------------------------------------------------------------
    def lead(self, chat_id: str) -> JSON | None:
        response = self.http.get(f"/leads/{chat_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data = response.json()
        return data if isinstance(data, dict) else None

    def sends(self, phone: str, sent: list[JSON] | None = None) -> list[JSON]:
        return [s for s in (self.sim.sent() if sent is None else sent) if s.get("phone") == phone]

    def calls(self, phone: str, calls: list[JSON] | None = None) -> list[JSON]:
        """The sendMessage/sendTemplate calls that reached 1MSG for this phone."""
        chat_id = f"{phone}@c.us"
        found = []
        for call in self.sim.calls() if calls is None else calls:
            payload = call.get("json")
            if call.get("method") not in SEND_METHODS or not isinstance(payload, dict):
                continue
            if payload.get("phone") == phone or payload.get("chatId") == chat_id:
                found.append(call)
        return found

    def wait_for(self, probe: Callable[[], Any], what: str, seconds: float = 30.0) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {seconds:.0f} s")
            time.sleep(POLL_SECONDS)

    def reply_accepted(self, chat_id: str, opener: str) -> bool:
        out = reply_of(self.lead(chat_id), opener)
        return bool(out and out.get("state") == "ACCEPTED")

    def hook_count(self, since: float) -> int:
        """Raw bodies kept for inspection (`HOOK#<day>` items) received since ``since``."""
        dynamodb = self.stack.client("dynamodb")
        table = self.stack.physical_name("StateTable")
        days = {time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (since, time.time())}
        total = 0
        for day in sorted(days):
            pages = dynamodb.get_paginator("query").paginate(
                TableName=table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"HOOK#{day}"}},
                ProjectionExpression="received_at",
            )
            for page in pages:
                total += sum(1 for i in page["Items"] if float(i["received_at"]["N"]) >= since)
        return total

    # -- running a scenario ---------------------------------------------------------------
    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        result = ScenarioResult(scenario.name, scenario.known_bug)
        cases = scenario.build(self)
        self.last_cases = cases
        for case in cases:
            if case.faults:
                self.sim.add_faults([{**f, "phone": case.phone} for f in case.faults])
            if case.options:
                self.sim.set_options(case.phone, **case.options)
            if case.aws_faults and self.plan is not None:
                faultplan.add_steps(
                    self.plan, [{**f, "phone": case.phone} for f in case.aws_faults]
                )
        context = scenario.before(self) if scenario.before else None
        started = time.monotonic()
        threads = [
            threading.Thread(target=self._act, args=(case,), name=f"case-{case.label}", daemon=True)
            for case in cases
        ]
        for thread in threads:
            thread.start()
        if scenario.during is not None:
            try:
                scenario.during(self)
            except Exception as exc:
                result.problems.append(f"{scenario.name}: {type(exc).__name__}: {exc}")
        for thread in threads:
            thread.join(timeout=scenario.deadline)
        result.settled = self._settle(cases, started + scenario.deadline)
        result.settle = time.monotonic() - started
        if not result.settled:
            result.problems.append(f"did not settle within {scenario.deadline:.0f} s")
        sent, calls, deliveries = self.sim.sent(), self.sim.calls(), self.sim.deliveries()
        for case in cases:
            lead = self.lead(case.chat_id)
            view = CaseView(
                case, lead, self.sends(case.phone, sent), self.calls(case.phone, calls), self
            )
            case_result = evaluate(view)
            result.cases.append(case_result)
            result.posted += len(case.posts)
            result.retried += sum(p.retried for p in case.posts)
            result.hook_errors += len(failed_deliveries(view.sends, deliveries))
            result.expected += len(case.expects)
            result.accepted += case_result.accepted
            result.duplicates += case_result.duplicates
            result.lost += case_result.lost
            result.refused += case_result.refused
            result.problems += [f"{case.label} ({case.chat_id}): {p}" for p in case_result.problems]
        if scenario.after is not None:
            result.problems += scenario.after(self, context)
        return result

    def _act(self, case: Case) -> None:
        try:
            case.act(case)
        except Exception as exc:
            case.errors.append(f"act failed: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)

    def _ready(self, case: Case) -> bool:
        if not case.expects and case.lead_status is None:
            return True
        view = CaseView(case, self.lead(case.chat_id), [], [], self)
        if case.lead_status and (view.lead or {}).get("lead", {}).get("status") != case.lead_status:
            return False
        for expect in case.expects:
            out = next((o for o in map(view.out, expect.openers) if o), None)
            if out is None:
                return False
            if expect.outcome == ACCEPT:
                if out.get("state") != "ACCEPTED" or not expect.reached(out.get("status")):
                    return False
            elif out.get("state") not in ("FAILED", "SKIPPED") or not out.get("reason"):
                return False
        return True

    def _settle(self, cases: list[Case], deadline: float) -> bool:
        """Until every case shows what it expects and the send queue is drained."""
        pending = list(cases)
        while True:
            pending = [c for c in pending if not self._ready(c)]
            left = deadline - time.monotonic()
            if not pending and self.stack.drain(timeout=max(0.5, left)):
                # The queue is drained: what a sender did last is readable now.
                return all(self._ready(c) for c in cases)
            if left <= 0:
                return False
            time.sleep(POLL_SECONDS)


def failed_deliveries(sends: list[JSON], deliveries: list[JSON]) -> list[JSON]:
    """1MSG's webhooks (echo, acks) about these sends that failed (timeout, no 2xx)."""
    ids = {str(s["id"]) for s in sends}
    return [
        d
        for d in deliveries
        if d.get("id") in ids and not (d.get("status") and 200 <= int(d["status"]) < 300)
    ]


def reply_of(lead: JSON | None, opener: str) -> JSON | None:
    """The auto-reply ledger item of the request ``opener`` opened (OUT item ``auto:<id>``)."""
    messages = (lead or {}).get("messages") or []
    return next((m for m in messages if m.get("id") == f"auto:{opener}"), None)


def evaluate(view: CaseView) -> CaseResult:
    """Count one chat's requests (accepted, refused, lost), its extra sends, and its checks."""
    case = view.case
    problems = list(case.errors)
    send_ids = {str(s["id"]): s for s in view.sends}
    job_ids = {s.get("jobId"): s for s in view.sends if s.get("jobId") is not None}
    answered = refused = lost = 0
    for expect in case.expects:
        outs = [o for o in map(view.out, expect.openers) if o]
        if len(outs) > 1:
            problems.append(f"{len(outs)} auto-replies queued for one request")
        out: JSON = outs[0] if outs else {}
        state, reason = out.get("state"), out.get("reason")
        send = send_ids.get(str(out.get("provider_id")))
        if send is None and state == "QUEUED":
            send = job_ids.get(int(out.get("job_id") or -1))
        if send is not None:
            answered += 1
            if expect.outcome != ACCEPT:
                problems.append(f"expected a refusal ({expect.reason}), 1MSG accepted it")
            problems += _accepted_problems(expect, out, send)
        elif state in ("FAILED", "SKIPPED") and reason:
            refused += 1
            if expect.outcome != REFUSE:
                problems.append(f"expected an accepted reply, got {state} {reason}")
            elif expect.reason and reason != expect.reason:
                problems.append(f"refused with reason {reason}, expected {expect.reason}")
        else:
            lost += 1
            where = f"ledger state {state}" if out else "no reply in the ledger"
            problems.append(f"request {expect.openers[0]} lost ({where})")
    # A manager's message the case posted through the lead API is a send of its own.
    manager = [m for m in view.messages if str(m.get("id", "")).startswith("api:")]
    duplicates = max(0, len(view.sends) - len(case.expects) - case.manager_messages)
    if duplicates:
        problems.append(
            f"{len(view.sends)} sends accepted by 1MSG for {len(case.expects)} request(s)"
        )
    recorded = {str(o.get("provider_id")) for o in [*view.replies(), *manager]}
    for send in view.sends:
        if str(send["id"]) not in recorded and send.get("jobId") is None:
            problems.append(f"1MSG accepted {send['method']} {send['id']} that no reply records")
    if case.lead_exists is False and view.lead is not None:
        problems.append("a lead was stored")
    if case.lead_exists and view.lead is None:
        problems.append("no lead (GET /leads answered 404)")
    lead_status = (view.lead or {}).get("lead", {}).get("status")
    if case.lead_status and lead_status != case.lead_status:
        problems.append(f"lead status {lead_status}, expected {case.lead_status}")
    for method, expected in case.calls.items():
        got = sum(1 for c in view.calls if c.get("method") == method)
        if got != expected:
            problems.append(f"{got} {method} call(s) reached 1MSG, expected {expected}")
    for check in case.checks:
        problem = check(view)
        if problem:
            problems.append(problem)
    return CaseResult(view, len(view.sends), duplicates, lost, refused, problems)


def _accepted_problems(expect: Expect, out: JSON, send: JSON) -> list[str]:
    problems = []
    if send.get("method") != expect.method:
        problems.append(f"sent with {send.get('method')}, expected {expect.method}")
    if out.get("state") != "ACCEPTED":
        problems.append(f"ledger state {out.get('state')}, expected ACCEPTED")
    if not expect.reached(out.get("status")):
        wanted = " or ".join((expect.status, *expect.also))
        problems.append(f"message status {out.get('status')}, expected {wanted}")
    if out.get("author") != expect.author:
        problems.append(f"reply author {out.get('author')}, expected {expect.author}")
    return problems


# --------------------------------------------------------------------------- checks


def all_posts(*codes: int) -> Callable[[CaseView], str | None]:
    def check(view: CaseView) -> str | None:
        got = [p.status for p in view.case.posts]
        if not got or any(code not in codes for code in got):
            return f"webhook answered {got}, expected {'/'.join(map(str, codes))}"
        return None

    return check


def all_2xx(view: CaseView) -> str | None:
    got = [p.status for p in view.case.posts]
    if not got or any(not 200 <= code < 300 for code in got):
        return f"webhook answered {got}, expected 2xx"
    return None


def kept(view: CaseView) -> str | None:
    """The webhook said it kept the body for inspection (and answered 2xx)."""
    if not all(isinstance(p.body, dict) and p.body.get("kept") for p in view.case.posts):
        return f"body not kept for inspection: {[p.body for p in view.case.posts]}"
    return None


def inbound_count(n: int) -> Callable[[CaseView], str | None]:
    def check(view: CaseView) -> str | None:
        got = len(view.inbound)
        return None if got == n else f"{got} inbound message(s) recorded, expected {n}"

    return check


def reply_field(
    name: str, test: Callable[[Any], bool], what: str
) -> Callable[[CaseView], str | None]:
    """A field of the (single) auto-reply's ledger item."""

    def check(view: CaseView) -> str | None:
        replies = view.replies()
        if len(replies) != 1:
            return f"{len(replies)} auto-replies, expected 1 to check {name}"
        value = replies[0].get(name)
        return None if test(value) else f"reply {name}={value!r}, expected {what}"

    return check


def status_times(view: CaseView) -> str | None:
    """Each status kept its own time, whatever order the acks came in."""
    replies = view.replies()
    missing = [k for k in ("sent_at", "delivered_at", "read_at") if not (replies or [{}])[0].get(k)]
    return f"reply lacks {', '.join(missing)}" if missing else None


def faulted_calls(kind: str, n: int) -> Callable[[CaseView], str | None]:
    def check(view: CaseView) -> str | None:
        got = sum(1 for c in view.calls if c.get("fault") == kind)
        return None if got == n else f"{got} call(s) met fault {kind}, expected {n}"

    return check


def polled_not_pushed(view: CaseView) -> str | None:
    """The statuses came through hookInfo only: no ack was posted for the reply."""
    ids = {str(s["id"]) for s in view.sends}
    acks = [
        d for d in view.harness.sim.deliveries() if d.get("kind") == "ack" and d.get("id") in ids
    ]
    polls = [
        c
        for c in view.harness.sim.calls()
        if c.get("method") == "hookInfo" and (c.get("query") or {}).get("messageId") in ids
    ]
    if acks:
        return f"{len(acks)} ack webhook(s) posted although withheld"
    return None if polls else "no hookInfo call for the reply"


# --------------------------------------------------------------------------- cases


def _single(
    h: Harness,
    label: str,
    *,
    faults: Sequence[JSON] = (),
    options: JSON | None = None,
    expect: Expect | None = None,
    at: int | None = None,
    **case_fields: Any,
) -> Case:
    """One client message on a fresh chat."""
    phone, mid, name, text = h.phone(), h.new_id(), h.name(), h.question()

    def act(case: Case) -> None:
        sent_at = None if at is None else int(time.time()) + at
        h.post(case, h.hook(h.message(case.chat_id, mid, text, name=name, at=sent_at)))

    expectation = expect or Expect((mid,))
    expectation.openers = (mid,)
    return Case(
        label,
        phone,
        act,
        expects=[expectation],
        faults=list(faults),
        options=dict(options or {}),
        **case_fields,
    )


def happy(h: Harness) -> Case:
    return _single(
        h,
        "happy path",
        lead_status="auto_replied",
        calls={"sendMessage": 1, "sendTemplate": 0},
        checks=[all_2xx, status_times],
    )


def duplicate_sequential(h: Harness, times: int = 3) -> Case:
    phone, mid, name, text = h.phone(), h.new_id(), h.name(), h.question()
    body: JSON = {}

    def act(case: Case) -> None:
        body.update(h.hook(h.message(case.chat_id, mid, text, name=name)))
        for _ in range(times):
            h.post(case, body)

    return Case(
        f"same webhook x{times}",
        phone,
        act,
        expects=[Expect((mid,))],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(1)],
    )


def duplicate_concurrent(h: Harness, times: int = 8) -> Case:
    phone, mid, name, text = h.phone(), h.new_id(), h.name(), h.question()

    def act(case: Case) -> None:
        body = h.hook(h.message(case.chat_id, mid, text, name=name))
        h.post_concurrently(case, [body] * times)

    return Case(
        f"same webhook x{times} at once",
        phone,
        act,
        expects=[Expect((mid,))],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(1)],
    )


def burst(h: Harness, *, concurrent: bool = False) -> Case:
    phone, name = h.phone(), h.name()
    texts = ("Hi!", "I want to ask something", h.question())
    ids = tuple(h.new_id() for _ in texts)

    def act(case: Case) -> None:
        now = int(time.time())
        bodies = [
            h.hook(h.message(case.chat_id, mid, text, name=name, at=now))
            for mid, text in zip(ids, texts, strict=True)
        ]
        if concurrent:
            h.post_concurrently(case, bodies)
            return
        for body in bodies:
            h.post(case, body)
            time.sleep(0.4)

    return Case(
        "burst of 3 at once" if concurrent else "burst of 3 in 1 s",
        phone,
        act,
        # Posted one by one the first opens the request; at once, any of them may.
        expects=[Expect(ids if concurrent else ids[:1])],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(3)],
    )


def two_bursts(h: Harness) -> Case:
    """A burst 15 minutes ago (beyond the session gap), answered; then a new burst now."""
    phone, name = h.phone(), h.name()
    first, second = (h.new_id(), h.new_id()), (h.new_id(), h.new_id())

    def act(case: Case) -> None:
        then = int(time.time()) - SESSION_GAP - 300
        for i, mid in enumerate(first):
            h.post(
                case,
                h.hook(
                    h.message(
                        case.chat_id,
                        mid,
                        "Hello" if i == 0 else h.question(),
                        name=name,
                        at=then + i,
                    )
                ),
            )
        # The earlier request was answered before the client wrote again.
        h.wait_for(lambda: h.reply_accepted(case.chat_id, first[0]), "the first reply")
        now = int(time.time())
        for i, mid in enumerate(second):
            h.post(
                case,
                h.hook(
                    h.message(
                        case.chat_id,
                        mid,
                        "Hi again" if i == 0 else h.question(),
                        name=name,
                        at=now + i,
                    )
                ),
            )

    def new_session(view: CaseView) -> str | None:
        session = (view.lead or {}).get("lead", {}).get("session_id")
        return None if session == second[0] else f"lead session {session}, expected {second[0]}"

    return Case(
        "two bursts, gap > session",
        phone,
        act,
        expects=[Expect(first[:1]), Expect(second[:1])],
        lead_status="auto_replied",
        calls={"sendMessage": 2},
        checks=[all_posts(200), inbound_count(4), new_session],
    )


def _fails_once(h: Harness, label: str, kind: str) -> Case:
    """1MSG answers with `kind` once, then accepts: one reply, on the second attempt."""
    return _single(
        h,
        label,
        faults=[{"kind": kind}],
        calls={"sendMessage": 2},
        lead_status="auto_replied",
        checks=[faulted_calls(kind, 1), reply_field("attempt", lambda v: v == 2, "2")],
    )


def rate_limited(h: Harness) -> Case:
    return _fails_once(h, "429 then success", "rate_limited")


def server_error(h: Harness) -> Case:
    return _fails_once(h, "500 then success", "server_error")


def connect_error(h: Harness) -> Case:
    """1MSG unreachable (connections refused) when the sender first tries; then back."""
    case = _single(
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
    post = case.act

    def act(case: Case) -> None:
        h.sim.outage(3.0)  # the sender's first try comes after the 1 s burst wait
        post(case)

    case.act = act
    return case


def timeout_after_accept(h: Harness) -> Case:
    """1MSG sends it but answers after the client gave up: the echo settles it, no resend."""
    return _single(
        h,
        "timeout after accept",
        faults=[{"kind": "timeout_after_accept", "delay": TIMEOUT_DELAY}],
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[
            faulted_calls("timeout_after_accept", 1),
            reply_field("attempt", lambda v: v == 1, "1 (no second attempt)"),
        ],
    )


def not_sent(h: Harness) -> Case:
    text = "Message has not been sent: the chat is archived"
    return _single(
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
        return _single(
            h,
            f"window closed ({style}) -> template",
            faults=[{"kind": "window_closed", "style": style}],
            expect=Expect((), method="sendTemplate", author="template"),
            lead_status="auto_replied",
            calls={"sendMessage": 1, "sendTemplate": 1},
        )
    return _single(
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
        return _single(
            h,
            f"{label} -> template",
            at=at,
            expect=Expect((), method="sendTemplate", author="template"),
            lead_status="auto_replied",
            calls={"sendMessage": 0, "sendTemplate": 1},
        )
    return _single(
        h,
        label,
        at=at,
        expect=Expect((), REFUSE, "window_closed"),
        lead_status="window_closed",
        calls={"sendMessage": 0, "sendTemplate": 0},
        checks=[reply_field("state", lambda v: v == "SKIPPED", "SKIPPED")],
    )


def queued(h: Harness) -> Case:
    return _single(
        h,
        "queued (jobId)",
        faults=[{"kind": "queued"}],
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[reply_field("job_id", lambda v: v not in (None, ""), "the jobId")],
    )


def invalid_recipient(h: Harness) -> Case:
    return _single(
        h,
        "invalid recipient",
        faults=[{"kind": "invalid_recipient"}],
        expect=Expect((), REFUSE, "invalid_recipient"),
        lead_status="unreachable",
        calls={"sendMessage": 1},
    )


def unauthorized(h: Harness) -> Case:
    return _single(
        h,
        "401 once, then success",
        faults=[{"kind": "unauthorized"}],
        calls={"sendMessage": 2},
        lead_status="auto_replied",
        checks=[faulted_calls("unauthorized", 1)],
    )


def duplicate_acks(h: Harness) -> Case:
    return _single(
        h,
        "duplicate acks",
        options={"duplicate_acks": True},
        calls={"sendMessage": 1},
        lead_status="auto_replied",
        checks=[status_times],
    )


def reordered_acks(h: Harness) -> Case:
    return _single(
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
    return _single(
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
    return _single(
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


def burst_in_one_body(h: Harness) -> Case:
    """Three messages of one chat in a single webhook body."""
    phone, name = h.phone(), h.name()
    texts = ("Hello", "I have a question", h.question())
    ids = tuple(h.new_id() for _ in texts)

    def act(case: Case) -> None:
        now = int(time.time())
        items = [
            h.message(case.chat_id, mid, text, name=name, at=now + i)
            for i, (mid, text) in enumerate(zip(ids, texts, strict=True))
        ]
        h.post(case, h.hook(*items))

    return Case(
        "3 messages in one webhook",
        phone,
        act,
        expects=[Expect(ids[:1])],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(3)],
    )


def backlog(h: Harness) -> Case:
    """An old request (beyond the session gap) and a new one delivered together, as after a
    webhook outage: the old one is not answered any more (superseded), the new one is."""
    phone, name = h.phone(), h.name()
    old, new = h.new_id(), h.new_id()

    def act(case: Case) -> None:
        then, now = int(time.time()) - SESSION_GAP - 300, int(time.time())
        h.post(case, h.hook(h.message(case.chat_id, old, h.question(), name=name, at=then)))
        h.post(case, h.hook(h.message(case.chat_id, new, h.question(), name=name, at=now)))

    return Case(
        "old + new request together",
        phone,
        act,
        expects=[Expect((old,), REFUSE, "superseded"), Expect((new,))],
        lead_status="auto_replied",
        calls={"sendMessage": 1},
        checks=[all_posts(200), inbound_count(2)],
    )


def timeout_late_echo(h: Harness) -> Case:
    """As `timeout_after_accept`, but the echo comes after the client gave up (within the
    lease): it must settle the send that is waiting for it."""
    case = timeout_after_accept(h)
    case.label = "timeout after accept, echo after it"
    case.options = {"ack_delay": 3.5}  # > ONEMSG_TIMEOUT_SECONDS, < SEND_LEASE_SECONDS
    return case


def acks_before_result(h: Harness) -> Case:
    """1MSG posts the acks before its sendMessage answer reaches us (and no echo): they are
    parked and applied when the send result is stored."""
    return _single(
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


# --------------------------------------------------------------------------- hostile bodies


def hostile_cases(h: Harness) -> list[Case]:
    """Bodies a webhook URL can receive that are not a plain client message."""
    cases: list[Case] = []

    def body_case(
        label: str,
        make: Callable[[Case], Any],
        *,
        raw: bool = False,
        answered: bool = False,
        checks: Sequence[Callable[[CaseView], str | None]] = (kept,),
        lead_exists: bool | None = False,
        path: str | None = None,
        opener: str | None = None,
    ) -> Case:
        def act(case: Case) -> None:
            body = make(case)
            if raw:
                h.post(case, raw=body, path=path)
            else:
                h.post(case, body, path=path)

        case = Case(
            label,
            h.phone(),
            act,
            expects=[Expect((opener,))] if answered and opener else [],
            calls={"sendMessage": 1 if answered else 0, "sendTemplate": 0},
            lead_exists=lead_exists,
            checks=[*(checks if path else [all_2xx, *checks])],
        )
        cases.append(case)
        return case

    def client(case: Case, text: str = "Hello, is anybody there?") -> JSON:
        return h.message(case.chat_id, h.new_id(), text, name=h.name())

    wrong = h.stack.webhook_path.replace(h.stack.settings.webhook_secret, "not-the-secret")
    body_case(
        "wrong secret -> 401",
        lambda c: h.hook(client(c)),
        path=wrong,
        checks=[all_posts(401)],
    )
    body_case("not JSON", lambda c: b"instanceId=100001&messages=hello", raw=True)
    body_case("empty body", lambda c: b"", raw=True)
    body_case("JSON but not an object", lambda c: [h.hook(client(c))])
    body_case("oversized (300 KB)", lambda c: h.hook(client(c, "x" * 300_000)))
    body_case("oversized (480 KB of emoji)", lambda c: h.hook(client(c, "\U0001f600" * 120_000)))
    body_case("wrong instanceId", lambda c: h.hook(client(c), instance_id=str(int(h.channel) + 1)))
    body_case(
        'type: "calls"',
        lambda c: {
            "instanceId": h.channel,
            "type": "calls",
            "calls": [
                {"id": h.new_id(), "chatId": c.chat_id, "status": "offer", "time": int(time.time())}
            ],
        },
    )
    body_case(
        "raw entry[] (Meta shape)",
        lambda c: {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "contacts": [{"wa_id": c.phone, "profile": {"name": "Raw"}}],
                                "messages": [
                                    {
                                        "from": c.phone,
                                        "id": h.new_id(),
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": "Hello from the raw shape"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
    )

    def missing_id(c: Case) -> JSON:
        item = client(c)
        del item["id"]
        return h.hook(item)

    body_case("message without id", missing_id)
    body_case(
        "ack for an unknown id",
        lambda c: {
            "instanceId": h.channel,
            "ack": [{"id": h.new_id(), "status": "read", "chatId": c.chat_id}],
        },
        checks=[],
    )
    body_case(
        'fromMe "1" (typed in the app)',
        lambda c: h.hook({**client(c, "We will call you back"), "fromMe": "1", "self": 0}),
        checks=[],
        lead_exists=None,
    )

    media_id, string_id, bare_id, mixed_id = (h.new_id() for _ in range(4))
    body_case(
        "valid item + broken items",
        lambda c: h.hook(123, {"chatId": c.chat_id}, {**client(c), "id": mixed_id}),
        answered=True,
        opener=mixed_id,
        lead_exists=True,
    )
    body_case(
        "media (image + caption)",
        lambda c: h.hook(
            {
                **client(c),
                "id": media_id,
                "type": "image",
                "body": "https://s3.eu-central-1.amazonaws.com/media/1.jpeg",
                "caption": "How much does this cost with delivery?",
            }
        ),
        answered=True,
        opener=media_id,
        checks=[],
        lead_exists=True,
    )
    body_case(
        "time as a string",
        lambda c: h.hook({**client(c), "id": string_id, "time": str(int(time.time()))}),
        answered=True,
        opener=string_id,
        checks=[],
        lead_exists=True,
    )
    body_case(
        "only id, chatId, body",
        lambda c: h.hook({"id": bare_id, "chatId": c.chat_id, "body": "price?"}),
        answered=True,
        opener=bare_id,
        checks=[],
        lead_exists=True,
    )
    return cases


def kept_bodies_since(h: Harness) -> Any:
    return time.time() - 0.001


def kept_bodies_check(h: Harness, since: Any) -> list[str]:
    """Every body the webhook said it kept is stored, and nothing else (the 401 stores none)."""
    # The cases of this scenario are the last ones run; their posts say what was kept.
    expected = sum(
        1
        for case in h.last_cases
        for p in case.posts
        if isinstance(p.body, dict) and p.body.get("kept")
    )
    got = h.hook_count(float(since))
    return [] if got == expected else [f"{got} raw bodies stored, the webhook kept {expected}"]


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


# --------------------------------------------------------------------------- the suite


# Product bugs the scenarios expose (see the fault harness report); expected to fail until fixed.


def main_scenarios(chats: int = FINALE_CHATS) -> list[Scenario]:
    from devstack.faults_aws import aws_scenarios  # its scenarios build on this module

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


def _one(make: Callable[[Harness], Case]) -> Callable[[Harness], list[Case]]:
    return lambda h: [make(h)]


def stack_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The shell env a fault run's LocalStack gets: the simulator, a free port, fast timers."""
    env = dict(os.environ if base is None else base)
    for key in ("ONEMSG_API_URL", "LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"):
        env.pop(key, None)
    env.update(STACK_ENV)
    return env


@contextmanager
def fault_stack(
    *,
    template: bool = False,
    out: IO[str] | None = None,
    seed: int | None = None,
    warm: dict[str, int] | None = None,
) -> Iterator[Harness]:
    """A LocalStack set up for fault runs, and the harness that drives it."""
    plan_fd, plan_name = tempfile.mkstemp(prefix="session-reply-faultplan-", suffix=".json")
    os.close(plan_fd)
    plan = Path(plan_name)
    function_env = {
        **FAST_ENV,
        **(TEMPLATE_ENV if template else {}),
        faultplan.ENV: str(plan),
    }
    try:
        with LocalStack(
            env=stack_env(), echo_logs=False, out=out, function_env=function_env, warm=warm
        ) as stack:
            stack.client("sqs").set_queue_attributes(
                QueueUrl=stack.aws.queue_urls["SendQueue"] if stack.aws else "",
                Attributes={"VisibilityTimeout": str(SEND_VISIBILITY_SECONDS)},
            )
            harness = Harness(stack, random.Random(seed), plan)
            try:
                yield harness
            finally:
                harness.close()
    finally:
        plan.unlink(missing_ok=True)


# --------------------------------------------------------------------------- reporting

HEADER = (
    f"{'scenario':<34} {'posted':>6} {'expected':>8} {'accepted':>8} {'dup':>4} {'lost':>4} "
    f"{'refused':>7} {'5xx':>4} {'hookerr':>7} {'settle s':>8}  checks"
)


def row(result: ScenarioResult) -> str:
    checks = "ok" if not result.problems else f"{len(result.problems)} failed"
    if result.known_bug:
        checks += f" ({result.verdict}: known bug)"
    return (
        f"{result.name[:34]:<34} {result.posted:>6} {result.expected:>8} {result.accepted:>8} "
        f"{result.duplicates:>4} {result.lost:>4} {result.refused:>7} {result.retried:>4} "
        f"{result.hook_errors:>7} {result.settle:>8.1f}  {checks}"
    )


def total(results: Sequence[ScenarioResult], name: str = "TOTAL") -> ScenarioResult:
    sum_ = ScenarioResult(name)
    for r in results:
        sum_.posted += r.posted
        sum_.expected += r.expected
        sum_.accepted += r.accepted
        sum_.duplicates += r.duplicates
        sum_.lost += r.lost
        sum_.refused += r.refused
        sum_.retried += r.retried
        sum_.hook_errors += r.hook_errors
        sum_.settle += r.settle
        sum_.problems += r.problems
    return sum_


def run_pass(
    harness: Harness,
    scenarios: Sequence[Scenario],
    out: IO[str],
    *,
    start: int = 1,
    count: int | None = None,
) -> list[ScenarioResult]:
    """Run the scenarios one after the other, printing a line (and any problem) for each."""
    results = []
    count = count or len(scenarios)
    for n, scenario in enumerate(scenarios, start=start):
        out.write(f"[{n:>2}/{count}] {scenario.name} ... ")
        out.flush()
        result = harness.run_scenario(scenario)
        results.append(result)
        out.write(
            f"{result.verdict}  ({result.expected} expected, {result.accepted} accepted, "
            f"{result.refused} refused, {result.duplicates} dup, {result.lost} lost, "
            f"{result.settle:.1f} s)\n"
        )
        if result.known_bug:
            out.write(f"        known product bug: {result.known_bug}\n")
        for problem in result.problems:
            out.write(f"        - {problem}\n")
        out.flush()
    return results


def report(results: Sequence[ScenarioResult], out: IO[str]) -> bool:
    """Print the table and the verdict; True when every scenario came out as expected."""
    grand = total(results)
    known = [r for r in results if r.known_bug]
    clean = total([r for r in results if not r.known_bug], "outside known bugs")
    out.write("\n" + HEADER + "\n" + "-" * len(HEADER) + "\n")
    for result in results:
        out.write(row(result) + "\n")
    out.write("-" * len(HEADER) + "\n" + row(grand) + "\n")
    if known:
        out.write(row(clean) + "\n")
    out.write(
        f"\n{clean.duplicates} duplicate sends, {clean.lost} lost requests, "
        f"{len(clean.problems)} failed checks in {len(results) - len(known)} scenarios"
    )
    if known:
        xpass = [r.name for r in known if r.verdict == "XPASS"]
        out.write(
            f"; {len(known)} known product bug(s) expected to fail: "
            f"{sum(r.duplicates for r in known)} duplicate sends, "
            f"{sum(r.lost for r in known)} lost"
        )
        if xpass:
            out.write(f"; now passing, drop their known_bug mark: {', '.join(xpass)}")
    out.write("\n")
    out.flush()
    return all(r.as_expected for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=None, help="the finale's random seed")
    parser.add_argument("--chats", type=int, default=FINALE_CHATS, help="chats in the finale")
    parser.add_argument(
        "--only", action="append", default=[], help="run only scenarios whose name holds this"
    )
    args = parser.parse_args(argv)
    seed = (
        args.seed
        if args.seed is not None
        else int(os.environ.get("FAULTS_SEED") or 0) or random.randrange(1, 10**6)
    )
    out = sys.stdout
    started = time.monotonic()
    main_list = [s for s in main_scenarios(args.chats) if _selected(s, args.only)]
    tpl_list = [s for s in template_scenarios() if _selected(s, args.only)]
    count = len(main_list) + len(tpl_list)
    out.write(f"Fault scenarios against the local stack (seed {seed}: FAULTS_SEED={seed})\n")
    out.flush()
    results: list[ScenarioResult] = []
    if main_list:
        out.write(f"Pass 1, no fallback template: {_env_line(FAST_ENV)}\n")
        with fault_stack(seed=seed, warm=WARM) as harness:
            results += run_pass(harness, main_list, out, count=count)
    if tpl_list:
        out.write(f"Pass 2, fallback template configured: {_env_line(TEMPLATE_ENV)}\n")
        with fault_stack(template=True, seed=seed) as harness:
            results += run_pass(harness, tpl_list, out, start=len(main_list) + 1, count=count)
    ok = report(results, out)
    out.write(f"wall time {time.monotonic() - started:.0f} s (seed {seed})\n")
    return 0 if ok else 1


def _selected(scenario: Scenario, only: list[str]) -> bool:
    return not only or any(o.lower() in scenario.name.lower() for o in only)


def _env_line(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


if __name__ == "__main__":
    sys.exit(main())
