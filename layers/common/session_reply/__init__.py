"""session-reply: answers a WhatsApp lead once, inside the open 24 h session, through 1MSG."""
