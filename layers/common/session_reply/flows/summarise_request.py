"""Subject, language and category of one request, by the configured extractor.

In rules mode (the default) the rules name it. In bedrock mode the model is asked first,
for a request with something to name (a greeting alone, a sticker or a media message
without a caption are the rules' own); its answer is taken only when it passes the checks
of `domain/subject_model.py`. Any other outcome (refused, an error, a timeout) is counted as
`SubjectModelFallback` with its `reason`, and the rules name the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from session_reply.domain.catalogue import Entry, folded
from session_reply.domain.request import RequestSummary, from_answer, summarise
from session_reply.domain.subject import is_greeting_only
from session_reply.domain.subject_model import (
    MAX_ANSWER_TOKENS,
    AnswerRefused,
    instructions,
    read_answer,
    request_text,
)
from session_reply.observability import count_by, logger
from session_reply.settings import Settings

if TYPE_CHECKING:  # boto3's Bedrock client is loaded only in bedrock mode
    from session_reply.bedrock import BedrockModel

FALLBACK_METRIC = "SubjectModelFallback"


def summarise_request(
    text: str,
    message_type: str,
    known_language: str | None,
    settings: Settings,
    entries: Sequence[Entry] = (),
    model: BedrockModel | None = None,
) -> RequestSummary:
    summary = _ask(model, text, message_type, known_language, settings, entries) if model else None
    return summary or summarise(
        text,
        message_type,
        known_language,
        settings.default_language,
        settings.language_list,
        catalogue=entries,
    )


def _ask(
    model: BedrockModel,
    text: str,
    message_type: str,
    known_language: str | None,
    settings: Settings,
    entries: Sequence[Entry],
) -> RequestSummary | None:
    """The model's summary, or None (counted with its reason) for the rules to give."""
    from session_reply.bedrock import ModelUnavailableError

    asked = request_text(text)
    if not folded(asked) or is_greeting_only(asked):
        return None  # nothing to name: the rules' neutral or media phrase
    languages = settings.language_list
    prompt = instructions(entries, languages, settings.default_language, known_language)
    try:
        reply = model.converse(prompt, asked, MAX_ANSWER_TOKENS)
        answer = read_answer(reply.text, asked, entries, languages)
    except (ModelUnavailableError, AnswerRefused) as exc:
        count_by(FALLBACK_METRIC, reason=exc.reason)
        logger.info("subject model not used", extra={"reason": exc.reason})
        return None
    return from_answer(answer, text, message_type, settings.default_language)
