"""WhatsApp addresses: what we refuse (only what cannot be one) and the canonical phone
number a person or a CRM expects.

The chat id 1MSG gave us is the address and stays the lead's identity: a number that a
national numbering plan calls invalid may still be a WhatsApp id that 1MSG reaches (Brazil's
older 8-digit mobiles without the 9th digit, Mexico's `521` mobiles, Argentina's `549`).
Those forms are normalised for display, matching and the CRM, never for refusal; only
what cannot be an address is refused (no digits, an impossible length, no country code).
"""

from __future__ import annotations

from functools import lru_cache

# E.164: at most 15 digits with the country code; the shortest numbers in use have 7.
MIN_DIGITS, MAX_DIGITS = 7, 15
PHONE_SUFFIX = "@c.us"  # a user by phone number
LINKED_SUFFIX = "@lid"  # a user by WhatsApp's linked id (no number shown)


@lru_cache(maxsize=1024)
def phone_problem(chat_id: str) -> str | None:
    """None when the chat id can be a WhatsApp address; otherwise why it cannot."""
    user, _, server = chat_id.partition("@")
    if not user.isdigit():
        return "the chat id is not a phone number"
    if server == LINKED_SUFFIX[1:]:
        return None  # a linked id is not a phone number, and needs not be one
    if not MIN_DIGITS <= len(user) <= MAX_DIGITS:
        return "the number has an impossible length"
    import phonenumbers  # ~80 ms: loaded by the sender's INIT, never by the webhook

    try:
        phonenumbers.parse(f"+{user}", None)
    except phonenumbers.NumberParseException:
        return "the number has no valid country code"
    # Nothing more: a number its national plan calls invalid may still be a WhatsApp id.
    return None


@lru_cache(maxsize=1024)
def canonical_phone(digits: str) -> str:
    """The number as its country's plan writes it today (digits, country code first):
    Brazil's mobiles get their 9th digit, Mexico's `521` mobiles lose the `1`; anything
    else (Argentina's `549` mobiles included) is kept as WhatsApp gave it."""
    if not digits.isdigit():
        return digits
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        return f"{digits[:4]}9{digits[4:]}"  # 55 + area + 8-digit mobile
    if digits.startswith("521") and len(digits) == 13:
        return f"52{digits[3:]}"
    return digits


def display_phone(chat_id: str) -> str | None:
    """The lead's phone for people and the CRM: canonical digits, or None when the chat id
    is not a number (a linked id)."""
    user, _, server = chat_id.partition("@")
    if server not in ("", PHONE_SUFFIX[1:]) or not user.isdigit():
        return None
    return canonical_phone(user)


def chat_variants(chat_id: str) -> list[str]:
    """The chat id and the other WhatsApp forms of the same number, for lookups: a CRM may
    hold the canonical number while WhatsApp uses the older form, or the reverse."""
    user, at, server = chat_id.partition("@")
    if at and server != PHONE_SUFFIX[1:]:
        return [chat_id]
    forms = [user, canonical_phone(user)]
    if user.startswith("55") and len(user) == 13 and user[4] == "9":
        forms.append(f"{user[:4]}{user[5:]}")  # without the 9th digit
    if user.startswith("52") and len(user) == 12:
        forms.append(f"521{user[2:]}")
    seen: list[str] = []
    for form in forms:
        candidate = f"{form}{PHONE_SUFFIX}"
        if candidate not in seen:
            seen.append(candidate)
    return seen
