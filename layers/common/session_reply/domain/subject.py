"""What a request is about, in the client's own words: the auto-reply's {{2}}.

The phrases are data: `subject.json` beside this module lists per language the greetings,
lead-ins ("I'd like to know more about", "сколько стоит"), words dropped first ("a"), tails
("please"), words that name nothing alone ("it cost", "a quote"), sentences about the client
("my name is"), openings that tell the client's situation ("my son", "tengo un"), time words,
the word for an order, and words a cut phrase must not end on. The rules (rules mode):

1. The text (a burst is joined) is split into sentences at line breaks and . ! ? ; (not after
   an abbreviation: "Dr. Müller"), and each sentence into clauses at commas and at a
   conjunction that opens a request of its own ("… 12 amigos | y queremos ir a Bariloche").
   URLs, e-mails, phone numbers, emoji and listing sites ("на Циан") are dropped.
2. In each clause, greetings and the language's lead-ins are dropped from the start, again
   and again, then the words of `drop_first`; the phrase ends where the client starts
   saying something about the thing ("Nintendo Switch OLED | est toujours à 299€",
   `stops`); tails, a closing budget ("bis 600.000 €") and
   a closing engine size ("Camry 2.5") from the end; a thing that does something gives way
   to what it does ("Ma Clio 4 fait | un bruit bizarre"), a model name that opens the
   phrase to what follows it ("Passat 1.6 TDI 2018 | triger seti"); a phrase longer than
   `time_trim_chars` loses its time words ("table for 6 people | this saturday around
   8pm"); the client's "your" (the business's) goes.
3. The clause that carries the request is the subject: the first that names something,
   unless it does not ask (no lead-in, no question, no asking tail such as "arıyoruz") and
   a later one asks, in a later sentence or after a word or two; clauses that tell the
   client's situation ("My son is 7 and…", "ho 45 anni", a model name alone) only when
   nothing else names. An order named by its number ("заказ 77412") is the subject before
   all of that.
4. Longer than `max_chars` (40): cut at the last comma or dash that keeps half of it, else
   before the last conjunction ("and") that keeps 12 characters, else at the last word that
   fits; never after a dangling word ("for", "в") or a number cut from its noun, never with
   an ellipsis.
5. No such clause: a media message is named by its type ("your photo"), anything else
   (greetings, stickers, emoji) by the language's neutral phrase ("your request").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

EXCERPT, MEDIA, NEUTRAL = "excerpt", "media", "neutral"
WEAK_WORDS = 2  # a first sentence this short gives way to a later one that asks
ARTICLE_REACH = 3  # words of a question's own verb before the article: "sigue disponible el"

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
_CLOCK = re.compile(r"\d{1,2}(?:h\d{0,2}|am|pm|uhr)")  # folded: "8pm", "20h30", "20h"
_NUMBER = re.compile(r"[#№]?\d+(?:[.,]\d+)?")
_MAGNITUDES = frozenset({"k", "к", "тыс", "тис", "mil", "bin", "mln", "млн"})  # "80 тис"
_KEPT = "\n+&"  # symbols a subject keeps: "vuelo + hotel"
_EDGE = " +&,:;-–—/\\\"'«»()[]*_~"


@dataclass(frozen=True, slots=True)
class Subject:
    phrase: str
    rule: str  # excerpt | media | neutral


@lru_cache(maxsize=16384)
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
    context: tuple[tuple[str, ...], ...]
    ages: frozenset[str]
    times: frozenset[str]
    time_links: frozenset[str]
    hour_links: frozenset[str]
    pivots: tuple[tuple[str, ...], ...]
    yours: frozenset[str]
    yours_suffixes: tuple[str, ...]
    budgets: tuple[tuple[str, ...], ...]
    stops: tuple[tuple[str, ...], ...]
    articles: frozenset[str]
    asking_tails: tuple[tuple[str, ...], ...]
    order: re.Pattern[str] | None
    sites: re.Pattern[str] | None


def _words(value: Any, where: str) -> frozenset[str]:
    return frozenset(" ".join(k) for k in _phrases(value, where))


def _alternatives(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _order_pattern(value: Any, where: str) -> re.Pattern[str] | None:
    """An order named by its number ("order #48213", "заказ 77412", "sipariş verdim no:
    TR88412"): the word for an order, at most two words, then four digits or more."""
    _phrases(value, where)
    if not value:
        return None
    return re.compile(
        rf"(?P<word>(?<!\w)(?:{_alternatives(value)})(?!\w))(?:\s+[^\W\d_]+){{0,2}}?\s*"
        r"(?P<ref>(?:#|№|n[º°o]\.?:?\s*|nr\.?:?\s*)?[A-Z]{0,3}\d{4,})(?!\w)",
        re.IGNORECASE,
    )


def _sites_pattern(sites: list[str], prepositions: list[str]) -> re.Pattern[str] | None:
    """A listing site and the preposition before it ("на Циан", "en Idealista",
    "sahibinden'deki"): where the client saw the offer, not what they ask about."""
    if not sites:
        return None
    return re.compile(
        rf"(?:(?<!\w)(?:{_alternatives(prepositions)})\s+)?(?<!\w)(?:{_alternatives(sites)})"
        r"(?:\.[\w.]+|['’]\w+)?(?!\w)",
        re.IGNORECASE,
    )


def load(raw: Mapping[str, Any]) -> tuple[int, frozenset[str], dict[str, Phrases]]:
    languages: dict[str, Phrases] = {}
    sites = raw.get("sites", [])
    _phrases(sites, "sites")
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
            context=_phrases(entry.get("context", []), f"{where}.context"),
            ages=_words(entry.get("ages", []), f"{where}.ages"),
            times=_words(entry.get("times", []), f"{where}.times"),
            time_links=_words(entry.get("time_links", []), f"{where}.time_links"),
            hour_links=_words(entry.get("hour_links", []), f"{where}.hour_links"),
            pivots=_phrases(entry.get("pivots", []), f"{where}.pivots"),
            yours=_words(entry.get("yours", []), f"{where}.yours"),
            yours_suffixes=tuple(
                sorted({fold(x) for x in entry.get("yours_suffixes", [])}, key=len, reverse=True)
            ),
            budgets=_phrases(entry.get("budgets", []), f"{where}.budgets"),
            stops=_phrases(entry.get("stops", []), f"{where}.stops"),
            articles=_words(entry.get("articles", []), f"{where}.articles"),
            asking_tails=_phrases(entry.get("asking_tails", []), f"{where}.asking_tails"),
            order=_order_pattern(entry.get("orders", []), f"{where}.orders"),
            sites=_sites_pattern(sites, entry.get("dangling", [])),
        )
    max_chars = int(raw.get("max_chars", 40))
    if max_chars < 10:
        raise ValueError("subject.json: max_chars must be at least 10")
    return max_chars, _words(raw.get("abbreviations", []), "abbreviations"), languages


