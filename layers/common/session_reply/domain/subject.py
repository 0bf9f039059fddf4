"""What a request is about, in the client's own words: the auto-reply's {{2}}.

The phrases are data: `subject.json` beside this module lists per language the greetings,
lead-ins ("I'd like to know more about", "сколько стоит"), words dropped first ("your"),
tails ("please"), words that name nothing alone ("it cost"), sentences about the client
("my name is") and words a cut phrase must not end on. The rules (rules mode):

1. The text (a burst is joined) is split into sentences at line breaks and . ! ? ; (not after
   an abbreviation: "Dr. Müller"). URLs, e-mails, phone numbers and emoji are dropped.
2. In each sentence, greetings (of any language) and the language's lead-ins are dropped from
   the start, again and again, then the words of `drop_first`; tails are dropped from the end.
3. The first sentence left with a word that names something is the subject: its own words,
   as written (an all-capitals text is lowered), up to a comma when two words or more and
   10 characters come before it ("вернуть куртку, не подошел размер").
4. Longer than `max_chars` (40): cut at the last comma or dash that keeps half of it, else
   before the last conjunction ("and") that keeps 12 characters, else at the last word that
   fits; never after a dangling word ("for", "в"), never with an ellipsis.
5. No such sentence: a media message is named by its type ("your photo"), anything else
   (greetings, stickers, emoji) by the language's neutral phrase ("your request").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXCERPT, MEDIA, NEUTRAL = "excerpt", "media", "neutral"
WEAK_WORDS = 2  # a first sentence this short gives way to a later one that asks

_WORD = re.compile(r"[^\W_]+(?:['’`´-][^\W_]+)*")
# A full stop ends a sentence only before a space or the end: "1.2 TDI", "immobiliare.it".
_SENTENCE = re.compile(r"([\n!?;¿¡…]+|\.+(?=\s|$))")
# A comma between digits is a decimal comma ("5,5 litros"), not a clause break.
_CLAUSE = re.compile(r"(?<!\d),|,(?!\d)")
_ENYE = "\x00"  # ñ kept through the accent folding
_REPEAT = re.compile(r"(\w)\1{2,}")
_URL = re.compile(
    r"(https?://|www\.)\S+|\S+@\S+\.\S+|\b[\w-]+\.(com|net|org|io|ru|ua|kz|es|pt|br|de|fr|it|tr)\b\S*",
    re.IGNORECASE,
)
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_APOSTROPHE = re.compile(r"['’`´]")
_KEPT = "\n+&"  # symbols a subject keeps: "vuelo + hotel"
_EDGE = " +&,:;-–—/\\\"'«»()[]*_~"


@dataclass(frozen=True, slots=True)
class Subject:
    phrase: str
    rule: str  # excerpt | media | neutral


def fold(word: str) -> str:
    """A word as the phrase lists see it: lower case, no accents or apostrophes, a letter
    held three times or more written once ("hiii", "holaaa"). The ñ stays a letter of its
    own: "uñas" (nails) is not "unas" (some)."""
    lowered = _APOSTROPHE.sub("", _REPEAT.sub(r"\1", word.lower())).replace("ñ", _ENYE)
    stripped = unicodedata.normalize("NFKD", lowered)
    return "".join(ch for ch in stripped if not unicodedata.combining(ch)).replace(_ENYE, "ñ")


def _phrases(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise ValueError(f"subject.json: {where} must be a list of non-empty strings")
    keys = {tuple(fold(w) for w in _WORD.findall(s)) for s in value}
    return tuple(sorted((k for k in keys if k), key=lambda k: -len(k)))


@dataclass(frozen=True, slots=True)
class Phrases:
    neutral: str
    media: Mapping[str, str]
    greetings: tuple[tuple[str, ...], ...]
    lead_ins: tuple[tuple[str, ...], ...]
    drop_first: frozenset[str]
    tails: tuple[tuple[str, ...], ...]
    empty: frozenset[str]
    skip: tuple[tuple[str, ...], ...]
    dangling: frozenset[str]
    breaks: frozenset[str]


def _words(value: Any, where: str) -> frozenset[str]:
    return frozenset(" ".join(k) for k in _phrases(value, where))


def load(raw: Mapping[str, Any]) -> tuple[int, frozenset[str], dict[str, Phrases]]:
    languages: dict[str, Phrases] = {}
    for code, entry in dict(raw["languages"]).items():
        where = f"languages.{code}"
        media = dict(entry.get("media", {}))
        if not isinstance(entry.get("neutral"), str) or not entry["neutral"].strip():
            raise ValueError(f"subject.json: {where}.neutral must be a phrase")
        languages[str(code)] = Phrases(
            neutral=entry["neutral"],
            media={str(k): str(v) for k, v in media.items()},
            greetings=_phrases(entry.get("greetings", []), f"{where}.greetings"),
            lead_ins=_phrases(entry.get("lead_ins", []), f"{where}.lead_ins"),
            drop_first=_words(entry.get("drop_first", []), f"{where}.drop_first"),
            tails=_phrases(entry.get("tails", []), f"{where}.tails"),
            empty=_words(entry.get("empty", []), f"{where}.empty"),
            skip=_phrases(entry.get("skip", []), f"{where}.skip"),
            dangling=_words(entry.get("dangling", []), f"{where}.dangling"),
            breaks=_words(entry.get("breaks", []), f"{where}.breaks"),
        )
    max_chars = int(raw.get("max_chars", 40))
    if max_chars < 10:
        raise ValueError("subject.json: max_chars must be at least 10")
    return max_chars, _words(raw.get("abbreviations", []), "abbreviations"), languages


MAX_CHARS, _ABBREVIATIONS, LANGUAGES = load(
    json.loads(Path(__file__).with_name("subject.json").read_text(encoding="utf-8"))
)
_ALL_GREETINGS = tuple(
    sorted({g for p in LANGUAGES.values() for g in p.greetings}, key=lambda k: -len(k))
)
_ALL_OPENERS = tuple(
    sorted({g for p in LANGUAGES.values() for g in p.greetings + p.lead_ins}, key=lambda k: -len(k))
)


def _owners() -> dict[tuple[str, ...], str]:
    """Greetings and lead-ins that only one language lists: "bom dia", "можна", "was kostet"."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for code, p in LANGUAGES.items():
        for phrase in p.greetings + p.lead_ins:
            seen.setdefault(phrase, set()).add(code)
    return {phrase: codes.pop() for phrase, codes in seen.items() if len(codes) == 1}


