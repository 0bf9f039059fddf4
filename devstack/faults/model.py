"""The fault harness's vocabulary: a run's settings, a case, a scenario, their results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.faults.harness import Harness

JSON = dict[str, Any]

# Function settings for a fast run (each is a Settings field of the product).
FAST_ENV = {
    # The 1MSG client's timeout: beyond what a busy machine adds to the simulator's answer
    "ONEMSG_TIMEOUT_SECONDS": "4",
    "SEND_LEASE_SECONDS": "10",  # how long an unknown outcome waits for its echo
    "MAX_BACKOFF_SECONDS": "2",
    "BURST_SECONDS": "1",
    "POLL_AFTER_SECONDS": "1",  # the poller asks hookInfo after this long without a status
    "SESSION_GAP_SECONDS": "600",  # so a burst 15 minutes ago is an earlier request
    # ... and its reply, when 1MSG's retry re-queues it (its age counts from the client's
    # message), is not too old to send (the default 900 s is that burst's age exactly)
    "MAX_AUTO_REPLY_AGE_SECONDS": "3600",
    "SWEEP_AFTER_SECONDS": "4",  # the poller queues again a reply the sender never took
    "CLOCK_SKEW_SECONDS": "2",  # a provider time further ahead is brought back to now + 2 s
}
# The send queue's visibility timeout in fault runs (the template's 360 s, scaled to the
# 10 s lease): how long a record whose sender was killed stays invisible.
SEND_VISIBILITY_SECONDS = 15
TEMPLATE_ENV = {
    "TEMPLATE_NAME": "session_followup",
    "TEMPLATE_NAMESPACE": "local_ns",
    # Pass 2 also holds the provider-clock scenarios: a request is over 8 s after its last
    # client message, so a later one can open the next (pass 1 keeps 600 s for its bursts).
    "SESSION_GAP_SECONDS": "8",
}
CLOCK_SESSION_GAP = int(TEMPLATE_ENV["SESSION_GAP_SECONDS"])
CLOCK_SKEW = int(FAST_ENV["CLOCK_SKEW_SECONDS"])
WINDOW_SECONDS = 86_400  # the product's default 24 h window (not changed in fault runs)
STACK_ENV = {
    "API_PORT": "0",
    "LOCAL_SCHEDULE_SECONDS": "1",  # the status poller's timer
    "LOCAL_FUNCTION_CONCURRENCY": "8",  # eight concurrent webhooks run in eight environments
}
# The simulator holds a timed-out answer this long: beyond ONEMSG_TIMEOUT_SECONDS.
TIMEOUT_DELAY = 6.0
SESSION_GAP = int(FAST_ENV["SESSION_GAP_SECONDS"])
# 1MSG's guaranteedHooks: a webhook answered 5xx, or not answered within WEBHOOK_TIMEOUT,
# is posted again, up to WEBHOOK_RETRIES times, after 1, 2, 4, 8 and 16 s (a busy machine's
# slow moment is waited out, as 1MSG's retries wait out a slow Lambda).
WEBHOOK_RETRIES = 5
WEBHOOK_TIMEOUT = 30.0  # API Gateway's own limit for an HTTP API's Lambda integration
POLL_SECONDS = 0.5
# Environments started before pass 1, so the finale pays no cold start midway.
WARM = {"WebhookFunction": 8, "SenderFunction": 5}
# How long a scenario may take to settle. Generous: a scenario ends as soon as it settled
# (it waits for outcomes, never for a fixed time), so only a broken one, or a very busy
# machine, comes near them.
SCENARIO_DEADLINE = 180.0
FINALE_DEADLINE = 480.0
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
    # ACCEPT: refusals that are right too, when the scenario leaves a race to the machine
    # (a manager's message sent before the auto-reply makes it `human_answered`)
    or_refused: tuple[str, ...] = ()

    def reached(self, status: Any) -> bool:
        return status == self.status or status in self.also


def refused(out: JSON) -> bool:
    """The ledger item ended without a send, with a reason (a final state)."""
    return out.get("state") in ("FAILED", "SKIPPED") and bool(out.get("reason"))


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


def reply_of(lead: JSON | None, opener: str) -> JSON | None:
    """The auto-reply ledger item of the request ``opener`` opened (OUT item ``auto:<id>``)."""
    messages = (lead or {}).get("messages") or []
    return next((m for m in messages if m.get("id") == f"auto:{opener}"), None)
