"""Mapping of sendMessage/sendTemplate answers (`session_reply.onemsg.errors`)."""

from __future__ import annotations

import re

import pytest
from session_reply.errors import PermanentError, RetryableError
from session_reply.onemsg.errors import (
    WINDOW_CLOSED,
    Accepted,
    InvalidBodyError,
    InvalidRecipientError,
    OutcomeUnknownError,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderUnavailableError,
    Queued,
    WindowClosedError,
    classify,
    error_text,
    failure_reason,
)

# The regex of DESIGN.md section 2, character for character.
DESIGN_WINDOW_CLOSED = (
    r"131047|re-?engagement|window is closed|outside (the )?(allowed|24)|24[- ]?hour"
    r"|requires? a template"
)
WAMID = "wamid.HBgLNzcwMTEyMzQ1NjcVAgARGBJSRVBMWTAwMDAwMDAwMDAwMQA"


# -- success -------------------------------------------------------------------------------


def test_classify_accepts_when_2xx_and_sent_true_and_id_present() -> None:
    payload = {"sent": True, "id": WAMID, "message": "Sent to 77011234567@c.us", "description": ""}

    assert classify(200, payload) == Accepted(provider_id=WAMID)


def test_classify_keeps_id_as_string_when_provider_id_is_a_number() -> None:
    assert classify(201, {"sent": True, "id": 42}) == Accepted(provider_id="42")


@pytest.mark.parametrize("job_id", ["job-1", 17])
def test_classify_returns_queued_when_sent_false_with_job_id(job_id: object) -> None:
    # Given 1MSG took the message into its own queue: pending, not failed
    outcome = classify(200, {"sent": False, "jobId": job_id})

    assert outcome == Queued(job_id=str(job_id))


@pytest.mark.parametrize(
    "payload",
    [
        {"sent": "true", "id": WAMID},  # only a JSON true counts
        {"sent": 1, "id": WAMID},
        {"sent": True},
        {"sent": True, "id": ""},
        {"sent": True, "id": None},
        {"id": WAMID},
        {},
    ],
)
def test_classify_rejects_when_2xx_lacks_sent_true_or_id(payload: dict[str, object]) -> None:
    with pytest.raises(ProviderRejectedError):
        classify(200, payload)


def test_classify_rejects_with_reason_text_when_2xx_sent_false_without_text() -> None:
    with pytest.raises(ProviderRejectedError, match="sent is not true") as caught:
        classify(200, {"sent": False})

    assert type(caught.value) is ProviderRejectedError
    assert caught.value.reason == "provider_rejected"


@pytest.mark.parametrize("payload", ["<html>OK</html>", ["sent"], None, ""])
def test_classify_calls_outcome_unknown_when_2xx_answer_is_not_a_json_object(
    payload: object,
) -> None:
    # 1MSG took the request; whether it sent the message is unknown: never resend blindly.
    with pytest.raises(OutcomeUnknownError, match="without a JSON object"):
        classify(200, payload)


# -- the window -----------------------------------------------------------------------------


def test_window_closed_regex_is_the_design_contract_when_compared_to_design_md() -> None:
    assert WINDOW_CLOSED.pattern == DESIGN_WINDOW_CLOSED
    assert WINDOW_CLOSED.flags & re.IGNORECASE


@pytest.mark.parametrize(
    "text",
    [
        "Dialog window is closed",
        "DIALOG WINDOW IS CLOSED",
        "131047 Re-engagement message",
        "Reengagement required",
        "Message failed to send because more than 24 hours have passed",
        "outside the allowed window",
        "Outside 24h window",
        "24-hour window expired",
        "Outside the 24 hour session",
        "This message requires a template",
        "Require a template outside the session",
    ],
)
def test_window_closed_regex_matches_when_text_says_the_window_is_closed(text: str) -> None:
    assert WINDOW_CLOSED.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "Phone number is invalid",
        "Rate limit exceeded",
        "Body is too long",
        "Open the window",
        "Sent to 77011234567@c.us",
        "message 13104 failed",
    ],
)
def test_window_closed_regex_does_not_match_when_text_is_about_something_else(text: str) -> None:
    assert WINDOW_CLOSED.search(text) is None


@pytest.mark.parametrize(
    ("status_code", "payload"),
    [
        (400, {"error": "Dialog window is closed"}),
        (200, {"sent": False, "message": "Dialog window is closed"}),
        (400, {"error": {"message": "Re-engagement message", "code": 131047}}),
        (200, {"error": {"code": 131047, "title": "Message failed"}}),
        (400, {"message": "Outside the allowed window, use a template"}),
    ],
)
def test_classify_raises_window_closed_when_any_shape_says_so(
    status_code: int, payload: dict[str, object]
) -> None:
    with pytest.raises(WindowClosedError) as caught:
        classify(status_code, payload)

    assert caught.value.reason == "window_closed"
    assert isinstance(caught.value, PermanentError)


# -- other refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Phone number is invalid",
        "131026 Message undeliverable",
        "Recipient is not a WhatsApp user",
        "Invalid chatId",
        "invalid number",
    ],
)
def test_classify_raises_invalid_recipient_when_400_names_a_bad_recipient(text: str) -> None:
    with pytest.raises(InvalidRecipientError) as caught:
        classify(400, {"error": text})

    assert caught.value.reason == "invalid_recipient"
    assert caught.value.detail == text


