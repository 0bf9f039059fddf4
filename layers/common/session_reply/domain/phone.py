"""Is a chat's number a phone number WhatsApp can reach? (the `phonenumbers` library)

The provider's chat id stays the lead's identity; this only keeps us from calling 1MSG
for what cannot be a number, with a reason a person can act on.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1024)
def phone_problem(chat_id: str) -> str | None:
    """None for a valid number; otherwise why the chat id cannot be a phone number."""
    import phonenumbers  # ~80 ms: loaded by the sender's INIT, never by the webhook

    digits = chat_id.split("@", 1)[0]
    if not digits.isdigit():
        return "the chat id is not a phone number"
    try:
        number = phonenumbers.parse(f"+{digits}", None)
    except phonenumbers.NumberParseException:
        return "the number has no valid country code"
    if not phonenumbers.is_possible_number(number):
        return "the number has the wrong length for its country"
    if not phonenumbers.is_valid_number(number):
        return "the number is not a valid number for its country"
    return None