_OWNED = _owners()
_OWNED_KEYS = tuple(sorted(_OWNED, key=lambda k: -len(k)))


def phrases_for(language: str) -> Phrases:
    return LANGUAGES.get(language) or LANGUAGES["en"]


def neutral_phrase(language: str) -> str:
    return phrases_for(language).neutral


def media_phrase(message_type: str, language: str) -> str | None:
    return phrases_for(language).media.get(message_type)


# -- the rules -----------------------------------------------------------------------------


def _starts(folded: list[str], at: int, options: tuple[tuple[str, ...], ...]) -> int:
    """Length of the longest of `options` found at folded[at:], else 0."""
    for option in options:
        if tuple(folded[at : at + len(option)]) == option:
            return len(option)
    return 0


def _ends(folded: list[str], end: int, options: tuple[tuple[str, ...], ...]) -> int:
    for option in options:
        if len(option) <= end and tuple(folded[end - len(option) : end]) == option:
            return len(option)
    return 0


def _strip_greetings(folded: list[str], at: int) -> int:
    while at < len(folded) and (size := _starts(folded, at, _ALL_GREETINGS)):
        at += size
    return at


def greeting_language(text: str) -> str | None:
    """The only language whose greeting opens the text ("hola", "привіт"), if one is."""
    folded = [fold(w) for w in _WORD.findall(text)]
    if not folded:
        return None
    found = {code for code, p in LANGUAGES.items() if _starts(folded, 0, p.greetings)}
    return found.pop() if len(found) == 1 else None


def opening_languages(text: str) -> frozenset[str]:
    """Languages whose own greetings or lead-ins (listed by no other language) open a
    sentence of the text: "Bom dia! quanto custa" says Portuguese, "was kostet" German."""
    found: set[str] = set()
    for sentence, _ in _sentences(text):
        folded = [fold(w) for w in _WORD.findall(sentence)]
        at = 0
        while at < len(folded):
            if size := _starts(folded, at, _OWNED_KEYS):
                found.add(_OWNED[tuple(folded[at : at + size])])
            elif not (size := _starts(folded, at, _ALL_OPENERS)):
                break
            at += size
    return frozenset(found)


def is_greeting_only(text: str) -> bool:
    folded = [fold(w) for w in _WORD.findall(_clean(text))]
    return _strip_greetings(folded, 0) == len(folded)