@pytest.mark.parametrize(
    "text", ["Message body is empty", "Text too long", "body must be at most 4096 characters"]
)
def test_classify_raises_invalid_body_when_400_names_the_body(text: str) -> None:
    with pytest.raises(InvalidBodyError) as caught:
        classify(400, {"error": text})

    assert caught.value.reason == "invalid_body"


def test_classify_prefers_window_closed_when_text_also_mentions_the_body() -> None:
    with pytest.raises(WindowClosedError):
        classify(400, {"error": "Cannot send text: dialog window is closed"})


@pytest.mark.parametrize(("status_code", "payload"), [(400, {}), (404, "Not Found"), (422, None)])
def test_classify_raises_plain_rejection_with_http_code_when_4xx_has_no_text(
    status_code: int, payload: object
) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        classify(status_code, payload)

    assert type(caught.value) is ProviderRejectedError
    expected = str(payload) if payload else f"HTTP {status_code}"
    assert caught.value.detail == expected


def test_rejection_detail_is_truncated_when_provider_text_is_huge() -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        classify(400, {"error": "Unsupported thing " + "x" * 2_000})

    assert len(caught.value.detail) == 500


def test_classify_raises_invalid_body_when_200_sent_false_names_the_body() -> None:
    with pytest.raises(InvalidBodyError):
        classify(200, {"sent": False, "message": "Message body is empty"})


# -- retryable -------------------------------------------------------------------------------


def test_classify_raises_rate_limited_without_retry_after_when_429() -> None:
    with pytest.raises(ProviderRateLimitedError, match="Too many requests") as caught:
        classify(429, {"error": "Too many requests"})

    assert isinstance(caught.value, RetryableError)
    assert caught.value.retry_after is None  # 1MSG sends no Retry-After


@pytest.mark.parametrize("status_code", [401, 403])
def test_classify_raises_auth_error_when_token_is_refused(status_code: int) -> None:
    with pytest.raises(ProviderAuthError, match=str(status_code)) as caught:
        classify(status_code, {"error": "Wrong token"})

    assert isinstance(caught.value, RetryableError)


def test_classify_does_not_echo_provider_text_when_token_is_refused() -> None:
    # The token may be part of the provider's message: the error text must not carry it.
    with pytest.raises(ProviderAuthError) as caught:
        classify(401, {"error": "token abc123 is invalid"})

    assert "abc123" not in str(caught.value)


@pytest.mark.parametrize("status_code", [502, 504])
def test_classify_raises_outcome_unknown_when_gateway_error(status_code: int) -> None:
    # A gateway answered, not 1MSG: the request may have gone through
    with pytest.raises(OutcomeUnknownError):
        classify(status_code, "<html>Bad Gateway</html>")


@pytest.mark.parametrize("status_code", [500, 503, 599])
def test_classify_raises_unavailable_when_5xx_is_not_a_gateway_error(status_code: int) -> None:
    with pytest.raises(ProviderUnavailableError, match=str(status_code)):
        classify(status_code, {"error": "Internal error"})


def test_classify_raises_unavailable_when_5xx_text_mentions_the_window() -> None:
    # The status code decides first: a 500 is retried whatever its text says
    with pytest.raises(ProviderUnavailableError):
        classify(500, {"error": "Dialog window is closed"})


def test_retryable_and_permanent_errors_are_disjoint_when_classified() -> None:
    retryable = (
        ProviderRateLimitedError,
        ProviderUnavailableError,
        OutcomeUnknownError,
        ProviderAuthError,
    )
    permanent = (ProviderRejectedError, WindowClosedError, InvalidRecipientError, InvalidBodyError)

    assert all(
        issubclass(e, RetryableError) and not issubclass(e, PermanentError) for e in retryable
    )
    assert all(
        issubclass(e, PermanentError) and not issubclass(e, RetryableError) for e in permanent
    )


# -- error_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"error": "Bad phone"}, "Bad phone"),
        ({"sent": False, "message": "Not sent"}, "Not sent"),
        ({"description": "Desc only"}, "Desc only"),
        ({"error": "", "message": "Fallback"}, "Fallback"),
        (
            {"error": {"code": 131047, "message": "Re-engagement message"}},
            "131047 Re-engagement message",
        ),
        ({"error": {"title": "Title only"}}, "Title only"),
        ({"error": {"code": 100}}, "100"),
        ({"error": {}}, ""),
        ({"sent": True, "id": "x"}, ""),
        ("plain text", "plain text"),
        ("y" * 900, "y" * 500),
        (None, ""),
    ],
)
def test_error_text_reads_the_human_text_when_payload_has_any_shape(
    payload: object, expected: str
) -> None:
    assert error_text(payload) == expected


# -- failure_reason --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("131047 Re-engagement message", "window_closed"),
        ("Dialog window is closed", "window_closed"),
        ("131026 Message undeliverable", "invalid_recipient"),
        ("Recipient is not on WhatsApp", "invalid_recipient"),
        ("Something else went wrong", "provider_rejected"),
        ("", "provider_rejected"),
        (None, "provider_rejected"),
    ],
)
def test_failure_reason_gives_reason_code_when_failed_status_has_text(
    detail: str | None, expected: str
) -> None:
    assert failure_reason(detail) == expected
