"""What a request is about, by explainable, deterministic rules.

The rules are data: `topics.json` beside this module, read once at import, lists per topic its
stems in English, Russian, Spanish and Portuguese (an operator edits it; the file's `about`
says how). Text and stems are compared the same way: lower case, no accents, punctuation or
apostrophes, doubled letters squeezed ("hiii" = "hi", "deliverry" = "delivery"), short forms
spelled out ("u" = "you", "скока" = "сколько", "vc" = "voce").

How a topic is chosen (the precedence, in order):

1. At each word the longest stem wins, and a matched phrase consumes its words: so
   "hacer un pedido" is a new order although "pedido" alone is an order's status, and
   "заказать" (new order) beats "заказ" (order status). Phrases are how a rule says "not here".
2. A word no stem starts may still match a single-word stem of 6+ letters with one typo (a
   letter wrong, missing, extra or two swapped) that has two letters of the stem before it and
   two after it: "досавка", "tranferencia", "pagamneto". Such a hit counts half. Stems are
   prefixes, so a typo near a stem's end is just a shorter prefix of another word ("preciso"
   is not "precio", "достаточно" not "достав"); shorter stems would catch real words
   (quote/quite, hours/house, stock/stuck). Words starting with a greeting or a `not_typos`
   entry ("quando" is not "quanto") and stems marked whole ("compro$") never match by a typo.
3. Topics whose stems matched beat "aspect" topics (prices): "how much is delivery" is about
   delivery, "what is the price" about prices. Weak hints ("do you have", "tienen") count only
   when no stem of any topic matched.
4. Within the same tier, more distinct stems win; on a tie the earlier topic in the file wins
   (returns, support, order status, delivery, payment, booking, availability, new order,
   hours, prices): a complaint outranks a question about the same order.

The confidence is 0.6 + 0.2 per hit (max 1.0), 0.5 for a hint alone, and 0.2 lower when the
choice was a tie. With no match, a short clean excerpt of the request stands in; a greeting
alone never becomes a topic; a media message without words is named by its type.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
NUMBER, ANY_WORD, WHOLE = "#", "*", "$"
FUZZY_MIN_LETTERS = 6  # see point 2 of the module docstring
TYPO_CONFIRM = 2  # stem letters that must follow a typo
PREFIX_MIN_LETTERS = 3  # a stem word shorter than this matches a whole word only


@dataclass(frozen=True, slots=True)
class TopicRule:
    topic: str
    rule_id: str
    stems: tuple[str, ...]  # matched at the start of a word; several words = a phrase
    hints: tuple[str, ...] = ()  # weak evidence, used only when no stem matched at all
    aspect: bool = False  # an aspect of other topics ("prices"): wins only alone


@dataclass(frozen=True, slots=True)
class Topic:
    label: str
    rule_id: str  # which rule matched, or "excerpt" / "media" / "neutral"
    confidence: float


# -- text normalisation --------------------------------------------------------------------

_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\S+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")  # 7+ characters: local numbers too
_APOSTROPHE = re.compile(r"['’`´]")
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"(\w)\1+")


class _Marks(dict[int, int | None]):
    """A `str.translate` table that drops combining marks, learning each character once."""

    def __missing__(self, code: int) -> int | None:
        self[code] = None if unicodedata.combining(chr(code)) else code
        return self[code]


_NO_MARKS = _Marks()


def normalise(text: str) -> str:
    """Lower case, no accents (й and ё keep their base letter), no punctuation."""
    stripped = unicodedata.normalize("NFKD", text.lower()).translate(_NO_MARKS)
    return _SPACES.sub(" ", _NON_WORD.sub(" ", stripped)).strip()


def _squeeze(text: str) -> list[str]:
    """Words to match: normalised, apostrophes dropped ("don't" = "dont"), repeats squeezed."""
    return _REPEATS.sub(r"\1", normalise(_APOSTROPHE.sub("", text))).split()


# -- the rule table ------------------------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings, or a {language: [strings]} mapping flattened in file order."""
    lists = list(value.values()) if isinstance(value, Mapping) else [value]
    if not all(
        isinstance(v, list) and all(isinstance(s, str) and s.strip() for s in v) for v in lists
    ):
        raise ValueError(f"topics.json: {where} must be lists of non-empty strings")
    return tuple(dict.fromkeys(s for v in lists for s in v))