_RAW = json.loads(Path(__file__).with_name("subject.json").read_text(encoding="utf-8"))
MAX_CHARS, _ABBREVIATIONS, LANGUAGES = load(_RAW)
TIME_TRIM_CHARS = int(_RAW.get("time_trim_chars", 37))
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


_Options = tuple[tuple[str, ...], ...]
_BY_WORD: dict[tuple[int, int], dict[str, _Options]] = {}  # (id of a list, 0 first | -1 last)


def _by(options: _Options, edge: int) -> dict[str, _Options]:
    """The phrases of a list by their first (or last) word, longest first: a lookup per
    word instead of a scan of the list (the lists live as long as the module)."""
    key = (id(options), edge)
    if (index := _BY_WORD.get(key)) is None:
        grouped: dict[str, list[tuple[str, ...]]] = {}
        for option in options:
            grouped.setdefault(option[edge], []).append(option)
        index = _BY_WORD[key] = {word: tuple(group) for word, group in grouped.items()}
    return index


def _starts(folded: list[str], at: int, options: _Options) -> int:
    """Length of the longest of `options` found at folded[at:], else 0."""
    if at >= len(folded):
        return 0
    for option in _by(options, 0).get(folded[at], ()):
        if tuple(folded[at : at + len(option)]) == option:
            return len(option)
    return 0


