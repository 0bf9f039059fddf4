"""One request, summarised for the reply, the routing and the CRM: its subject ({{2}}, the
client's own words), the client's language and the category of the topic rules. The subject
and the language come from the rules (`summarise`) or from a model's checked answer
(`from_answer`, see `domain/subject_model.py`); the category always from the topic rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from session_reply.domain.catalogue import Entry, match_entry
from session_reply.domain.language import DEFAULT, SUPPORTED, Language, detect_language
from session_reply.domain.subject import (
    Subject,
    extract_subject,
    is_greeting_only,
    opening_languages,
)
from session_reply.domain.subject_model import ModelAnswer
from session_reply.domain.topic import OTHER as OTHER  # the category when no rule matched
from session_reply.domain.topic import Topic, category_label, extract_topic

CATALOGUE = "catalogue"  # the subject's rule when a catalogue entry named it
MODEL = "model"  # the subject's rule, and the language's source, when the model named them


@dataclass(frozen=True, slots=True)
class RequestSummary:
    subject: Subject
    language: Language
    category: Topic
    entry: Entry | None = None  # the catalogue entry the request matched

    @property
    def category_label(self) -> str:
        return category_label(self.category)

    def fields(self) -> dict[str, object]:
        """The lead's fields: `topic` is the {{2}} the reply names."""
        return {
            "topic": self.subject.phrase,
            "topic_rule": self.subject.rule,
            "language": self.language.code,
            "language_source": self.language.source,
            "category": self.category_label,
            "category_rule": self.category.rule_id,
            "category_confidence": self.category.confidence,
            "catalogue_entry": self.entry.id if self.entry else None,
            "catalogue_team": list(self.entry.team) if self.entry else [],
        }


def summarise(
    text: str,
    message_type: str = "chat",
    known_language: str | None = None,
    default_language: str = "en",
    languages: Sequence[str] | None = None,
    *,
    detect: bool = True,
    catalogue: Sequence[Entry] = (),
) -> RequestSummary:
    """`detect=False` skips the language model (the webhook's provisional summary): the
    known language, else the default. A request that matches a `catalogue` entry is named
    by the entry's name in the client's language."""
    allowed = tuple(languages or SUPPORTED)
    if not detect:
        code = known_language if known_language in allowed else default_language
        language = Language(str(code), DEFAULT, 0.0)
    else:
        language = detect_language(
            "" if is_greeting_only(text) else text,
            known_language,
            default_language,
            allowed,
            opening_languages(text),
        )
    entry = match_entry(text, catalogue) if catalogue else None
    subject = (
        Subject(entry.name(language.code, default_language), CATALOGUE)
        if entry
        else extract_subject(text, message_type, language.code)
    )
    return RequestSummary(subject, language, extract_topic(text, message_type), entry)


def from_answer(
    answer: ModelAnswer, text: str, message_type: str = "chat", default_language: str = "en"
) -> RequestSummary:
    """The summary of a model's taken answer: a catalogue entry it chose is named as the
    rules name one (the entry's name in the client's language)."""
    entry = answer.entry
    subject = (
        Subject(entry.name(answer.language, default_language), CATALOGUE)
        if entry
        else Subject(answer.subject, MODEL)
    )
    language = Language(answer.language, MODEL, 0.0)
    return RequestSummary(subject, language, extract_topic(text, message_type), entry)
