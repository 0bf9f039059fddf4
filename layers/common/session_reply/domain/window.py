"""The WhatsApp 24 h customer service window.

It opens or extends only with a client's message (`fromMe` false), from the provider's own
timestamp of that message. Our messages, templates and echoes never touch it.
"""

from __future__ import annotations


def window_expires_at(last_client_message_at: int, window_seconds: int) -> int:
    return last_client_message_at + window_seconds


def window_open(expires_at: int | None, now: float, margin_seconds: int = 0) -> bool:
    """True when a free-text message sent now still lands inside the window."""
    return expires_at is not None and now + margin_seconds < expires_at