def _load(
    raw: Any,
) -> tuple[tuple[TopicRule, ...], dict[str, str], tuple[str, ...], tuple[str, ...]]:
    rules = tuple(
        TopicRule(
            topic=str(entry["topic"]),
            rule_id=str(entry["rule_id"]),
            stems=_strings(entry["stems"], f"{entry['rule_id']}.stems"),
            hints=_strings(entry.get("hints", []), f"{entry['rule_id']}.hints"),
            aspect=bool(entry.get("aspect", False)),
        )
        for entry in raw["topics"]
    )
    if len({rule.rule_id for rule in rules}) != len(rules):
        raise ValueError("topics.json: rule_id must be unique")
    aliases = {str(k): str(v) for k, v in dict(raw.get("aliases", {})).items()}
    greetings = _strings(raw["greetings"], "greetings")
    return rules, aliases, greetings, _strings(raw.get("not_typos", []), "not_typos")


RULES, _ALIASES, _GREETING_WORDS, _NOT_TYPOS = _load(
    json.loads(Path(__file__).with_name("topics.json").read_text(encoding="utf-8"))
)


def _words(text: str) -> list[str]:
    """The words a rule sees: squeezed, with aliases spelled out."""
    return [part for word in _squeeze(text) for part in _ALIASES.get(word, word).split()]


@dataclass(frozen=True, slots=True)
class _Stem:
    words: tuple[str, ...]  # squeezed; NUMBER / ANY_WORD allowed after the first
    whole: tuple[bool, ...]  # which words must match whole (every word but the last, short ones)
    rule: int
    weak: bool


def _compile(stem: str, rule: int, rule_id: str, weak: bool) -> _Stem:
    """A stem from the file as the matcher sees it; one word of text per word of stem."""
    parts = stem.split()
    words: list[str] = []
    whole: list[bool] = []
    for position, part in enumerate(parts):
        bare = part.removesuffix(WHOLE)
        folded = [bare] if position and bare in (NUMBER, ANY_WORD) else _words(bare)
        if len(folded) != 1:
            raise ValueError(f"topics.json: {stem!r} in {rule_id!r}: word {part!r}")
        words.append(folded[0])
        last = position == len(parts) - 1
        whole.append(not last or part.endswith(WHOLE) or len(folded[0]) < PREFIX_MIN_LETTERS)
    return _Stem(tuple(words), tuple(whole), rule, weak)


def _index(
    rules: tuple[TopicRule, ...],
) -> tuple[dict[str, tuple[_Stem, ...]], dict[str, tuple[_Stem, ...]]]:
    """Stems by their first word (a word-start prefix) and, for typos, by first two letters.
    A stem in two rules is an error: which topic it means would depend on the order."""
    by_first: dict[str, list[_Stem]] = {}
    owner: dict[tuple[str, ...], str] = {}
    for index, rule in enumerate(rules):
        for text, weak in [(s, False) for s in rule.stems] + [(h, True) for h in rule.hints]:
            stem = _compile(text, index, rule.rule_id, weak)
            if owner.setdefault(stem.words, rule.rule_id) != rule.rule_id:
                raise ValueError(
                    f"topics.json: {text!r} is in {owner[stem.words]!r} and {rule.rule_id!r}"
                )
            by_first.setdefault(stem.words[0], []).append(stem)
    fuzzy: dict[str, list[_Stem]] = {}
    for stems in by_first.values():
        for stem in stems:
            word, whole = stem.words[0], stem.whole[0]
            if len(stem.words) == 1 and not (stem.weak or whole) and len(word) >= FUZZY_MIN_LETTERS:
                fuzzy.setdefault(word[:2], []).append(stem)
    longest_first = {k: tuple(sorted(v, key=lambda s: -len(s.words))) for k, v in by_first.items()}
    return longest_first, {k: tuple(v) for k, v in fuzzy.items()}


_BY_FIRST, _FUZZY = _index(RULES)
# A word starting with a greeting ("приветик" vs "привез") or a listed word is never a typo.
_REAL_WORDS = tuple(sorted({w for text in _GREETING_WORDS + _NOT_TYPOS for w in _words(text)}))
_LONGEST_KEY = max(len(word) for word in _BY_FIRST)


def _word_matches(word: str, pattern: str, whole: bool) -> bool:
    if pattern == NUMBER:
        return word.isdigit()
    if pattern == ANY_WORD:
        return True
    return word == pattern if whole else word.startswith(pattern)


def _phrase_at(words: list[str], at: int, stems: tuple[_Stem, ...]) -> _Stem | None:
    """The first of `stems` (longest first, all starting words[at]) whose words match there."""
    for stem in stems:
        end = at + len(stem.words)
        if end <= len(words) and all(
            _word_matches(words[at + i], pattern, stem.whole[i])
            for i, pattern in enumerate(stem.words)
        ):
            return stem
    return None


