"""The auto-reply's text per language: data in `replies.json`, the default language's reply
replaceable by the `ReplyTemplate` parameter. Every text is checked when loaded: its
placeholders, {{2}} inside « », and room for the values within 1MSG's 4096 characters. The
out-of-hours reply also says when the team is back ({{4}}), in the language's own words.
The business's own `welcome`, when one is configured (`make replies`), answers a client who
opens the chat (`request_welcome`); it may greet by name ({{1}}) and has no other values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from session_reply.domain.reply import MAX_BODY_CHARS

_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
# The longest values a reply can hold: a name (60), a subject (40), a manager's name (120),
# when the team is back (60).
_LONGEST_VALUES = 60 + 40 + 120 + 60
REPLY_PLACEHOLDERS = ("1", "2", "3")
OUT_OF_HOURS_PLACEHOLDERS = ("1", "2", "3", "4")
_NAME_CHARS = 60  # {{1}}, the longest client name a text holds


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    reply: str
    client: str  # {{1}} when the profile has no usable name
    team: str  # {{3}} when no manager is free
    out_of_hours: str = ""  # the reply while closed; {{4}} = when the team is back
    days: tuple[str, ...] = ()  # Monday first
    today: str = ""
    tomorrow: str = ""
    when: str = "{day} {time}"
    welcome: str = ""  # the business's answer to a client opening the chat; "" = none


def welcome_problem(text: str) -> str | None:
    """Why a welcome text cannot be used, or None: some words, at most {{1}} (once)."""
    found = _PLACEHOLDER.findall(text)
    if not text.strip():
        return "is empty"
    if set(found) - {"1"} or len(found) > 1:
        return "may hold only {{1}} (the client's name), at most once"
    if len(text) + _NAME_CHARS > MAX_BODY_CHARS:
        return f"too long: over {MAX_BODY_CHARS} characters when rendered"
    return None


def template_problem(text: str, placeholders: tuple[str, ...] = REPLY_PLACEHOLDERS) -> str | None:
    """Why a reply text cannot be used, or None."""
    found = _PLACEHOLDER.findall(text)
    if sorted(found) != sorted(placeholders):
        return f"needs {', '.join('{{' + p + '}}' for p in placeholders)}, each once"
    if "«{{2}}»" not in text:
        return "needs «{{2}}» (the subject inside « »)"
    if len(text) - 6 * len(found) + _LONGEST_VALUES > MAX_BODY_CHARS:
        return f"too long: over {MAX_BODY_CHARS} characters when rendered"
    return None


def _entry(code: str, entry: Mapping[str, Any]) -> ReplyTexts:
    values = {k: entry.get(k) for k in ("reply", "client", "team")}
    if not all(isinstance(v, str) and v.strip() for v in values.values()):
        raise ValueError(f"replies.json: {code} needs reply, client and team texts")
    problem = template_problem(str(values["reply"]))
    if problem:
        raise ValueError(f"replies.json: {code}: the reply {problem}")
    texts = ReplyTexts(str(values["reply"]), str(values["client"]), str(values["team"]))
    if entry.get("welcome"):
        welcome = str(entry["welcome"])
        problem = welcome_problem(welcome)
        if problem:
            raise ValueError(f"replies.json: {code}: welcome {problem}")
        texts = replace(texts, welcome=welcome)
    if "out_of_hours" not in entry:
        return texts
    ooh = str(entry["out_of_hours"])
    problem = template_problem(ooh, OUT_OF_HOURS_PLACEHOLDERS)
    if problem:
        raise ValueError(f"replies.json: {code}: out_of_hours {problem}")
    days = entry.get("days")
    if not isinstance(days, list) or len(days) != 7 or not all(isinstance(d, str) for d in days):
        raise ValueError(f"replies.json: {code}: days must name the 7 days, Monday first")
    when = str(entry.get("when") or "{day} {time}")
    if "{day}" not in when or "{time}" not in when:
        raise ValueError(f"replies.json: {code}: when needs {{day}} and {{time}}")
    return replace(
        texts,
        out_of_hours=ooh,
        days=tuple(days),
        today=str(entry.get("today") or days[0]),
        tomorrow=str(entry.get("tomorrow") or days[1]),
        when=when,
    )


def load(raw: Mapping[str, Any]) -> dict[str, ReplyTexts]:
    texts = {str(code): _entry(str(code), e) for code, e in dict(raw["languages"]).items()}
    if "en" not in texts:
        raise ValueError("replies.json: English (en) is the last resort and must be there")
    return texts


_SHIPPED_RAW: dict[str, Any] = json.loads(
    Path(__file__).with_name("replies.json").read_text(encoding="utf-8")
)
SHIPPED = load(_SHIPPED_RAW)
_FIELDS = (
    "reply",
    "client",
    "team",
    "out_of_hours",
    "days",
    "today",
    "tomorrow",
    "when",
    "welcome",
)


def with_overrides(overrides: Mapping[str, Any]) -> dict[str, ReplyTexts]:
    """The shipped texts with an operator's changes (`make replies`): per language, any of
    the fields of `replies.json`; a new language needs reply, client and team. ValueError
    names what is wrong."""
    if not isinstance(overrides, Mapping):
        raise ValueError("replies: a JSON object of languages")
    shipped = dict(_SHIPPED_RAW["languages"])
    for code, entry in overrides.items():
        if not isinstance(entry, Mapping) or not set(entry) <= set(_FIELDS):
            raise ValueError(f"replies: {code}: an object with some of {', '.join(_FIELDS)}")
        shipped[str(code)] = {**shipped.get(str(code), {}), **entry}
    return load({"languages": shipped})


def texts_for(
    language: str,
    default: ReplyTexts,
    default_language: str,
    table: Mapping[str, ReplyTexts] | None = None,
) -> ReplyTexts:
    """The language's texts (`table`: the shipped ones, or with the operator's changes);
    the default language's reply and names are the settings' (`ReplyTemplate` and the
    fallback names), and so are those of a language with none."""
    table = SHIPPED if table is None else table
    texts = table.get(language)
    if texts is None or language == default_language:
        base = table.get(default_language) or table["en"]
        return replace(base, reply=default.reply, client=default.client, team=default.team)
    return texts


def when_back(opens: datetime, now: datetime, texts: ReplyTexts) -> str:
    """When the team is back, in the language's words: "tomorrow at 09:00", "понедельник,
    09:00". Both times in the business's time zone."""
    days = texts.days or SHIPPED["en"].days
    gap = (opens.date() - now.date()).days
    day = texts.today if gap == 0 else texts.tomorrow if gap == 1 else days[opens.weekday()]
    return texts.when.format(day=day, time=opens.strftime("%H:%M"))