def _ends(folded: list[str], end: int, options: _Options) -> int:
    if end < 1:
        return 0
    for option in _by(options, -1).get(folded[end - 1], ()):
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


def _unlinked(text: str) -> str:
    """The text without URLs, e-mails and phone numbers (seven digits or more: "2017 1.6"
    is a car, not a phone)."""
    return _PHONE.sub(
        lambda m: " " if sum(ch.isdigit() for ch in m.group()) >= 7 else m.group(),
        _URL.sub(" ", text),
    )


def _clean(text: str) -> str:
    text = _unlinked(text)
    return "".join(
        ch if ch in _KEPT or not unicodedata.category(ch).startswith(("S", "C")) else " "
        for ch in text
    )


@dataclass(frozen=True, slots=True)
class _Found:
    phrase: str
    asks: bool  # the clause asks: it opened with a lead-in, or it ends a question
    context: bool  # the clause tells the client's situation ("my son is 7", "tengo un Seat")
    model: bool = False  # the clause is a model name alone ("Киа Рио 2017 1.6")
    sentence: int = 0  # which sentence of the text it is in


def _is_number(word: str) -> bool:
    return word.isdigit() and len(word) <= 2


def _time_run(folded: list[str], start: int, end: int, p: Phrases) -> int:
    """Where a run of time words that ends the phrase starts ("this saturday around 8pm",
    "на завтра на 19:30", "stasera alle 20"), else `end`. A bare number belongs to the run
    only after an hour's link ("alle 20", "at 5") or another number ("19 30")."""
    at, timed = end, False
    for i in range(end - 1, start - 1, -1):
        word = folded[i]
        before = folded[i - 1] if i > start else ""
        hour = _is_number(word) and (
            before in p.hour_links
            or (_is_number(before) and i - 1 > start and folded[i - 2] in p.hour_links)
        )
        if hour or word in p.times or _CLOCK.fullmatch(word):
            timed = True
        elif not (at < end and (word in p.time_links or word in p.hour_links)):
            break
        at = i
    return at if timed else end


def _long(matches: list[re.Match[str]], start: int, end: int) -> bool:
    """Long enough that its time words go first: "table for 6 this saturday around 8pm"
    keeps «table for 6», "table for 4 tonight at 8" stays whole."""
    return matches[end - 1].end() - matches[start].start() > TIME_TRIM_CHARS


def _timed(folded: list[str], at: int, p: Phrases) -> bool:
    word = folded[at]
    if word in p.times or _CLOCK.fullmatch(word):
        return True
    if not _is_number(word):
        return False
    after = folded[at + 1] if at + 1 < len(folded) else ""
    return (at > 0 and folded[at - 1] in p.hour_links) or after in p.times


def _leading_time(folded: list[str], start: int, end: int, p: Phrases) -> int:
    """Past the time words that open the phrase ("на вихідні", "morgen", "für Sonntag 12
    Uhr"), else `start`."""
    at, timed = start, start
    while at < end:
        if _timed(folded, at, p):
            at = timed = at + 1
        elif folded[at] in p.time_links or folded[at] in p.hour_links:
            at += 1
        else:
            break
    return timed


