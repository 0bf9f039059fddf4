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


def opens_new_session(
    last_client_message_at: int | None, message_at: int, gap_seconds: int
) -> bool:
    """A client message opens a new request when none came within the session gap."""
    return last_client_message_at is None or message_at - last_client_message_at > gap_seconds