def _sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, what ended it), at line breaks and . ! ? ; but not at the full stop of an
    abbreviation ("Dr. Müller")."""
    parts = _SENTENCE.split(_clean(text))
    sentences, current = [], ""
    for at in range(0, len(parts), 2):
        current += parts[at]
        stop = parts[at + 1] if at + 1 < len(parts) else ""
        words = _WORD.findall(parts[at])
        if stop == "." and words and fold(words[-1]) in _ABBREVIATIONS:
            current += stop
            continue
        sentences.append((current, stop))
        current = ""
    return [*sentences, (current, "")] if current else sentences


def _clean(text: str) -> str:
    text = _PHONE.sub(" ", _URL.sub(" ", text))
    return "".join(
        ch if ch in _KEPT or not unicodedata.category(ch).startswith(("S", "C")) else " "
        for ch in text
    )


@dataclass(frozen=True, slots=True)
class _Found:
    phrase: str
    asks: bool  # the sentence asks: it opened with a lead-in or ended with "?"


def _sentence_subject(sentence: str, stop: str, p: Phrases) -> _Found | None:
    matches = list(_WORD.finditer(sentence))
    folded = [fold(m.group()) for m in matches]
    start, end = _strip_greetings(folded, 0), len(folded)
    greeted = start
    if _starts(folded, start, p.skip) and not _starts(folded, start, p.lead_ins):
        return None  # "my name is …", "I'm from Almaty": about the client, not the request
    # Lead-ins and the words dropped first, again and again: "do you have | the | …".
    while start < end:
        if size := _starts(folded, start, p.lead_ins):
            start += size
        elif folded[start] in p.drop_first:
            start += 1
        else:
            break
    while end > start and (size := _ends(folded, end, p.tails)):
        end -= size
    if start >= end or all(w in p.empty or w.isdigit() for w in folded[start:end]):
        return None
    phrase = sentence[matches[start].start() : matches[end - 1].end()]
    head = _CLAUSE.split(phrase, maxsplit=1)[0]
    if head != phrase and len(head.split()) >= 2 and len(head) >= 10:
        phrase = head  # "вернуть куртку, не подошел размер": the clause after is the why
    return _Found(phrase, start > greeted or "?" in stop)


def _fit(phrase: str, p: Phrases, max_chars: int) -> str:
    phrase = " ".join(phrase.split()).strip(_EDGE)
    letters = [ch for ch in phrase if ch.isalpha()]
    if len(letters) > 3 and all(ch.isupper() for ch in letters):
        phrase = phrase.lower()  # SHOUTED TEXT
    if len(phrase) <= max_chars:
        return phrase
    head = phrase[: max_chars + 1]
    commas = [m.start() for m in _CLAUSE.finditer(head)]
    cut = max(commas[-1] if commas else -1, head.rfind(" - "), head.rfind(" – "), head.rfind(" — "))
    if cut >= max_chars // 2:
        return phrase[:cut].strip(_EDGE)
    words = head.split(" ")[:-1] if " " in head else [head[:max_chars]]
    folded = [fold(w.strip(_EDGE)) for w in words]
    cuts = [i for i, w in enumerate(folded) if w in p.breaks and len(" ".join(words[:i])) >= 12]
    if cuts:
        words = words[: cuts[-1]]
    while len(words) > 1 and fold(words[-1].strip(_EDGE)) in p.dangling:
        words.pop()
    return " ".join(words).strip(_EDGE)


def extract_subject(
    text: str, message_type: str = "chat", language: str = "en", max_chars: int = MAX_CHARS
) -> Subject:
    p = phrases_for(language)
    found = [
        _Found(phrase, f.asks)
        for sentence, stop in _sentences(text)
        if (f := _sentence_subject(sentence, stop, p)) and (phrase := _fit(f.phrase, p, max_chars))
    ]
    if found:
        first = found[0]
        # A first sentence of a word or two that does not ask gives way to one that does:
        # "hola guapa!! / ¿tienes hueco para uñas semipermanentes?", "somos 4 / buscamos …".
        if not first.asks and len(first.phrase.split()) <= WEAK_WORDS:
            first = next((f for f in found if f.asks), first)
        return Subject(first.phrase, EXCERPT)
    media = p.media.get(message_type)
    if media:
        return Subject(media, MEDIA)
    return Subject(p.neutral, NEUTRAL)
