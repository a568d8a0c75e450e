"""Tone marks tesseract drops from circumflex vowels, put back from its own alternatives.

Tesseract's Vietnamese model often reads a circumflex vowel that carries a tone (ố ổ ầ ẩ ế
ể) as the bare circumflex: "số" -> "sô", "tổ" -> "tô", "thẩm" -> "thâm". Its LSTM still
scores the toned letter among that character's alternatives (`lstm_choice_mode` 2): where
one comes within TONE_MARGIN of the letter read, it is the better reading. Only bare
circumflex vowels are changed; any other letter, and a letter that has a tone, is kept,
since there the alternatives were wrong more often than right (bench/README.md, tone marks).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")  # grave, acute, tilde, hook, dot below
BARE_CIRCUMFLEX = frozenset("âêôÂÊÔ")
TONE_MARGIN = 30.0  # confidence points (0-100) a toned alternative may trail the letter read

Choices = Sequence[tuple[str, float]]  # a character's readings, best first: (text, confidence)


def _untoned(letter: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", letter) if c not in TONES)


def restore_tone(letter: str, choices: Choices) -> str:
    """`letter`, or the toned form of it that `choices` scores within TONE_MARGIN of the best."""
    if letter not in BARE_CIRCUMFLEX or not choices:
        return letter
    best = choices[0][1]
    base = unicodedata.normalize("NFD", letter)
    for text, confidence in choices[1:]:
        if confidence >= best - TONE_MARGIN and text != letter and _untoned(text) == base:
            return unicodedata.normalize("NFC", text)
    return letter


def restore_word(letters: Sequence[tuple[str, Choices]]) -> str | None:
    """A word's text (NFC) from its letters and their choices with tone marks put back;
    None if no letter changed."""
    kept = [restore_tone(t, c) for t, c in letters]
    if all(k == t for k, (t, _) in zip(kept, letters, strict=True)):
        return None
    return unicodedata.normalize("NFC", "".join(kept))
