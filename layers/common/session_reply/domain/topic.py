"""What a request is about, by explainable, deterministic rules.

Text is normalised (case, accents, punctuation) and matched against keyword stems per
topic in English, Russian, Spanish and Portuguese. The topic with the most matching stems
wins (ties go to the earlier rule). With no match, a short clean excerpt of the request
stands in; a greeting alone never becomes a topic.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

NEUTRAL_TOPIC = "your request"
MEDIA_PHRASES = {
    "image": "your photo",
    "sticker": "your photo",
    "video": "your video",
    "document": "your document",
    "audio": "your voice message",
    "voice": "your voice message",
    "ptt": "your voice message",
    "location": "your location",
}


@dataclass(frozen=True, slots=True)
class TopicRule:
    topic: str
    rule_id: str
    stems: tuple[str, ...]  # matched at the start of a word; several words = a phrase


@dataclass(frozen=True, slots=True)
class Topic:
    label: str
    rule_id: str  # which rule matched, or "excerpt" / "media" / "neutral"
    confidence: float


RULES: tuple[TopicRule, ...] = (
    TopicRule(
        "delivery",
        "delivery",
        (
            "deliver",
            "shipping",
            "ship to",
            "courier",
            "доставк",
            "достав",
            "привез",
            "курьер",
            "envio",
            "enviar",
            "entrega",
            "frete",
            "entreg",
        ),
    ),
    TopicRule(
        "order status",
        "order_status",
        (
            "my order",
            "order status",
            "track",
            "where is my",
            "мой заказ",
            "заказ",
            "трек",
            "где мой",
            "pedido",
            "rastre",
            "seguimiento",
            "encomenda",
        ),
    ),
    TopicRule(
        "returns and refunds",
        "returns",
        (
            "return",
            "refund",
            "exchange",
            "возврат",
            "вернуть",
            "обмен",
            "devolu",
            "reembols",
            "troca",
            "estorno",
        ),
    ),
    TopicRule(
        "payment",
        "payment",
        (
            "pay",
            "payment",
            "invoice",
            "card",
            "оплат",
            "счет",
            "карт",
            "pago",
            "pagar",
            "factura",
            "tarjeta",
            "pagamento",
            "boleto",
            "pix",
            "cartao",
        ),
    ),
    TopicRule(
        "prices",
        "prices",
        (
            "price",
            "cost",
            "how much",
            "quote",
            "цен",
            "стоим",
            "сколько стоит",
            "прайс",
            "precio",
            "cuanto cuesta",
            "cuesta",
            "cotiza",
            "preco",
            "quanto custa",
            "orcamento",
            "valor",
        ),
    ),
    TopicRule(
        "booking",
        "booking",
        (
            "book",
            "appointment",
            "reserv",
            "schedule",
            "запис",
            "брон",
            "cita",
            "agendar",
            "agendamento",
            "marcar",
        ),
    ),
    TopicRule(
        "product availability",
        "availability",
        (
            "in stock",
            "availab",
            "наличи",
            "есть ли",
            "disponib",
            "stock",
            "estoque",
            "tem o",
        ),
    ),
    TopicRule(
        "technical support",
        "support",
        (
            "not working",
            "doesnt work",
            "broken",
            "error",
            "problem",
            "не работает",
            "слома",
            "ошибк",
            "проблем",
            "no funciona",
            "averia",
            "nao funciona",
            "defeito",
            "problema",
        ),
    ),
)

_GREETING_WORDS = (
    "hi",
    "hello",
    "hey",
    "good morning",
    "good afternoon",
    "good evening",
    "hi there",
    "hello there",
    "greetings",
    "привет",
    "здравствуйте",
    "здравствуй",
    "добрый день",
    "добрый вечер",
    "доброе утро",
    "приветствую",
    "hola",
    "buenos dias",
    "buenas tardes",
    "buenas noches",
    "buenas",
    "ola",
    "oi",
    "bom dia",
    "boa tarde",
    "boa noite",
    "alo",
)
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")  # 7+ characters: local numbers too
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case, no accents (й and ё keep their base letter), no punctuation."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", _NON_WORD.sub(" ", stripped)).strip()


GREETINGS = frozenset(normalise(greeting) for greeting in _GREETING_WORDS)
# Stems go through the same normalisation as the text, so "й" or "ç" match either way.


def _distinct_stems(stems: tuple[str, ...]) -> tuple[str, ...]:
    """Normalised stems, without those another stem already covers ("pay" covers
    "payment"), so one word never counts twice."""
    normalised = {normalise(stem) for stem in stems}
    return tuple(
        sorted(s for s in normalised if not any(o != s and s.startswith(o) for o in normalised))
    )


_NORMALISED_RULES = tuple((rule, _distinct_stems(rule.stems)) for rule in RULES)


def _strip_greeting(words: list[str]) -> list[str]:
    """Drop leading greetings ("hi, good morning", "привет, добрый день") from the words."""
    stripped = True
    while stripped and words:
        stripped = False
        for size in (2, 1):
            if len(words) >= size and " ".join(normalise(w) for w in words[:size]) in GREETINGS:
                words, stripped = words[size:], True
                break
    return words


def is_greeting_only(text: str) -> bool:
    words = normalise(text).split()
    return not words or " ".join(words) in GREETINGS or not _strip_greeting(words)


def clean_excerpt(text: str, max_chars: int = 40) -> str:
    """The request's own words: no URLs, e-mails or phone numbers, cut at a word boundary."""
    text = _PHONE.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text)))
    words = _strip_greeting(_SPACES.sub(" ", text).strip().split(" "))
    excerpt = " ".join(words).strip(" ,.!?;:-—–")
    if not excerpt or not any(ch.isalpha() for ch in excerpt):
        return ""
    if len(excerpt) <= max_chars:
        return excerpt
    head = excerpt[: max_chars + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else head[:max_chars]
    return f"{cut.rstrip(' ,.!?;:-—–') or excerpt[:max_chars]}…"


def extract_topic(text: str, message_type: str = "chat", excerpt_chars: int = 40) -> Topic:
    padded = f" {normalise(text)} "
    best: tuple[int, int, TopicRule] | None = None
    for index, (rule, stems) in enumerate(_NORMALISED_RULES):
        hits = sum(1 for stem in stems if f" {stem}" in padded)
        if hits and (best is None or hits > best[0]):
            best = (hits, index, rule)
    if best is not None:
        hits, _, rule = best
        return Topic(rule.topic, rule.rule_id, round(min(1.0, 0.6 + 0.2 * hits), 2))
    if text.strip() and not is_greeting_only(text):
        excerpt = clean_excerpt(text, excerpt_chars)
        if excerpt:
            return Topic(excerpt, "excerpt", 0.3)
    if message_type in MEDIA_PHRASES:
        return Topic(MEDIA_PHRASES[message_type], "media", 0.2)
    return Topic(NEUTRAL_TOPIC, "neutral", 0.0)
