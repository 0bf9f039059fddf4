"""Configuration, read once per container from the environment.

Secrets are never env values: the env holds SSM parameter *names*, and the values come
through the Powertools parameters cache (see `secrets.py`).

A frozen dataclass rather than a pydantic model: pydantic's import alone costs ~170 ms of
every cold start, for a dozen string-to-number conversions.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import get_origin, get_type_hints

DEFAULT_REPLY_TEMPLATE = (
    "Hello, {{1}}! We received your request about «{{2}}». "
    "{{3}} is reviewing it and will reply shortly."
)

RULES, BEDROCK = "rules", "bedrock"
EXTRACTORS = (RULES, BEDROCK)
# The model's call ends within this (connect + read timeouts, no retries): session_reply/bedrock.py.
MODEL_BUDGET_SECONDS = 1.5


class SettingsError(ValueError):
    """A setting's value cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    table_name: str = ""
    send_queue_url: str = ""
    event_bus_name: str = ""
    idempotency_table_name: str = ""
    onemsg_api_url: str = "https://api.1msg.io"
    onemsg_channel_id: str = ""
    onemsg_token_param: str = ""
    onemsg_auth: str = "bearer"  # bearer | query
    onemsg_timeout_seconds: float = 10.0
    webhook_secret_param: str = ""
    reply_template: str = DEFAULT_REPLY_TEMPLATE
    managers: list[str] = field(default_factory=lambda: ["Our manager"])
    fallback_client_name: str = "there"
    # Named in the reply when no manager is available; the lead waits as `unassigned`.
    fallback_manager_name: str = "Our team"
    managers_cache_seconds: int = 30
    # The client's language: detected among these (ISO 639-1, comma-separated); a text too
    # short to tell keeps the chat's known language, else the default (whose reply text is
    # reply_template).
    default_language: str = "en"
    languages: str = "en,ru,es,pt,de,fr,it,tr,uk"
    # The auto-reply waits this long after the request's first message, so a burst
    # ("hi" / "I want to ask" / "about delivery") is answered once with its real topic.
    burst_seconds: float = 3.0
    # Who names the subject ({{2}}) and the language: `rules` (domain/subject.py), or
    # `bedrock`: Amazon Bedrock's Converse API with bedrock_model_id reads the request's
    # text; an answer the checks refuse, an error or a timeout leaves it to the rules.
    subject_extractor: str = "rules"  # rules | bedrock
    bedrock_model_id: str = "amazon.nova-micro-v1:0"
    escalate_after_seconds: int = 900
    reassign_on_escalation: bool = False
    # An approved WhatsApp template sent instead of the auto-reply when the window has
    # closed (params: client name, topic, manager). Empty: no fallback, the lead is marked
    # window_closed for a human to follow up.
    template_name: str = ""
    template_namespace: str = ""
    template_language: str = "en"
    session_gap_seconds: int = 86_400
    # How far ahead of our clock a provider time (a message's `time`, a status's timestamp)
    # may be: one further ahead is brought back to now plus this (a phone's or 1MSG's clock
    # running fast must not hold the request and the window open).
    clock_skew_seconds: int = 120
    window_seconds: int = 86_400
    # The sender refuses free text this close to the window's end: the message must reach
    # 1MSG and WhatsApp before the window shuts.
    window_margin_seconds: int = 120
    # An auto-reply older than this (queue outage, redrive) is skipped instead of sent late.
    max_auto_reply_age_seconds: int = 900
    # How long a send attempt owns its ledger item; after a timeout this is also the grace
    # period in which the echo or a status can reconcile the outcome before any resend.
    send_lease_seconds: int = 60
    max_backoff_seconds: int = 300
    # Tries of one send that 1MSG answered with a retryable error (429, 5xx, 401); then the
    # sender moves its record to the dead-letter queue. Burst waits, turns behind another
    # record of the chat and leases held elsewhere are not tries (they only cost receives,
    # which the queue's larger maxReceiveCount allows for).
    send_max_attempts: int = 8
    dead_letter_queue_url: str = ""
    # The poller asks hookInfo about a sent message with no delivery status after this long,
    # and gives up (status `unknown`) after the deadline.
    poll_after_seconds: int = 120
    status_deadline_seconds: int = 86_400
    poll_batch_size: int = 20
    # The poller's sweep queues again the reply of a request opened this long ago that the
    # sender has not taken (the webhook stopped between storing and queueing, unretried).
    sweep_after_seconds: int = 120
    raw_hook_ttl_days: int = 14
    status_event_ttl_days: int = 180
    max_webhook_bytes: int = 262_144

    def __post_init__(self) -> None:
        if self.onemsg_auth not in ("bearer", "query"):
            raise SettingsError(f"ONEMSG_AUTH must be bearer or query, not {self.onemsg_auth!r}")
        if self.subject_extractor not in EXTRACTORS:
            raise SettingsError(
                f"SUBJECT_EXTRACTOR must be rules or bedrock, not {self.subject_extractor!r}"
            )
        if not self.language_list or self.default_language not in self.language_list:
            raise SettingsError(
                f"DEFAULT_LANGUAGE {self.default_language!r} must be one of LANGUAGES"
            )

    @property
    def burst_wait_seconds(self) -> float:
        """How long the auto-reply waits for the rest of a burst. The model's call comes out
        of that wait, so a reply in bedrock mode is never later than with the rules."""
        if self.subject_extractor == BEDROCK:
            return max(0.0, self.burst_seconds - MODEL_BUDGET_SECONDS)
        return self.burst_seconds

    @property
    def language_list(self) -> tuple[str, ...]:
        return tuple(code.strip().lower() for code in self.languages.split(",") if code.strip())


def _split_names(raw: str) -> list[str]:
    names = [name.strip() for name in raw.split(",")]
    return [name for name in names if name] or ["Our manager"]


def _convert(name: str, kind: str, raw: str) -> object:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name.upper()} must be a number, not {raw!r}") from None
    if kind == "bool":
        if raw.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise SettingsError(f"{name.upper()} must be true or false, not {raw!r}")
        return raw.strip().lower() in ("true", "1", "yes")
    if kind == "list[str]":
        return _split_names(raw)
    return raw


def _kind(annotation: object) -> str:
    if get_origin(annotation) is list:
        return "list[str]"
    return getattr(annotation, "__name__", "str")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container; tests call `get_settings.cache_clear()`."""
    kinds = get_type_hints(Settings)
    values = {
        f.name: _convert(f.name, _kind(kinds[f.name]), os.environ[f.name.upper()])
        for f in dataclasses.fields(Settings)
        if f.name.upper() in os.environ
    }
    return Settings(**values)  # type: ignore[arg-type]