def _one_typo_prefix(stem: str, word: str) -> bool:
    """`word` starts with `stem` give or take one typo, with two letters of the stem before it
    and at least two after it (else "precis-o" would be a typo of "precio")."""
    i = 0
    while i < len(stem) and i < len(word) and stem[i] == word[i]:
        i += 1
    if i == len(stem):
        return True
    rest = len(stem) - i  # stem letters from the first difference on
    if i < 2 or rest <= TYPO_CONFIRM:
        return False
    return (
        word.startswith(stem[i + 1 :], i + 1)  # a letter wrong
        or word.startswith(stem[i:], i + 1)  # a letter extra
        or word.startswith(stem[i + 1 :], i)  # a letter missing
        or (
            rest > TYPO_CONFIRM + 1  # two letters swapped
            and word[i : i + 2] == stem[i + 1] + stem[i]
            and word.startswith(stem[i + 2 :], i + 2)
        )
    )


def _typo_stem(word: str) -> _Stem | None:
    if len(word) < FUZZY_MIN_LETTERS - 1 or word.startswith(_REAL_WORDS):
        return None
    return next((s for s in _FUZZY.get(word[:2], ()) if _one_typo_prefix(s.words[0], word)), None)


def _hits(words: list[str]) -> Iterator[tuple[_Stem, bool]]:
    """Each stem found, left to right, longest first at each word; True when by a typo."""
    at = 0
    while at < len(words):
        word = words[at]
        found: _Stem | None = None
        for end in range(min(len(word), _LONGEST_KEY), 0, -1):
            stems = _BY_FIRST.get(word[:end])
            if stems is not None and (found := _phrase_at(words, at, stems)) is not None:
                break
        typo = found is None
        if found is None:
            found = _typo_stem(word)
        if found is not None:
            yield found, typo
        at += len(found.words) if found is not None and not typo else 1


def matched_stems(text: str) -> list[tuple[str, str]]:
    """Why a text got its topic: (rule_id, stem) for each stem found, "~" marking a typo."""
    return [
        (RULES[stem.rule].rule_id, " ".join(stem.words) + ("~" if typo else ""))
        for stem, typo in _hits(_words(text))
    ]


def _choose(words: list[str]) -> tuple[TopicRule, float] | None:
    """The winning rule and its confidence, by the precedence in the module docstring."""
    seen: dict[int, dict[_Stem, float]] = {}  # distinct stems per rule, a typo counts half
    for stem, typo in _hits(words):
        seen.setdefault(stem.rule, {})[stem] = 0.5 if typo else 1.0
    if not seen:
        return None

    def strength(rule: int) -> tuple[int, float]:
        """(tier, score): stems of a topic 2, of an aspect 1, hints alone 0."""
        score = sum(weight for stem, weight in seen[rule].items() if not stem.weak)
        if score:
            return (1 if RULES[rule].aspect else 2, score)
        return (0, float(len(seen[rule])))

    ranked = sorted(seen, key=lambda rule: (*strength(rule), -rule), reverse=True)
    tier, score = strength(ranked[0])
    confidence = min(1.0, 0.6 + 0.2 * score) if tier else 0.5
    if len(ranked) > 1 and strength(ranked[1]) == (tier, score):
        confidence -= 0.2  # decided by the order of the table, not by the text
    return RULES[ranked[0]], round(confidence, 2)


# -- greetings and excerpts ----------------------------------------------------------------

GREETINGS = frozenset(normalise(greeting) for greeting in _GREETING_WORDS)
_GREETING_KEYS = frozenset(" ".join(_words(greeting)) for greeting in _GREETING_WORDS)
_GREETING_SIZES = sorted({len(key.split()) for key in _GREETING_KEYS}, reverse=True)


def _strip_greeting(words: list[str]) -> list[str]:
    """Drop leading greetings ("hi, good morning", "привет, добрый день") from the words."""
    stripped = True
    while stripped and words:
        stripped = False
        for size in _GREETING_SIZES:
            if len(words) >= size and " ".join(_words(" ".join(words[:size]))) in _GREETING_KEYS:
                words, stripped = words[size:], True
                break
    return words


def is_greeting_only(text: str) -> bool:
    words = _words(text)
    return not words or not _strip_greeting(words)


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


OTHER = "other"  # the category when no topic rule matched


def category_label(topic: Topic) -> str:
    """The category routing, the CRM and analytics use: the matched rule's label, else OTHER."""
    return topic.label if topic.rule_id not in ("excerpt", "media", "neutral") else OTHER


def extract_topic(text: str, message_type: str = "chat", excerpt_chars: int = 40) -> Topic:
    words = _words(text)
    chosen = _choose(words)
    if chosen is not None:
        rule, confidence = chosen
        return Topic(rule.topic, rule.rule_id, confidence)
    if words and _strip_greeting(words):  # not a greeting alone
        excerpt = clean_excerpt(text, excerpt_chars)
        if excerpt:
            return Topic(excerpt, "excerpt", 0.3)
    if message_type in MEDIA_PHRASES:
        return Topic(MEDIA_PHRASES[message_type], "media", 0.2)
    return Topic(NEUTRAL_TOPIC, "neutral", 0.0)