def _untail(
    clause: str, matches: list[re.Match[str]], folded: list[str], start: int, end: int, p: Phrases
) -> int:
    """Tails, a closing engine size or version ("Camry 2.5") and a dangling word, again and
    again: "yüzme kursu | var mı", "заміна масла на Тойота Камрі | 2.5"."""
    while end > start:
        if size := _ends(folded, end, p.tails):
            end -= size
        elif end - start > 3 and _decimal_at(clause, matches, end):
            end -= 2
        elif (
            end - start > 4 and folded[end - 1].isalpha() and _decimal_at(clause, matches, end - 1)
        ):
            end -= 3  # "tagliando per una Fiat 500X | 1.6 multijet"
        elif (at := _budget_at(folded, start, end, p)) < end:
            end = at  # "Eigentumswohnung in München | bis 600.000 €"
        elif end - start > 3 and folded[end - 1] in p.ages and folded[end - 2].isdigit():
            end -= 2  # "aula de inglês pra criança | de 8 anos"
        elif end - start > 1 and folded[end - 1] in p.dangling:
            end -= 1
        else:
            break
    return end


def _spec(clause: str, matches: list[re.Match[str]], start: int, end: int) -> int:
    """The end of a model name that opens the phrase: names and numbers with an engine size
    or a version among them ("Киа Рио 2017 1.6", "Passat 1.6 TDI 2018"), else `start`."""
    at = start
    while at < end and (matches[at].group()[:1].isupper() or matches[at].group().isdigit()):
        at += 1
    decimal = any(_is_decimal(clause, matches, i) for i in range(start + 2, at + 1))
    return at if decimal else start


def _is_decimal(clause: str, matches: list[re.Match[str]], end: int) -> bool:
    """The two words before `end` are one decimal number ("1.6", "5,5")."""
    if end < 2:
        return False
    last, before = matches[end - 1], matches[end - 2]
    return (
        last.group().isdigit()
        and before.group().isdigit()
        and clause[before.end() : last.start()] in (".", ",")
    )


def _budget_at(folded: list[str], start: int, end: int, p: Phrases) -> int:
    """Where a closing budget starts ("up to 900", "до 80 тис", "bis 600.000"), else `end`;
    two words stay before it."""
    at = end
    if at > start and folded[at - 1] in _MAGNITUDES:
        at -= 1
    digits = at
    while at > start and folded[at - 1].isdigit():
        at -= 1
    if at == digits:
        return end
    size = _ends(folded, at, p.budgets)
    return at - size if size and at - size - start >= 2 else end


def _decimal_at(clause: str, matches: list[re.Match[str]], end: int) -> bool:
    """The phrase ends on a decimal number after a name or a model ("Camry 2.5",
    "1С:Бухгалтерия 8.3", "500X 1.6"), not after a word ("size 10.5")."""
    return (
        end >= 3
        and any(ch.isupper() for ch in matches[end - 3].group())
        and _is_decimal(clause, matches, end)
    )


def _has_content(folded: list[str], p: Phrases) -> bool:
    return any(
        not (
            w.isdigit()
            or w in p.empty
            or w in p.dangling
            or w in p.drop_first
            or w in p.times
            or w in p.time_links
        )
        for w in folded
    )


