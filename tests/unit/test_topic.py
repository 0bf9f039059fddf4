"""What a request is about (`session_reply.domain.topic`): deterministic, explainable rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from session_reply.domain import topic as topic_module
from session_reply.domain.topic import (
    GREETINGS,
    MEDIA_PHRASES,
    NEUTRAL_TOPIC,
    RULES,
    Topic,
    clean_excerpt,
    extract_topic,
    is_greeting_only,
    matched_stems,
    normalise,
)

URL = re.compile(r"(https?://|www\.)", re.IGNORECASE)
LONG_DIGIT_RUN = re.compile(r"\d{7,}")

# -- rules per language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        # English
        ("Do you deliver to Almaty?", "delivery"),
        ("Where is my order? It's been a week", "order_status"),
        ("I'd like a refund", "returns"),
        ("Can I get an invoice for the payment?", "payment"),
        ("How much is the blue sofa?", "prices"),
        ("Can I book an appointment?", "booking"),
        ("Is the blue one in stock?", "availability"),
        ("The app shows an error", "support"),
        ("I'd like to place an order", "new_order"),
        ("What time do you close today?", "hours"),
        # Russian
        ("Когда будет доставка?", "delivery"),
        ("Где мой заказ?", "order_status"),
        ("Хочу оформить возврат", "returns"),
        ("Можно оплатить картой?", "payment"),
        ("Сколько стоит ремонт?", "prices"),
        ("Хочу записаться на завтра", "booking"),
        ("Есть ли в наличии синий?", "availability"),
        ("Приложение не работает", "support"),
        ("Хочу заказать диван", "new_order"),
        ("До скольки вы работаете?", "hours"),
        # Spanish
        ("¿Hacen envíos a Sevilla?", "delivery"),
        ("¿Dónde está mi pedido?", "order_status"),
        ("Quiero una devolución", "returns"),
        ("¿Aceptan tarjeta?", "payment"),
        ("Hola, ¿cuánto cuesta?", "prices"),
        ("Quiero agendar una cita", "booking"),
        ("¿Tienen disponible la talla M?", "availability"),
        ("La lavadora no funciona", "support"),
        ("Quiero hacer un pedido", "new_order"),
        ("¿Abren los domingos?", "hours"),
        # Portuguese
        ("Olá! Vocês entregam em Lisboa?", "delivery"),
        ("Meu pedido não chegou", "order_status"),
        ("Quero fazer uma troca", "returns"),
        ("Posso pagar com pix?", "payment"),
        ("Qual o preço?", "prices"),
        ("Preciso marcar um horário", "booking"),
        ("Tem no estoque?", "availability"),
        ("O produto veio com defeito", "support"),
        ("Quero comprar 3 cadeiras", "new_order"),
        ("Qual o horário de funcionamento?", "hours"),
    ],
)
def test_extract_topic_picks_the_rule_when_text_has_its_keywords(text: str, rule_id: str) -> None:
    topic = extract_topic(text)

    assert topic.rule_id == rule_id
    assert topic.label == next(rule.topic for rule in RULES if rule.rule_id == rule_id)


def test_extract_topic_matches_when_text_has_accents_and_capitals() -> None:
    # Given a stem written without accents ("preco") and a text with them
    assert extract_topic("QUAL O PREÇO?").rule_id == "prices"


def test_extract_topic_matches_russian_when_text_has_short_i_and_yo() -> None:
    # "мой" is normalised to "мои", on both the stem and the text side
    assert normalise("Ёлка мой") == "елка мои"
    assert extract_topic("где мой заказ").confidence == 1.0


def test_extract_topic_matches_stem_only_at_word_start_when_stem_is_inside_a_word() -> None:
    # "track" is a stem, "sidetrack" does not start with it; "cost" does not start "accost"
    assert extract_topic("Do not sidetrack or accost the team").rule_id == "excerpt"


def test_extract_topic_prefers_more_hits_when_several_rules_match() -> None:
    # Given payment has 3 stems ("pay"+"payment", "card", "invoice") and delivery 1
    topic = extract_topic("Payment by card, invoice please, and delivery")

    assert topic.rule_id == "payment"


def test_extract_topic_prefers_earlier_rule_when_hits_are_tied() -> None:
    # Given one hit each for delivery ("deliver") and payment ("pay"); delivery comes first
    topic = extract_topic("I want to pay for delivery")

    # Then the table's order decides, and the confidence says it was a tie
    assert topic == Topic("delivery", "delivery", 0.6)


@pytest.mark.parametrize(
    ("text", "confidence"),
    [("I'd like a refund", 0.8), ("Можно оплатить картой?", 1.0), ("Где мой заказ?", 1.0)],
)
def test_extract_topic_confidence_grows_with_hits_when_rule_matches(
    text: str, confidence: float
) -> None:
    assert extract_topic(text).confidence == confidence


def test_extract_topic_is_deterministic_when_called_twice() -> None:
    text = "Хочу узнать про доставку и оплату картой"

    assert extract_topic(text) == extract_topic(text)


def test_every_rule_has_a_label_and_stems_when_module_loads() -> None:
    assert all(rule.topic and rule.rule_id and rule.stems for rule in RULES)
    assert len({rule.rule_id for rule in RULES}) == len(RULES)


# -- greetings -----------------------------------------------------------------------------


@pytest.mark.parametrize("greeting", sorted(GREETINGS))
def test_extract_topic_is_neutral_when_text_is_only_a_greeting(greeting: str) -> None:
    # Given each greeting as a client writes it: capitalised, with punctuation
    text = f"{greeting.capitalize()}!!"

    topic = extract_topic(text)

    assert topic == Topic(NEUTRAL_TOPIC, "neutral", 0.0)


@pytest.mark.parametrize("text", ["Hi there 👋", "Good morning!!! 😊", "Здравствуйте.", "Olá"])
def test_is_greeting_only_when_text_is_a_greeting_with_emoji_or_accents(text: str) -> None:
    assert is_greeting_only(text) is True


@pytest.mark.parametrize("text", ["Hi, I need help", "hello world", "Hi Anna"])
def test_is_not_greeting_only_when_greeting_is_followed_by_words(text: str) -> None:
    assert is_greeting_only(text) is False


@pytest.mark.parametrize("text", ["", "   ", "!!!", "👋"])
def test_is_greeting_only_when_text_has_no_words(text: str) -> None:
    assert is_greeting_only(text) is True


def test_extract_topic_drops_the_greeting_when_excerpt_follows_it() -> None:
    topic = extract_topic("Hi there, can someone call me")

    assert topic == Topic("can someone call me", "excerpt", 0.3)


@pytest.mark.parametrize(
    "text",
    ["Hi, good morning", "Hello hello", "Hola, buenos días", "Привет, добрый день!", "Oi, bom dia"],
)
def test_extract_topic_is_neutral_when_text_is_two_greetings(text: str) -> None:
    assert extract_topic(text).rule_id == "neutral"


# -- excerpt -------------------------------------------------------------------------------


def test_extract_topic_uses_excerpt_when_no_rule_matches() -> None:
    assert extract_topic("Who makes this sofa?") == Topic("Who makes this sofa", "excerpt", 0.3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi https://shop.test/p/1?ref=wa is this good", "is this good"),
        ("look at www.shop.test/sofa first", "look at first"),
        ("Write to anna.p@example.com please", "Write to please"),
        ("Call +7 (900) 123-45-67 tomorrow about the sofa", "Call tomorrow about the sofa"),
        ("Ring me on 79001234567 tonight", "Ring me on tonight"),
        ("Ring me on 555-1234 tonight", "Ring me on tonight"),
    ],
)
def test_clean_excerpt_removes_urls_emails_and_phones_when_text_has_them(
    text: str, expected: str
) -> None:
    assert clean_excerpt(text) == expected


@pytest.mark.parametrize("text", ["https://shop.test/p/1", "+7 900 123 45 67", "a@b.co 12345678"])
def test_extract_topic_is_neutral_when_text_is_only_contact_data(text: str) -> None:
    assert extract_topic(text).rule_id == "neutral"


def test_clean_excerpt_cuts_at_a_word_boundary_when_text_is_long() -> None:
    # Given a request longer than 40 characters
    text = "I would like to ask about the opening hours of your shop on Sunday"

    excerpt = clean_excerpt(text)

    # Then whole words only, at most 40 characters before the ellipsis
    assert excerpt == "I would like to ask about the opening…"
    assert len(excerpt) <= 41
    assert text.startswith(excerpt.removesuffix("…"))


def test_clean_excerpt_keeps_a_word_ending_exactly_at_the_limit_when_cutting() -> None:
    # "x" * 19 + " " + "y" * 20 is exactly 40 characters, then more words follow
    text = "x" * 19 + " " + "y" * 20 + " zzz"

    assert clean_excerpt(text) == "x" * 19 + " " + "y" * 20 + "…"


def test_clean_excerpt_drops_trailing_punctuation_when_cutting() -> None:
    text = "Please tell me, honestly, whether it fits, because I am not sure"

    excerpt = clean_excerpt(text, max_chars=30)

    assert excerpt == "Please tell me, honestly…"


def test_clean_excerpt_keeps_text_whole_when_it_fits() -> None:
    assert clean_excerpt("  Do you open on Sunday?!  ") == "Do you open on Sunday"


@pytest.mark.parametrize("text", ["", "!!!", "12 34", "😀😀", "Hello!"])
def test_clean_excerpt_is_empty_when_no_words_remain(text: str) -> None:
    assert clean_excerpt(text) == ""


def test_clean_excerpt_stays_within_limit_when_first_word_is_longer_than_limit() -> None:
    excerpt = clean_excerpt("Supercalifragilisticexpialidocious" * 3)

    assert len(excerpt.removesuffix("…")) <= 40


def test_extract_topic_label_has_no_phone_when_text_has_a_seven_digit_number() -> None:
    label = extract_topic("Call me at 5551234 about the sofa").label

    assert LONG_DIGIT_RUN.search(label) is None


def test_extract_topic_label_has_no_url_when_url_is_the_only_long_part() -> None:
    label = extract_topic("See https://shop.test/" + "a" * 100 + " and tell me").label

    assert URL.search(label) is None
    assert label == "See and tell me"


# -- media ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "phrase"), sorted(MEDIA_PHRASES.items()))
def test_extract_topic_names_the_media_when_media_has_no_caption(kind: str, phrase: str) -> None:
    assert extract_topic("", kind) == Topic(phrase, "media", 0.2)


def test_extract_topic_names_the_media_when_caption_is_only_a_greeting() -> None:
    assert extract_topic("Hi!", "image") == Topic("your photo", "media", 0.2)


def test_extract_topic_uses_caption_when_media_has_a_caption() -> None:
    assert extract_topic("Look at this nice sofa", "image").rule_id == "excerpt"


def test_extract_topic_uses_rule_when_media_caption_has_keywords() -> None:
    assert extract_topic("Is this one in stock?", "image").rule_id == "availability"


@pytest.mark.parametrize("kind", ["chat", "button", "reaction", "unknown"])
def test_extract_topic_is_neutral_when_text_is_empty_and_type_is_not_media(kind: str) -> None:
    assert extract_topic("", kind) == Topic(NEUTRAL_TOPIC, "neutral", 0.0)


# -- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        ("it doesn't work", "support"),  # apostrophe dropped: "doesnt work"
        ("Deliverry to Almaty???", "delivery"),  # doubled letters squeezed
        ("r u open now?", "hours"),  # aliases: "are you open"
        ("скока стоит?", "prices"),  # "скока" = "сколько"
        ("vcs enviam pro Porto?", "delivery"),  # "vcs" = "voces"
        ("pedido n chegou", "order_status"),  # "n" = "nao"
    ],
)
def test_extract_topic_matches_when_text_has_slang_apostrophes_or_repeats(
    text: str, rule_id: str
) -> None:
    assert extract_topic(text).rule_id == rule_id


@pytest.mark.parametrize(
    "text", ["hiii", "Holaa!!", "oii tudo bem?", "Привет 👋", "Hi, how are you?"]
)
def test_extract_topic_is_neutral_when_greeting_has_repeats_or_small_talk(text: str) -> None:
    assert extract_topic(text) == Topic(NEUTRAL_TOPIC, "neutral", 0.0)


# -- typos ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule_id", "stem"),
    [
        ("досавка в астану?", "delivery", "достав~"),  # a letter missing
        ("tranferencia bancaria", "payment", "transferencia~"),  # a letter missing
        ("pagamneto pendente", "payment", "pagamento~"),  # two letters swapped
        ("devlivery to Almaty", "delivery", "deliver~"),  # a letter extra
    ],
)
def test_extract_topic_matches_when_a_long_stem_has_one_typo(
    text: str, rule_id: str, stem: str
) -> None:
    # When the word is one typo away from a stem of 6+ letters, inside the stem
    topic = extract_topic(text)

    # Then the rule matches and the stem is shown with "~"
    assert topic.rule_id == rule_id
    assert (rule_id, stem) in matched_stems(text)


def test_extract_topic_confidence_is_lower_when_the_only_hit_is_a_typo() -> None:
    assert extract_topic("досавка?") == Topic("delivery", "delivery", 0.7)


@pytest.mark.parametrize(
    "text",
    [
        "quite nice",  # "quote" is 5 letters: no typo matching
        "my house",  # "hours"
        "preciso de ajuda",  # "precio": the difference is at the stem's end
        "этого достаточно",  # "достав"
        "картина маслом",  # "картой"
        "quantas pessoas?",  # "quanto"
        "compre ayer",  # "compro$" is whole: never a typo
        "quando?",  # listed in not_typos
        "mis cuentas",  # "cuenta" in not_typos covers "cuentas"
        "приветик",  # starts with a greeting, not a typo of "привез"
    ],
)
def test_extract_topic_does_not_match_when_a_real_word_is_one_letter_from_a_stem(
    text: str,
) -> None:
    assert extract_topic(text).rule_id == "excerpt"


# -- precedence ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        # Prices is an aspect: it yields to the subject it is asked about
        ("How much is delivery to Almaty?", "delivery"),
        ("What is the price?", "prices"),
        ("Сколько стоит доставка?", "delivery"),
        ("¿Cuánto cuesta el envío?", "delivery"),
        ("Quanto custa o frete?", "delivery"),
        ("How much is the blue sofa?", "prices"),
    ],
)
def test_extract_topic_prefers_the_subject_when_price_words_come_with_it(
    text: str, rule_id: str
) -> None:
    assert extract_topic(text).rule_id == rule_id


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        ("Quiero hacer un pedido", "new_order"),  # "hacer un pedido" consumes "pedido"
        ("¿Dónde está mi pedido?", "order_status"),
        ("Хочу заказать диван", "new_order"),  # "заказат" is longer than "заказ"
        ("Заказ 5521 где?", "order_status"),  # "заказ #"
        ("Quero encomendar um bolo", "new_order"),  # "encomendar" beats "encomenda"
        ("Cadê minha encomenda?", "order_status"),
        ("I want to order a lamp", "new_order"),
        ("I ordered a lamp on Monday", "order_status"),  # "i order$" is whole
        ("Necesito cambiar mi cita", "booking"),  # phrase beats "cambiar" (returns)
        ("¿Puedo cambiar la talla?", "returns"),
    ],
)
def test_extract_topic_prefers_the_longest_stem_when_stems_overlap(text: str, rule_id: str) -> None:
    assert extract_topic(text).rule_id == rule_id


def test_extract_topic_prefers_a_stem_over_a_hint_when_both_match() -> None:
    # "do you have" is a hint for availability; "discount" a stem of prices
    assert extract_topic("Do you have any discounts?").rule_id == "prices"


def test_extract_topic_uses_a_hint_with_low_confidence_when_nothing_else_matches() -> None:
    assert extract_topic("Do you have the grey sofa?") == Topic(
        "product availability", "availability", 0.5
    )


def test_extract_topic_prefers_a_complaint_when_it_ties_with_order_status() -> None:
    # One hit each: "my order" (order status) and "broken" (support); support comes first
    assert extract_topic("My order arrived broken").rule_id == "support"


def test_extract_topic_prefers_order_status_when_a_delivery_question_names_my_parcel() -> None:
    # "when will my" (order status) ties with "deliver"; order status comes first
    assert extract_topic("When will my parcel be delivered?").rule_id == "order_status"


@pytest.mark.parametrize(
    "text",
    [
        "Quero comprar 3 cadeiras",  # "cade$" (where is) is a whole word
        "How much is the bookcase?",  # "book$"
        "Is the tracksuit in stock?",  # "track$"
        "Is the closet 200 wide?",  # "close$", "closes$"
    ],
)
def test_extract_topic_ignores_a_whole_word_stem_when_it_only_starts_a_longer_word(
    text: str,
) -> None:
    rule_ids = {rule_id for rule_id, _ in matched_stems(text)}

    assert not rule_ids & {"order_status", "booking", "hours"}


def test_matched_stems_lists_each_stem_and_its_rule_when_text_matches() -> None:
    assert matched_stems("Сколько стоит доставка?") == [
        ("prices", "сколько"),
        ("prices", "стоит"),
        ("delivery", "достав"),
    ]


# -- the rule table ------------------------------------------------------------------------

TOPICS_JSON = Path(topic_module.__file__).with_name("topics.json")


def test_rule_table_has_stems_in_four_languages_when_read_from_its_file() -> None:
    table = json.loads(TOPICS_JSON.read_text(encoding="utf-8"))

    for entry in table["topics"]:
        assert set(entry["stems"]) == {"en", "ru", "es", "pt"}, entry["rule_id"]
        assert all(entry["stems"][lang] for lang in entry["stems"]), entry["rule_id"]
    assert [rule.rule_id for rule in RULES] == [e["rule_id"] for e in table["topics"]]


def test_rule_table_raises_when_a_stem_is_in_two_rules() -> None:
    raw = {
        "greetings": ["hi"],
        "topics": [
            {"rule_id": "a", "topic": "a", "stems": {"en": ["parcel"]}},
            {"rule_id": "b", "topic": "b", "stems": {"en": ["parcel"]}},
        ],
    }
    rules, *_ = topic_module._load(raw)

    with pytest.raises(ValueError, match="parcel"):
        topic_module._index(rules)
