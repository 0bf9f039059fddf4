"""Errors split by the only question that matters to a caller: does a retry help?"""

from __future__ import annotations


class SessionReplyError(Exception):
    """Base of every error this package raises on purpose."""


class RetryableError(SessionReplyError):
    """Transient: the same input may succeed later (throttling, 5xx, network, a lost race).

    `retry_after` is a hint in seconds for the queue's visibility backoff.
    """

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(SessionReplyError):
    """The same input will fail again; record the reason, do not retry."""


class RetriesExhaustedError(PermanentError):
    """A send was tried as often as allowed (`SEND_MAX_ATTEMPTS`): its record goes to the
    dead-letter queue (alarmed); the ledger keeps the last error for the redrive."""


class ValidationError(PermanentError):
    """Input to one of our own APIs is wrong; answered with HTTP 400."""


class NotFoundError(PermanentError):
    """The lead or message does not exist; answered with HTTP 404."""


class ConflictError(PermanentError):
    """The request cannot be done in the current state (e.g. window closed); HTTP 409."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class StoreUnavailableError(RetryableError):
    """DynamoDB, SQS or EventBridge failed; the webhook answers 5xx so 1MSG retries."""


class ConfigurationError(SessionReplyError):
    """The deployment is missing a setting or secret; the function fails closed."""
