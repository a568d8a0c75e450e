"""Table rulings that tesseract read as characters: "|" tokens and bars glued to words.

A scanned table's vertical rulings come back as words of their own ("|", "||") or as a
glyph at a word's start, end or middle ("với|", "3|D15"); a horizontal one as "_" or "—".
Where a ruling of a detected table (`tables.Table.rulings_across`) actually runs through
such a glyph, the glyph is the ruling: a word made only of such glyphs is dropped, one with
it at an edge is trimmed, one with it inside is split in two, each box cut at the ruling.
The glyph a ruling hits is found from the word's box shared among its characters (narrow
glyphs a narrow share); "1", "I" and "l" only count where the ruling lies inside their own
share, so digits and letters away from a ruling, or merely near one, stay.
"""

from __future__ import annotations

from dataclasses import replace

from kho.core.types import Word
from kho.ocr.tables import Table

BARS = frozenset("|¦!¡[]")  # glyphs that are only ever a ruling inside a table
STROKES = frozenset("Il1")  # a ruling read as a letter or digit: only where it lies inside
DASHES = frozenset("_—–-~")  # a horizontal ruling read as a word
NARROW = BARS | STROKES | frozenset(".,:;'`’‘ij")
TOUCH = 0.15  # share of a word's height by which its box may miss the ruling it sits on


def clear_rulings(words: list[Word], tables: list[Table]) -> list[tuple[Word, int]]:
    """The words without the rulings read into them, each with its source word's index (a
    split word gives two, a dropped one none)."""
    out: list[tuple[Word, int]] = []
    for i, w in enumerate(words):
        table = _table_of(w, tables)
        pieces = [w] if table is None else _cleared(w, table)
        out += [(p, i) for p in pieces]
    return out


def _table_of(w: Word, tables: list[Table]) -> Table | None:
    x, y = w.left + w.width / 2, w.top + w.height / 2
    for table in tables:
        left, top, right, bottom = table.box
        pad = w.height  # an outer ruling's "|" is centred on the table's edge
        if left - pad <= x <= right + pad and top - pad <= y <= bottom + pad:
            return table
    return None


def _cleared(w: Word, table: Table) -> list[Word]:
    """The word as it stays (none, itself, trimmed or split) given the table's rulings."""
    text = w.text
    right, bottom = w.left + w.width, w.top + w.height
    glyphs = set(text)
    if not glyphs & (BARS | STROKES | DASHES):
        return [w]
    down, across = table.rulings_across((w.left, w.top, right, bottom), w.height)
    touch = TOUCH * w.height
    if glyphs <= BARS | STROKES and any(
        x1 >= w.left - touch and x0 <= right + touch for x0, x1 in down
    ):
        return []  # "|", "||", "l" standing on a vertical ruling
    if glyphs <= DASHES and any(y1 >= w.top - touch and y0 <= bottom + touch for y0, y1 in across):
        return []  # "_", "—" lying on a horizontal ruling
    cuts = _cuts(w, down)
    if not cuts:
        return [w]
    pieces, start, left = [], 0, w.left
    for k, (x0, x1) in sorted(cuts.items()):
        if k > start:
            pieces.append(_piece(w, text[start:k], left, min(right, round(x0))))
        start, left = k + 1, max(w.left, round(x1))
    if start < len(text):
        pieces.append(_piece(w, text[start:], left, right))
    return [p for p in pieces if p.width > 0]


def _cuts(w: Word, down: list[tuple[float, float]]) -> dict[int, tuple[float, float]]:
    """The index of the glyph each vertical ruling runs through, and that ruling."""
    text, right = w.text, w.left + w.width
    weights = [0.45 if c in NARROW else 1.0 for c in text]
    unit = w.width / sum(weights)
    shares, at = [], float(w.left)
    for weight in weights:
        shares.append((at, at + weight * unit))
        at += weight * unit
    # a bar's share is a guess: allow a character either way, and beyond the word's box
    # (tesseract's box often stops at the letters) a text height; a letter or digit only
    # where the ruling runs through its own share, or touches the box's edge at it
    char, touch = w.width / len(text), TOUCH * w.height
    cuts: dict[int, tuple[float, float]] = {}
    for x0, x1 in down:
        best, best_off = None, None
        for k, c in enumerate(text):
            s, e = shares[k]
            if c in BARS:
                lo, hi, edge = s - char, e + char, w.height
            elif c in STROKES:
                lo, hi, edge = s, e, touch
            else:
                continue
            lo = w.left - edge if k == 0 else lo
            hi = right + edge if k == len(text) - 1 else hi
            off = abs((x0 + x1) / 2 - (s + e) / 2)
            if x1 >= lo and x0 <= hi and (best_off is None or off < best_off):
                best, best_off = k, off
        if best is None:
            continue
        cuts[best] = (x0, x1)
        # a ruling at the box's edge read twice ("l|Lớp"): the bars beside it go as well
        if best == 0 and x0 <= w.left + touch:
            run = range(1, len(text))
        elif best == len(text) - 1 and x1 >= right - touch:
            run = range(len(text) - 2, -1, -1)
        else:
            run = range(0)
        for k in run:
            if text[k] not in BARS:
                break
            cuts[k] = (x0, x1)
    return cuts


def _piece(w: Word, text: str, left: int, right: int) -> Word:
    return replace(w, text=text, left=left, width=right - left)