def _clause_subject(clause: str, question: bool, p: Phrases, told: bool) -> _Found | None:
    """The subject a clause names, if it names one. `told`: an earlier clause of the same
    sentence told the client's situation, and this one goes on with it unless it asks."""
    matches = list(_WORD.finditer(clause))
    folded = [fold(m.group()) for m in matches]
    start, end = _strip_greetings(folded, 0), len(folded)
    while start < end and folded[start] in p.breaks and _starts(folded, start, p.lead_ins) <= 1:
        start += 1  # "… колено, | но нужно понять цену", "… 12 amigos | y queremos ir"
    if _starts(folded, start, p.skip) and not _starts(folded, start, p.lead_ins):
        return None  # "my name is …", "I'm from Almaty": about the client, not the request
    context = _starts(folded, start, p.context) > _starts(folded, start, p.lead_ins) or any(
        w in p.ages and i > 0 and folded[i - 1].isdigit() for i, w in enumerate(folded)
    )
    # Lead-ins and the words dropped first, again and again: "do you have | the | …".
    led = False
    while start < end:
        if size := _starts(folded, start, p.lead_ins):
            start += size
            led = True
        elif folded[start] in p.drop_first:
            start += 1
        else:
            break
    # A question that opens with its own verb: the thing starts after the article
    # ("sigue disponible | el | depto…", "Wäre | eine | Besichtigung…", "is | der | 320d…").
    if question and not led:
        start = _past_article(matches, folded, start, end, p)
    # What a thing does, said after the thing: "Ma Clio 4 1.5 dCi fait | un bruit bizarre".
    pivot = next((i for i in range(start + 1, end - 1) if _starts(folded, i, p.pivots)), None)
    if pivot is not None:
        start = pivot + _starts(folded, pivot, p.pivots)
        while start < end and folded[start] in p.drop_first:
            start += 1
    # What the client says about the thing ends it: "Nintendo Switch OLED | est toujours à
    # 299€", "the 2019 VW Golf | you have listed", "piso de la calle Alcalá | que tenéis".
    end = next((i for i in range(start + 2, end) if _starts(folded, i, p.stops)), end)
    # A request said at the end of the clause: "kiralık daire | arıyoruz".
    asked = end - start > 1 and _ends(folded, end, p.asking_tails) > 0
    # A car or a device by its model first ("Passat 1.6 TDI 2018 | triger seti değişimi"):
    # what follows is the request; a clause of the model alone tells the client's situation.
    spec = _spec(clause, matches, start, end)
    model = spec >= end
    if spec > start and end - spec >= 2:
        start = spec
    end = _untail(clause, matches, folded, start, end, p)
    # A long phrase loses its time words first: "table for 6 | this saturday around 8pm",
    # "habt ihr | morgen | noch einen Termin für Wimpernverlängerung frei"; so does a time
    # said after the question ("yüzme kursu var mı | hafta sonu").
    at = _time_run(folded, start, end, p) if start < end else end
    if at < end and at - start >= 2 and (_long(matches, start, end) or _ends(folded, at, p.tails)):
        end = _untail(clause, matches, folded, start, at, p)
    after = _leading_time(folded, start, end, p) if start < end else start
    if after > start and end - after >= 2 and _long(matches, start, end):
        start = after
        while start < end and folded[start] in p.drop_first:
            start += 1
    if start >= end or not _has_content(folded[start:end], p):
        return None
    # "your" in the client's words is the business's: «Zapier integration for invoicing app»,
    # "Programınız | Trendyol entegrasyonu"
    if end - start >= 2 and _yours_ending(folded[start], p):
        start += 1
    kept = [i for i in range(start, end) if i == start or folded[i] not in p.yours]
    phrase = "".join(
        clause[matches[i].start() : matches[i + 1].start() if i + 1 < end else matches[i].end()]
        for i in kept
    )
    asks = led or question or asked
    return _Found(phrase, asks, model or context or (told and not asks), model)


def _past_article(
    matches: list[re.Match[str]], folded: list[str], start: int, end: int, p: Phrases
) -> int:
    """Past the first article of the phrase when at most three words come before it, none
    of them a preposition, a number, a name or an article, and a word follows; else `start`."""
    for at in range(start + 1, min(start + 1 + ARTICLE_REACH, end - 1)):
        if folded[at] in p.articles:
            if not any(
                folded[i] in p.dangling
                or folded[i] in p.articles
                or folded[i].isdigit()
                or (i > 0 and matches[i].group()[:1].isupper())
                for i in range(start, at)
            ):
                return at + 1
            break
    return start


def _yours_ending(word: str, p: Phrases) -> str:
    """The ending that says "your" on `word` (folded), if it has one and keeps three
    letters before it ("programınız" → "ınız")."""
    return next((e for e in p.yours_suffixes if word.endswith(e) and len(word) - len(e) >= 3), "")


