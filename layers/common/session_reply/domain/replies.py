"""The auto-reply's text per language: data in `replies.json`, the default language's text
replaceable by the `ReplyTemplate` parameter. Every text is checked when loaded: the three
placeholders, {{2}} inside « », and room for the values within 1MSG's 4096 characters."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from session_reply.domain.reply import MAX_BODY_CHARS

_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
# The longest values a reply can hold: a name (60), a subject (40), a manager's name (120).
_LONGEST_VALUES = 60 + 40 + 120


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    reply: str
    client: str  # {{1}} when the profile has no usable name
    team: str  # {{3}} when no manager is free


def template_problem(text: str) -> str | None:
    """Why a reply text cannot be used, or None."""
    found = _PLACEHOLDER.findall(text)
    if sorted(set(found)) != ["1", "2", "3"] or len(found) != 3:
        return "needs {{1}}, {{2}} and {{3}}, each once"
    if "«{{2}}»" not in text:
        return "needs «{{2}}» (the subject inside « »)"
    if len(text) - 18 + _LONGEST_VALUES > MAX_BODY_CHARS:
        return f"too long: over {MAX_BODY_CHARS} characters when rendered"
    return None


def load(raw: Mapping[str, Any]) -> dict[str, ReplyTexts]:
    texts: dict[str, ReplyTexts] = {}
    for code, entry in dict(raw["languages"]).items():
        values = {k: entry.get(k) for k in ("reply", "client", "team")}
        if not all(isinstance(v, str) and v.strip() for v in values.values()):
            raise ValueError(f"replies.json: {code} needs reply, client and team texts")
        problem = template_problem(str(values["reply"]))
        if problem:
            raise ValueError(f"replies.json: {code}: the reply {problem}")
        texts[str(code)] = ReplyTexts(**{k: str(v) for k, v in values.items()})
    if "en" not in texts:
        raise ValueError("replies.json: English (en) is the last resort and must be there")
    return texts


SHIPPED = load(json.loads(Path(__file__).with_name("replies.json").read_text(encoding="utf-8")))


def texts_for(language: str, default: ReplyTexts, default_language: str) -> ReplyTexts:
    """The language's texts; the default language's are the settings' (`ReplyTemplate` and
    the fallback names), and so are those of a language with no texts of its own."""
    shipped = SHIPPED.get(language)
    if shipped is None or language == default_language:
        return default
    return shipped
