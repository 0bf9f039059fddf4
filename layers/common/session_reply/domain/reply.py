"""The auto-reply text: a template with {{1}} client name, {{2}} the subject, {{3}} manager
and, out of hours, {{4}} when the team is back."""

from __future__ import annotations

import re

MAX_BODY_CHARS = 4096


_PLACEHOLDER = re.compile(r"\{\{([1234])\}\}")


def render_reply(template: str, client_name: str, topic: str, manager: str, back: str = "") -> str:
    """One pass over the template: a client's words that look like a placeholder stay as
    they are."""
    values = {"1": client_name, "2": topic, "3": manager, "4": back}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)[:MAX_BODY_CHARS]


def first_name(sender_name: str, fallback: str) -> str:
    """WhatsApp profile names are often full names, nicknames or emoji; greet politely."""
    name = " ".join(sender_name.split())
    if not name or not any(ch.isalpha() for ch in name):
        return fallback
    return name[:60]