def _opens_clause(folded: list[str], at: int, p: Phrases) -> bool:
    """A conjunction opens a clause of its own when a lead-in or the client's situation
    follows it: "… 12 amigos | y queremos ir a Bariloche", "… МРТ | и нужно ли направление"."""
    size = _starts(folded, at, p.lead_ins)
    if size and not (size == 1 and folded[at] in p.breaks):
        return True
    return bool(_starts(folded, at, p.context) or _starts(folded, at, p.skip))


def _apposition(part: str, p: Phrases) -> bool:
    """A short name after a comma belongs to the phrase before it: "тур в Турцию, Анталья",
    "поїхати в Карпати, у Буковель"."""
    words = part.split()
    if not 1 <= len(words) <= 3 or any(ch.isdigit() for ch in part):
        return False
    named = words[1:] if len(words) > 1 and fold(words[0]) in p.dangling else words
    return all(w[:1].isupper() for w in named)


def _clauses(sentence: str, p: Phrases) -> list[str]:
    parts: list[str] = []
    for part in _CLAUSE.split(sentence):
        if parts and _apposition(part, p):
            parts[-1] += "," + part
        else:
            parts.append(part)
    clauses: list[str] = []
    for part in parts:
        matches = list(_WORD.finditer(part))
        folded = [fold(m.group()) for m in matches]
        cuts = [
            matches[i].start()
            for i in range(1, len(folded) - 1)
            if folded[i] in p.breaks and _opens_clause(folded, i + 1, p)
        ]
        for a, b in zip([0, *cuts], [*cuts, len(part)], strict=True):
            clauses.append(part[a:b])
    return clauses


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
    # A cut phrase never ends on a dangling word ("for") or a number cut from its noun
    # ("tour for 2 | adults").
    while len(words) > 1 and (
        fold(words[-1].strip(_EDGE)) in p.dangling or _NUMBER.fullmatch(words[-1].strip(_EDGE))
    ):
        words.pop()
    return " ".join(words).strip(_EDGE)


def _order(text: str, p: Phrases) -> str | None:
    """An order named by its number is what the request is about: "order #48213",
    "заказ 77412", "sipariş verdim no: TR88412" → «sipariş no: TR88412»."""
    if p.order is None or not (found := p.order.search(text)):
        return None
    return f"{found.group('word')} {found.group('ref')}"


def _candidates(text: str, p: Phrases, max_chars: int) -> list[_Found]:
    found = []
    for index, (sentence, stop) in enumerate(
        _sentences(p.sites.sub(" ", text) if p.sites else text)
    ):
        clauses, told = _clauses(sentence, p), False
        for at, clause in enumerate(clauses):
            question = "?" in stop and at == len(clauses) - 1
            if f := _clause_subject(clause, question, p, told):
                told = f.context and not f.model
                if phrase := _fit(f.phrase, p, max_chars):
                    found.append(_Found(phrase, f.asks, f.context, sentence=index))
    return found


def _choose(found: list[_Found]) -> _Found:
    """The clause that carries the request: the first, unless it does not ask and a later
    sentence asks (or it is a word or two and a later clause asks); a clause about the
    client's situation only when nothing else names."""
    told = [f for f in found if not f.context] or found
    first = told[0]
    asking = next((f for f in told if f.asks), first)
    if not first.asks and (
        len(first.phrase.split()) <= WEAK_WORDS or asking.sentence != first.sentence
    ):
        first = asking
    return first


def extract_subject(
    text: str, message_type: str = "chat", language: str = "en", max_chars: int = MAX_CHARS
) -> Subject:
    p = phrases_for(language)
    if order := _order(_unlinked(text), p):
        return Subject(_fit(order, p, max_chars), EXCERPT)
    if found := _candidates(text, p, max_chars):
        return Subject(_choose(found).phrase, EXCERPT)
    media = p.media.get(message_type)
    if media:
        return Subject(media, MEDIA)
    return Subject(p.neutral, NEUTRAL)
