"""Message delivery statuses and lead statuses, and the order they may move in."""

from __future__ import annotations

# A message status only moves forward along this rank. `failed` outranks everything:
# once WhatsApp says a message failed, a late `sent` must not hide that.
MESSAGE_STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "sent": 1,
    "delivered": 2,
    "read": 3,
    "failed": 4,
}
# `unknown` is set by the poller when nothing final came by the deadline. It keeps the
# rank it had, so any real status that turns up later still applies.
UNKNOWN = "unknown"

# Lead statuses within one request (session). Forward-only; a new session starts at `new`.
LEAD_NEW = "new"
LEAD_AUTO_REPLIED = "auto_replied"
LEAD_IN_PROGRESS = "in_progress"
LEAD_WINDOW_CLOSED = "window_closed"
LEAD_UNREACHABLE = "unreachable"
LEAD_STATUS_RANK: dict[str, int] = {
    LEAD_NEW: 0,
    LEAD_AUTO_REPLIED: 1,
    LEAD_IN_PROGRESS: 2,
    LEAD_WINDOW_CLOSED: 3,
    LEAD_UNREACHABLE: 4,
}

# Who wrote a message.
AUTHOR_CLIENT = "client"
AUTHOR_AUTO = "auto"  # our auto-reply
AUTHOR_MANAGER = "manager"  # a person: through our API or typed in the 1MSG inbox
AUTHOR_TEMPLATE = "template"
AUTHOR_WELCOME = "welcome"  # the business's welcome, answering a client opening the chat
AUTHOR_EXTERNAL = "external_api"  # sent through the 1MSG API by some other system
