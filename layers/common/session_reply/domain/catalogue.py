"""The business's catalogue: its products, services and areas, as data.

An entry is `{"id": "corner-sofas", "names": {"en": "Corner sofas", "ru": "Угловые диваны"},
"match": ["corner sofa", "угловой диван", "sofá esquinero"], "team": ["anna-petrova"]}`:
names per language (the reply's {{2}} when a request matches), the words that match it
(compared like the subject's phrases: lower case, no accents; each word of a phrase matches
the start of a word of the text, so "sofa" matches "sofas" and "диван" matches "дивана"),
and optionally the managers who handle it. The longest matching phrase wins, one written
right before one with typos; on a tie, the entry listed first.

Clients make typos: a match word of 5 letters or more also matches a text word that starts
with it give or take one typo (a letter missing, added, changed, or two swapped: "cornr
sofa"), two from 9 letters ("отбеливане"), the first letter right. Edit distances come from
rapidfuzz (optimal string alignment), imported on the first request that meets a catalogue:
a business without one never loads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from session_reply.domain.subject import fold

_WORD = re.compile(r"[^\W_]+")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MIN_STEM = 3  # a match word shorter than this must be a whole word
# A match word this long may have one typo in the text; from TWO_TYPOS letters, two. Shorter
# words must be right: one letter turns "sofa" into "soda".
ONE_TYPO, TWO_TYPOS = 5, 9
MAX_NAME = 40  # a name is the reply's {{2}}: the subject's limit


class CatalogueError(ValueError):
    """An entry cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    names: Mapping[str, str]
    match: tuple[tuple[str, ...], ...]
    team: tuple[str, ...] = ()

    def name(self, language: str, default_language: str) -> str:
        return (
            self.names.get(language)
            or self.names.get(default_language)
            or next(iter(self.names.values()))
        )


def folded(phrase: str) -> tuple[str, ...]:
    """The words of a phrase as the catalogue compares them (see `fold`)."""
    return tuple(fold(w) for w in _WORD.findall(phrase))


def parse_entry(raw: Mapping[str, Any]) -> Entry:
    if not isinstance(raw, Mapping):
        raise CatalogueError("an entry must be a JSON object")
    ident = str(raw.get("id") or "")
    if not _ID.match(ident):
        raise CatalogueError(f"id {ident!r}: lower-case letters, digits and dashes")
    names = raw.get("names")
    if not isinstance(names, Mapping) or not names:
        raise CatalogueError(f"{ident}: names must map languages to names")
    clean_names: dict[str, str] = {}
    for language, name in names.items():
        text = " ".join(str(name).split())
        if not re.fullmatch(r"[a-z]{2}", str(language)) or not text:
            raise CatalogueError(f"{ident}: names.{language} must be an ISO 639-1 code and a name")
        if len(text) > MAX_NAME or "«" in text or "»" in text:
            raise CatalogueError(
                f"{ident}: names.{language} must be 1-{MAX_NAME} characters, no « »"
            )
        clean_names[str(language)] = text
    match = raw.get("match")
    if not isinstance(match, list) or not match:
        raise CatalogueError(f"{ident}: match must list the words that name it")
    phrases = tuple(dict.fromkeys(p for p in (folded(str(m)) for m in match) if p))
    if not phrases:
        raise CatalogueError(f"{ident}: match has no words")
    team = raw.get("team") or []
    if not isinstance(team, list) or not all(isinstance(t, str) and t for t in team):
        raise CatalogueError(f"{ident}: team must list manager ids")
    return Entry(ident, clean_names, phrases, tuple(team))


def parse_catalogue(items: Iterable[Mapping[str, Any]]) -> list[Entry]:
    entries = [parse_entry(item) for item in items]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise CatalogueError(f"id {entry.id!r} appears twice")
        seen.add(entry.id)
    return entries


def _typos(word: str, pattern: str) -> int | None:
    """How far `word` is from starting with `pattern`: 0 when it does (its forms: "sofas"
    for "sofa"), the typos when they are few enough for the pattern's length, else None."""
    if len(pattern) < MIN_STEM:
        return 0 if word == pattern else None
    if word.startswith(pattern):
        return 0
    allowed = 2 if len(pattern) >= TWO_TYPOS else 1 if len(pattern) >= ONE_TYPO else 0
    if not allowed or word[:1] != pattern[:1] or len(word) < len(pattern) - allowed:
        return None
    from rapidfuzz.distance import OSA  # here: only a request that meets a catalogue loads it

    size = len(pattern)
    typos = min(
        OSA.distance(pattern, word[:n], score_cutoff=allowed)
        for n in range(size - allowed, size + allowed + 1)
    )
    return typos if typos <= allowed else None


def _found(words: Sequence[str], phrase: tuple[str, ...]) -> int | None:
    """The fewest typos with which the phrase's words stand in a row in `words`, or None."""
    n = len(phrase)
    best: int | None = None
    for i in range(len(words) - n + 1):
        total = 0
        for k in range(n):
            typos = _typos(words[i + k], phrase[k])
            if typos is None:
                break
            total += typos
        else:
            best = total if best is None else min(best, total)
            if best == 0:
                break
    return best


def match_entry(text: str, entries: Sequence[Entry]) -> Entry | None:
    """The entry whose longest match phrase the text contains (the one written right
    before one with typos), if any."""
    words = folded(text)
    best: tuple[int, int, int] | None = None
    chosen: Entry | None = None
    for entry in entries:
        for phrase in entry.match:
            typos = _found(words, phrase)
            if typos is not None:
                score = (len(phrase), -typos, sum(len(w) for w in phrase))
                if best is None or score > best:
                    best, chosen = score, entry
    return chosen
