"""The harness: drives one running LocalStack, posts webhooks as 1MSG does, reads the outcome."""

from __future__ import annotations

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
from pathlib import Path
from typing import IO, Any

import httpx

from devstack import faultplan, onemsg_payloads
from devstack.faults.checks import evaluate, failed_deliveries, ready
from devstack.faults.model import (
    FAST_ENV,
    JSON,
    NAMES,
    PHONE_PLANS,
    POLL_SECONDS,
    QUESTIONS,
    SCENARIO_DEADLINE,
    SEND_METHODS,
    SEND_VISIBILITY_SECONDS,
    STACK_ENV,
    TEMPLATE_ENV,
    WEBHOOK_RETRIES,
    WEBHOOK_TIMEOUT,
    Case,
    CaseView,
    Expect,
    Post,
    Scenario,
    ScenarioResult,
    refused,
    reply_of,
)
from devstack.simulator import OneMsgSimulator
from devstack.stack import LocalStack


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
        """A client's message item, as 1MSG posts it: ``time`` is 1MSG's clock for the chat
        (``clock_skew`` moves it) unless ``at`` is given."""
        sent = self.sim.now(chat_id.partition("@")[0]) if at is None else at
        return onemsg_payloads.client_message(chat_id, mid, text, name, sent)

    def hook(self, *messages: Any, instance_id: str | None = None) -> JSON:
        return onemsg_payloads.hook(instance_id or self.channel, *messages)

    # -- webhooks -----------------------------------------------------------------------
    def post(
        self,
        case: Case,
        body: Any = None,
        *,
        raw: bytes | None = None,
        path: str | None = None,
    ) -> Post:
        """POST a webhook as 1MSG does (see `deliver`), recorded on the case."""
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        post = deliver(self.http, path or self.stack.webhook_path, data)
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
        """The lead API's answer, None on 404. A 5xx or no answer (on a busy machine the
        lead API can run out of its time) is asked again: a read, safe to repeat."""

        def ask() -> httpx.Response | None:
            try:
                answer = self.http.get(f"/leads/{chat_id}")
            except httpx.TransportError:
                return None
            return None if answer.status_code >= 500 else answer

        response: httpx.Response = wait_for(ask, "an answer of the lead API")
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

    def wait_for(
        self, probe: Callable[[], Any], what: str, seconds: float = SCENARIO_DEADLINE
    ) -> Any:
        return wait_for(probe, what, seconds)

    def reply_settled(self, chat_id: str, opener: str) -> bool:
        """The request's reply came to an end: 1MSG accepted it, or it was refused with a
        reason (the verdict judges which was right)."""
        out = reply_of(self.lead(chat_id), opener)
        return bool(out and (out.get("state") == "ACCEPTED" or refused(out)))

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
        return ready(case, self.lead(case.chat_id))

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


def deliver(
    http: httpx.Client, path: str, data: bytes, sleep: Callable[[float], None] = time.sleep
) -> Post:
    """POST a webhook as 1MSG does with guaranteedHooks: a 5xx answer, or none within
    WEBHOOK_TIMEOUT, is posted again after 1, 2, 4, ... s, up to WEBHOOK_RETRIES times. The
    last answer is the one recorded (status 0 when none came at all)."""
    retried, error = 0, ""
    while True:
        try:
            response: httpx.Response | None = http.post(
                path,
                content=data,
                headers={"Content-Type": "application/json", "User-Agent": "1msg-faults"},
                timeout=WEBHOOK_TIMEOUT,
            )
        except httpx.TransportError as exc:  # a timeout, a refused or reset connection
            response, error = None, type(exc).__name__
        if (response is not None and response.status_code < 500) or retried >= WEBHOOK_RETRIES:
            break
        sleep(0.5 * 2 ** (retried + 1))
        retried += 1
    if response is None:
        return Post(0, error, retried)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text[:200]
    return Post(response.status_code, answer, retried)


def wait_for(probe: Callable[[], Any], what: str, seconds: float = SCENARIO_DEADLINE) -> Any:
    """Poll until ``probe()`` gives something, and return it: an outcome is waited for, as
    long as it takes, up to a generous deadline (TimeoutError after it)."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(POLL_SECONDS)


def single(
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
            # As `make connect-1msg` leaves a channel: 1MSG posts its echoes and acks again
            # until a 2xx comes (the harness's own posts do the same, see Harness.post).
            stack.onemsg_call("settings", "POST", {"guaranteedHooks": True})
            harness = Harness(stack, random.Random(seed), plan)
            try:
                yield harness
            finally:
                harness.close()
    finally:
        plan.unlink(missing_ok=True)
