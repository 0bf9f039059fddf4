"""The model's part in naming a request (`SubjectExtractor=bedrock`): what it is asked, and
which answers are taken.

The model gets the request's text, the catalogue's entries and the configured languages,
and must answer one JSON object: `{"subject": "...", "language": "xx", "entry": "id" | null}`.
An answer is taken only when all of this holds, else it is refused with a reason (a metric
dimension) and the rules name the request:

- it is a JSON object (a Markdown code fence around it is allowed): else `not_json`;
- the subject (punctuation at its ends dropped) names something: else `no_subject`;
- it has at most `MAX_CHARS` (40) characters: else `too_long`;
- it is the client's words: each of its words (compared as `fold` does: lower case, no
  accents) is a word of the text, and each other character of it (not a letter, digit or
  space) is in the text too; or it is one of the catalogue's names: else `not_from_text`;
- the language is a configured one: else `unknown_language`;
- the entry is empty or the id of a catalogue entry: else `unknown_entry`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from session_reply.domain.catalogue import Entry, folded
from session_reply.domain.subject import MAX_CHARS

MAX_TEXT_CHARS = 2000  # of the request's text sent to the model (a burst can be long)
MAX_ANSWER_TOKENS = 100  # the JSON answer is about 25
NOT_JSON, NO_SUBJECT, TOO_LONG = "not_json", "no_subject", "too_long"
NOT_FROM_TEXT, UNKNOWN_LANGUAGE, UNKNOWN_ENTRY = (
    "not_from_text",
    "unknown_language",
    "unknown_entry",
)

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)
_EDGE = " \t\n,.:;!?¿¡…-–—/\\\"'«»()[]*_~"  # the reply puts « » around the subject


class AnswerRefused(ValueError):
    """The model's answer is not taken; `reason` says which check refused it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    subject: str
    language: str
    entry: Entry | None


def instructions(
    entries: Sequence[Entry],
    languages: Sequence[str],
    default_language: str,
    known_language: str | None = None,
) -> str:
    """The system prompt: the task, the answer's form, the languages and the catalogue."""
    fallback = known_language if known_language in languages else default_language
    lines = [
        "You read a client's WhatsApp message to a business and say what it is about. The "
        'business answers: "We received your request about «SUBJECT»".',
        "Answer with one JSON object and nothing else: "
        '{"subject": "...", "language": "..", "entry": null}',
        f"subject: what the client asks about, at most {MAX_CHARS} characters, copied from "
        "the message: the client's own words, in their language and form, with the detail "
        "that matters (the product, service, place, date or problem). No greeting, no "
        'lead-in such as "I\'d like to know about" or "интересует", no word the client did '
        "not write, no ellipsis. An empty string when the message asks about nothing "
        "(a greeting, thanks, an emoji).",
        f"language: the message's language, one of {', '.join(languages)}; "
        f"{fallback} when the message is too short to tell.",
    ]
    if entries:
        lines.append(
            "entry: the id of the business's product or service below that the request is "
            "about, else null."
        )
        lines += [f"- {e.id}: {e.name(default_language, default_language)}" for e in entries]
    else:
        lines.append("entry: null.")
    return "\n".join(lines)


def request_text(text: str) -> str:
    """What of the request's text the model reads."""
    return text.strip()[:MAX_TEXT_CHARS]


def _object(raw: str) -> dict[str, object]:
    stripped = raw.strip()
    fenced = _FENCE.match(stripped)
    try:
        data = json.loads(fenced.group(1) if fenced else stripped)
    except (ValueError, RecursionError):
        raise AnswerRefused(NOT_JSON) from None
    if not isinstance(data, dict):
        raise AnswerRefused(NOT_JSON)
    return data


def _from_text(subject: str, text: str, entries: Sequence[Entry]) -> bool:
    words = folded(subject)
    if any(words == folded(name) for e in entries for name in e.names.values()):
        return True
    known = set(folded(text))
    marks = {ch for ch in subject if not ch.isalnum() and not ch.isspace()}
    return all(w in known for w in words) and all(ch in text for ch in marks)


def read_answer(
    raw: str, text: str, entries: Sequence[Entry], languages: Sequence[str]
) -> ModelAnswer:
    """The model's answer to `text`, checked as the module docstring says."""
    data = _object(raw)
    value = data.get("subject")
    subject = " ".join(value.split()).strip(_EDGE) if isinstance(value, str) else ""
    if not folded(subject):
        raise AnswerRefused(NO_SUBJECT)
    if len(subject) > MAX_CHARS:
        raise AnswerRefused(TOO_LONG)
    if not _from_text(subject, text, entries):
        raise AnswerRefused(NOT_FROM_TEXT)
    language = data.get("language")
    if not isinstance(language, str) or language.strip().lower() not in languages:
        raise AnswerRefused(UNKNOWN_LANGUAGE)
    ident = data.get("entry")
    entry = None
    if ident not in (None, ""):
        entry = next((e for e in entries if e.id == ident), None)
        if entry is None:
            raise AnswerRefused(UNKNOWN_ENTRY)
    return ModelAnswer(subject, language.strip().lower(), entry)
