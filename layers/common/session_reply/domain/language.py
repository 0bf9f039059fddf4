"""The client's language, from the text of a request (ISO 639-1).

Identification is fastText's compressed language model `lid.176.ftz` (176 languages, 0.9 MB,
Creative Commons BY-SA 3.0, see `lid.176.NOTICE`), run by `fasttext-predict` (a small native
wheel, arm64 included). Only the configured languages count: the model's best of those wins.
The model is loaded on first use (about 25 ms), so only the function that renders replies
pays for it, and only once per container.

The model's scores get `HINT_BONUS` for each language whose own greeting or lead-in opens a
sentence (phrases only that language lists in `subject.json`: "bom dia", "можна", "was
kostet"): short texts are where the model errs, and where such phrases are.

A text too short to tell (under `MIN_LETTERS` letters: "ok", "👍", a name) or one the model is
unsure of keeps the chat's known language; with none known, a greeting or lead-in that only
one configured language uses decides ("hola", "привіт"), else the default.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = Path(__file__).with_name("lid.176.ftz")
SUPPORTED = ("en", "ru", "es", "pt", "de", "fr", "it", "tr", "uk")
MIN_LETTERS = 4
# Below this share of the configured languages' probability, a known language is kept.
MIN_CONFIDENCE = 0.5
HINT_BONUS = 1.0
_TOP_K = 40  # the model's best labels considered; a configured language is nearly always in

DETECTED, KNOWN, GREETING, DEFAULT = "detected", "known", "greeting", "default"

_URL = re.compile(r"(https?://|www\.)\S+|\S+@\S+\.\S+", re.IGNORECASE)
_NOT_LETTERS = re.compile(r"[\W\d_]+")
_model: Any = None
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # ISO 639-1
    source: str  # detected | known | greeting | default
    confidence: float


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            import fasttext  # type: ignore[import-untyped]  # lazy: ~5 ms import, ~20 ms load

            _model = fasttext.load_model(str(MODEL_FILE))
    return _model


def letters(text: str) -> int:
    return sum(1 for ch in text if unicodedata.category(ch).startswith("L"))


def scores(text: str, languages: Sequence[str]) -> dict[str, float]:
    """The model's probability per configured language, scaled to sum to 1 over them."""
    flat = " ".join(_URL.sub(" ", text).split()).lower()
    if not flat:
        return {}
    labels, probs = _load().predict(flat, k=_TOP_K, threshold=0.0)
    found = {
        str(label).removeprefix("__label__"): float(prob)
        for label, prob in zip(labels, probs, strict=False)
    }
    wanted = {code: found.get(code, 0.0) for code in languages}
    total = sum(wanted.values())
    return {code: p / total for code, p in wanted.items()} if total > 0 else {}


def detect_language(
    text: str,
    known: str | None = None,
    default: str = "en",
    languages: Sequence[str] = SUPPORTED,
    hints: Collection[str] = (),
) -> Language:
    """The language of `text` among `languages`, by the precedence in the module docstring.
    `hints`: the languages whose own phrases open the text's sentences."""
    known = known if known in languages else None
    if letters(_NOT_LETTERS.sub("", _URL.sub(" ", text))) >= MIN_LETTERS:
        found = scores(text, languages)
        for code in hints:
            if code in found:
                found[code] += HINT_BONUS
        total = sum(found.values())
        ranked = sorted(((c, p / total) for c, p in found.items()), key=lambda kv: -kv[1])
        if ranked:
            code, confidence = ranked[0]
            if known is None or code == known or confidence >= MIN_CONFIDENCE:
                return Language(code, DETECTED, round(confidence, 3))
    if known is not None:
        return Language(known, KNOWN, 0.0)
    only = [code for code in hints if code in languages]
    if len(only) == 1:
        return Language(only[0], GREETING, 0.0)
    return Language(default if default in languages else languages[0], DEFAULT, 0.0)
