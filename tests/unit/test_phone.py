"""WhatsApp addresses (`session_reply.domain.phone`): refuse only what cannot be one;
national forms normalised for people and lookups, never for refusal."""

from __future__ import annotations

import pytest
from session_reply.domain.phone import (
    canonical_phone,
    chat_variants,
    display_phone,
    phone_problem,
)


@pytest.mark.parametrize(
    "chat_id",
    [
        "551187654321@c.us",  # Brazil, an older 8-digit mobile id (no 9th digit)
        "5511987654321@c.us",  # Brazil, today's 9-digit mobile
        "5215512345678@c.us",  # Mexico, `521` + 10 digits
        "5491123456789@c.us",  # Argentina, `549` mobile
        "77011234567@c.us",
        "6831234@c.us",  # Niue: 7 digits in all
        "123456789012345@lid",  # WhatsApp's linked id of a user
    ],
)
def test_phone_problem_is_none_when_the_chat_id_can_be_a_whatsapp_address(chat_id: str) -> None:
    assert phone_problem(chat_id) is None


@pytest.mark.parametrize(
    ("chat_id", "reason"),
    [
        ("maria@c.us", "the chat id is not a phone number"),
        ("@c.us", "the chat id is not a phone number"),
        ("12345@c.us", "the number has an impossible length"),
        ("1234567890123456@c.us", "the number has an impossible length"),
        ("99912345678@c.us", "the number has no valid country code"),
    ],
)
def test_phone_problem_gives_a_reason_when_the_chat_id_cannot_be_an_address(
    chat_id: str, reason: str
) -> None:
    assert phone_problem(chat_id) == reason


@pytest.mark.parametrize(
    ("digits", "canonical"),
    [
        ("551187654321", "5511987654321"),  # BR: the 9th digit added to a mobile
        ("551134567890", "551134567890"),  # BR: a landline (starts 2-5) is kept
        ("5511987654321", "5511987654321"),
        ("5215512345678", "525512345678"),  # MX: the mobile `1` dropped
        ("525512345678", "525512345678"),
        ("5491123456789", "5491123456789"),  # AR: `549` is the mobile form, kept
        ("77011234567", "77011234567"),
    ],
)
def test_canonical_phone_is_todays_national_form_when_whatsapp_uses_an_older_one(
    digits: str, canonical: str
) -> None:
    assert canonical_phone(digits) == canonical


def test_display_phone_is_none_when_the_chat_id_is_a_linked_id() -> None:
    assert display_phone("123456789012345@lid") is None
    assert display_phone("551187654321@c.us") == "5511987654321"


@pytest.mark.parametrize(
    ("chat_id", "variants"),
    [
        ("5511987654321@c.us", ["5511987654321@c.us", "551187654321@c.us"]),
        ("551187654321@c.us", ["551187654321@c.us", "5511987654321@c.us"]),
        ("525512345678@c.us", ["525512345678@c.us", "5215512345678@c.us"]),
        ("5215512345678@c.us", ["5215512345678@c.us", "525512345678@c.us"]),
        ("77011234567@c.us", ["77011234567@c.us"]),
        ("123456789012345@lid", ["123456789012345@lid"]),
    ],
)
def test_chat_variants_lists_the_other_whatsapp_forms_when_a_number_has_them(
    chat_id: str, variants: list[str]
) -> None:
    assert chat_variants(chat_id) == variants
