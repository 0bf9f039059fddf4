"""1MSG answers mapped to outcomes, each with the action the sender takes.

This is the only place that reads the provider's error texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from session_reply.errors import PermanentError, RetryableError

WINDOW_CLOSED = re.compile(
    r"131047|re-?engagement|window is closed|outside (the )?(allowed|24)|24[- ]?hour"
    r"|requires? a template",
    re.IGNORECASE,
)
INVALID_RECIPIENT = re.compile(
    r"131026|not a whatsapp user|not on whatsapp|invalid (phone|number|recipient|chat ?id)|"
    r"phone number (is )?(invalid|incorrect|not valid)|recipient .*(invalid|not valid|unknown)",
    re.IGNORECASE,
)
INVALID_BODY = re.compile(r"\bbody\b|message text|too long|is empty|4096", re.IGNORECASE)


class ProviderRateLimitedError(RetryableError):
    """429: back off exponentially; nothing was sent."""


class ProviderUnavailableError(RetryableError):
    """5xx or a connection that never reached 1MSG: nothing was sent; retry."""


class OutcomeUnknownError(RetryableError):
    """Timeout or gateway error after the request left: the message may be out.

    Never resend blindly: wait for the echo or a status to reconcile it first.
    """


class ProviderAuthError(RetryableError):
    """401/403: the token is wrong or expired. Retrying will not help until an operator acts,
    so the sender pauses (long backoff) and an alarm metric fires."""


class ProviderRejectedError(PermanentError):
    """1MSG refused this message for good; `reason` is a short code, `detail` its text."""

    reason = "provider_rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail[:500]


class WindowClosedError(ProviderRejectedError):
    reason = "window_closed"


class InvalidRecipientError(ProviderRejectedError):
    reason = "invalid_recipient"


class InvalidBodyError(ProviderRejectedError):
    reason = "invalid_body"


@dataclass(frozen=True, slots=True)
class Accepted:
    """1MSG took the message: `provider_id` is the key its statuses come back with."""

    provider_id: str


@dataclass(frozen=True, slots=True)
class Queued:
    """`sent: false` with a `jobId`: pending on 1MSG's side. Never resend on it."""

    job_id: str


SendOutcome = Accepted | Queued


def error_text(payload: Any) -> str:
    """The human text of any of 1MSG's error shapes."""
    if not isinstance(payload, dict):
        return str(payload)[:500] if payload else ""
    error = payload.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or error.get("title") or ""
        return f"{code} {message}".strip() if code else str(message)
    for key in ("error", "message", "description"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def rejection(detail: str) -> ProviderRejectedError:
    if WINDOW_CLOSED.search(detail):
        return WindowClosedError(detail)
    if INVALID_RECIPIENT.search(detail):
        return InvalidRecipientError(detail)
    if INVALID_BODY.search(detail):
        return InvalidBodyError(detail)
    return ProviderRejectedError(detail)


def classify(status_code: int, payload: Any) -> SendOutcome:
    """Map a sendMessage/sendTemplate answer to an outcome, or raise the matching error."""
    text = error_text(payload)
    if 200 <= status_code < 300 and isinstance(payload, dict):
        provider_id = payload.get("id")
        if payload.get("sent") is True and provider_id:
            return Accepted(provider_id=str(provider_id))
        if payload.get("jobId") not in (None, ""):
            return Queued(job_id=str(payload["jobId"]))
        raise rejection(text or "sent is not true")
    if 200 <= status_code < 300:
        # 2xx without a JSON object: 1MSG took the request; what it did is unknown.
        raise OutcomeUnknownError("1MSG answered 2xx without a JSON object")
    if status_code == 429:
        raise ProviderRateLimitedError(f"1MSG rate limited: {text}"[:300])
    if status_code in (401, 403):
        raise ProviderAuthError(f"1MSG refused the token ({status_code})")
    if status_code in (502, 504):
        raise OutcomeUnknownError(f"1MSG gateway error {status_code}: outcome unknown")
    if status_code >= 500:
        raise ProviderUnavailableError(f"1MSG error {status_code}: {text}"[:300])
    raise rejection(text or f"HTTP {status_code}")


def failure_reason(detail: str | None) -> str:
    """A reason code for a `failed` status or a refused send, from its text."""
    return rejection(detail or "").reason
