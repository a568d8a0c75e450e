"""How sure a header field is, and the page as the header reader sees it.

A field's confidence (0-1) is the lower of two things: the OCR confidence of the words it
was read from (a text layer's words, conf -1, and plain text are sure), and whether the
value has the shape of its slot (a number that reads "9B" or "4@" is not a number). A page
whose layout is known (`PageText.regions`) is read region by region: the header columns
apart, the signature and the recipients from their own blocks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kho.core.types import PageText, Word
from kho.index.text import fold

# the page's regions, in the order the header reader wants them
_REGION_ORDER = ("header-left", "header-right", "title")
_FOOT = ("recipients", "signature")
_DIGIT_LOOKALIKES = "lio|s"  # OCR letters for 1, 0, 5: a number that needed them is a guess
_SYMBOL_RE = re.compile(r"[A-ZĐ][A-ZĐa-z0-9]*(?:[/-][A-ZĐ0-9][A-ZĐa-z0-9]*)*")
CODE_FIELDS = ("number", "symbol", "date")  # one wrong character makes them wrong


@dataclass(frozen=True)
class PageView:
    """The text the header reader parses, the words behind it, and region texts by kind."""

    text: str
    words: tuple[Word, ...] = ()
    regions: dict[str, str] = field(default_factory=dict)
    region_words: dict[str, tuple[Word, ...]] = field(default_factory=dict)

    def words_of(self, *kinds: str) -> tuple[Word, ...]:
        """The words of the first of `kinds` the page has, else all the page's words."""
        for kind in kinds:
            if kind in self.region_words:
                return self.region_words[kind]
        return self.words


def page_view(source: str | PageText) -> PageView:
    """Plain text as it is; a page with regions as header-left, header-right, title, the
    rest, then recipients and signature, each region's words in lines."""
    if isinstance(source, str):
        return PageView(source)
    if not source.regions:
        return PageView(source.text, source.words)
    texts: dict[str, list[str]] = {}
    words: dict[str, list[Word]] = {}
    for region in source.regions:
        ws = source.region_words(region)
        texts.setdefault(region.kind, []).append(_lines(ws))
        words.setdefault(region.kind, []).extend(ws)
    order = [*_REGION_ORDER, *(k for k in texts if k not in (*_REGION_ORDER, *_FOOT)), *_FOOT]
    text = "\n\n".join("\n\n".join(texts[k]) for k in order if k in texts)
    return PageView(
        text,
        source.words,
        {k: "\n\n".join(v) for k, v in texts.items()},
        {k: tuple(v) for k, v in words.items()},
    )


def _lines(words: Sequence[Word]) -> str:
    """A region's words as lines: a new line where a word starts below or left of the last."""
    lines: list[list[str]] = []
    prev: Word | None = None
    for w in words:
        below = prev is not None and w.top > prev.top + prev.height * 0.6
        if prev is None or below or w.left < prev.left - prev.height:
            lines.append([])
        lines[-1].append(w.text)
        prev = w
    return "\n".join(" ".join(line) for line in lines)


def _key(text: str) -> str:
    return "".join(re.findall(r"[a-z0-9]+", fold(text)))


def words_confidence(
    read: str, words: Sequence[Word], from_end: bool = False, mean: bool = False
) -> float:
    """0-1: the least confident (`mean`: the mean) of the words `read` came from (the first
    word holding each of its tokens, from the end with `from_end`); 1 for a text layer or
    plain text."""
    if not words:
        return 1.0
    keys = [(_key(w.text), w.conf) for w in (reversed(words) if from_end else words)]
    confs = []
    for token in filter(None, (_key(t) for t in read.split())):
        hit = next((c for k, c in keys if k and (token in k or (len(k) > 1 and k in token))), None)
        if hit is not None:
            confs.append(100.0 if hit < 0 else hit)
    if not confs:
        return 0.5  # words were read, but none of them holds the value: cannot tell
    return (sum(confs) / len(confs) if mean else min(confs)) / 100.0


def number_shape(raw: str) -> float:
    """1 for digits as printed, 0.6 when OCR letters stood for digits, 0.15 otherwise."""
    raw = raw.strip()
    if re.fullmatch(r"[0-9]{1,6}", raw):
        return 1.0
    if re.fullmatch(rf"[0-9{re.escape(_DIGIT_LOOKALIKES)}]{{1,6}}", raw.lower()) and any(
        c.isdigit() for c in raw
    ):
        return 0.6
    return 0.15


def symbol_shape(value: str) -> float:
    return 1.0 if _SYMBOL_RE.fullmatch(value) else 0.3


def combine(word_conf: float, shape: float = 1.0) -> float:
    return round(max(0.0, min(word_conf, shape)), 2)
