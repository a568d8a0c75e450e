"""The parts of an administrative page and the order a person reads them in.

A Decree 30 page has a two-column header (issuing body, "Số: ...", V/v block on the left;
national motto, place and date on the right), a centred title, the body (with ruled tables),
and a foot ("Nơi nhận:" list on the left, the signature block on the right). Tesseract and
pdfplumber read such a page line by line straight across both columns. `lay_out` finds
those regions from the words' boxes (and the ruling lines of tables, from the page image
or from a PDF's drawn lines) and gives the words back region by region, with `Region`s and
a text built the same way. A page with no header and no foot keeps its reader's order: one
body region. Cheap next to OCR (about 10-20 ms of CPU a page): a few passes over the words
and, for tables, a morphological opening of the page image at about 100 dpi (`tables`).
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from kho.core.types import PageText, Region, Word
from kho.ocr.rulings import clear_rulings
from kho.ocr.tables import Table, find_tables

HEADER_GAP = 3.5  # a vertical gap, in text heights, that ends the header
EDGE_BAND = 0.12  # share of the page height at the top and foot where page numbers sit

_MOTTO = ("cong hoa", "xa hoi chu nghia", "doc lap", "dang cong san")  # quốc hiệu, tiêu ngữ
_NUMBER_SLOT = re.compile(r"^s\S?\s*[:;.]")  # "Số:" as OCR reads it: "So:", "S6:", "Sô;"
_DATE = re.compile(r"\bngay\b.*\b(thang|nam)\b")
_RECIPIENTS = re.compile(r"^noi\s*nhan")
_SIGNER = re.compile(r"^(kt|tm|tl|q|ktl)\s*[.,]")
_PAGE_NUMBER = re.compile(r"^[-–(]?\s*\d{1,3}\s*[-–)]?$")


@dataclass
class _Part:
    """A region being built: its kind, its words (indices) and how to order them."""

    kind: str
    words: list[int]
    keep_order: bool = False  # True: the reader's order and lines (body); else by band
    box: tuple[int, int, int, int] | None = None
    row: int = -1
    col: int = -1


# --- entry point -------------------------------------------------------------------------------
def lay_out(
    page: PageText,
    image: np.ndarray | None = None,
    rulings: Sequence[tuple[float, float, float, float]] = (),
) -> PageText:
    """`page` with its words reordered region by region, its regions and its text rebuilt.

    `image` is the page image the boxes refer to (tables are found from its ruling lines);
    `rulings` are drawn line segments (x0, y0, x1, y1) in the same pixels, for pages with no
    image (a born-digital PDF's lines and rectangle edges).
    """
    words = [w for w in page.words if w.text.strip()]
    if not words:
        return replace(page, words=(), regions=(), text="")
    lines, blocks = _reader_lines(page, words)
    tables = find_tables(image, rulings, page.width, page.height, page.dpi)
    if tables:  # the rulings tesseract read as "|" and glued to words go (`rulings`)
        kept = clear_rulings(words, tables)
        words = [w for w, _ in kept]
        lines, blocks = [lines[i] for _, i in kept], [blocks[i] for _, i in kept]
        if not words:
            return replace(page, words=(), regions=(), text="")
    parts = _page_parts(words, tables, page.width, page.height)
    return _assemble(page, words, parts, lines, blocks)


def _reader_lines(page: PageText, words: list[Word]) -> tuple[list[int], list[int]]:
    """Each word's line and block number in the reader's order (tesseract's text lines and
    blocks when the text splits into the words; else lines by band, one block)."""
    line_of, block_of = [0] * len(words), [0] * len(words)
    if [w.text for w in words] == page.text.split():
        taken = line = block = 0
        for row in page.text.split("\n"):
            count = len(row.split())
            if not count:
                block += 1
                continue
            for i in range(taken, taken + count):
                line_of[i], block_of[i] = line, block
            taken += count
            line += 1
        return line_of, block_of
    for n, band in enumerate(_bands(words, list(range(len(words))))):
        for i in band:
            line_of[i] = n
    return line_of, block_of


# --- page geometry ----------------------------------------------------------------------------
def _fold(text: str) -> str:
    """Lower case without diacritics, as OCR often garbles them: 'Nơi nhận' -> 'noi nhan'."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _box(words: Sequence[Word]) -> tuple[int, int, int, int]:
    return (
        min(w.left for w in words),
        min(w.top for w in words),
        max(w.left + w.width for w in words),
        max(w.top + w.height for w in words),
    )


def _cx(w: Word) -> float:
    return w.left + w.width / 2


def _cy(w: Word) -> float:
    return w.top + w.height / 2


def _bands(words: Sequence[Word], indices: Sequence[int]) -> list[list[int]]:
    """Group words into text lines by vertical overlap; lines top to bottom, each left to
    right."""
    bands: list[list[int]] = []
    spans: list[tuple[float, float]] = []
    for i in sorted(indices, key=lambda i: _cy(words[i])):
        w = words[i]
        if spans:
            top, bottom = spans[-1]
            overlap = min(bottom, w.top + w.height) - max(top, w.top)
            if overlap >= 0.5 * min(bottom - top, w.height):
                bands[-1].append(i)
                # the band follows its words' median extent, so one tall glyph does not
                # swallow the next line
                tops = sorted(words[j].top for j in bands[-1])
                bottoms = sorted(words[j].top + words[j].height for j in bands[-1])
                spans[-1] = (tops[len(tops) // 2], bottoms[len(bottoms) // 2])
                continue
        bands.append([i])
        spans.append((w.top, w.top + w.height))
    return [sorted(b, key=lambda i: words[i].left) for b in bands]


@dataclass
class _Geometry:
    height: float  # median word height: the unit of gaps
    left: float  # the text area
    right: float

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2


def _geometry(words: Sequence[Word], bands: list[list[int]]) -> _Geometry:
    tall = [w.height for w in words if sum(c.isalnum() for c in w.text) >= 2] or [20]
    wide = [b for b in bands if len(b) >= 3] or bands
    # the body's margins: most full lines start and end there (not a stray mark's edge)
    lefts = sorted(words[b[0]].left for b in wide)
    rights = sorted(words[b[-1]].left + words[b[-1]].width for b in wide)
    return _Geometry(
        height=float(statistics.median(tall)),
        left=float(lefts[len(lefts) // 10]),
        right=float(rights[len(rights) - 1 - len(rights) // 10]),
    )


def _text(words: Sequence[Word], indices: Sequence[int]) -> str:
    return _fold(" ".join(words[i].text for i in indices))


# --- the regions --------------------------------------------------------------------------------
def _page_parts(words: list[Word], tables: list[Table], width: int, height: int) -> list[_Part]:
    """The page's parts in reading order, each with its word indices."""
    in_table = _cell_words(words, tables)
    filled = [t for t, _ in set(in_table.values())]
    if any(filled.count(t) < 2 for t in range(len(tables))):
        tables = [table for t, table in enumerate(tables) if filled.count(t) >= 2]
        in_table = _cell_words(words, tables)  # a grid with words in one cell is no table
    free = [i for i in range(len(words)) if i not in in_table]
    bands = _bands(words, free) if free else []
    geo = _geometry(words, bands) if bands else _Geometry(20.0, 0.0, float(width))
    taken: set[int] = set()

    top_other, bottom_other = _page_numbers(words, bands, height)
    taken.update(i for b in top_other + bottom_other for i in b)
    rest = [b for b in bands if not set(b) & taken]
    header, header_end = _header(words, rest, geo, height)
    taken.update(i for p in header for i in p.words)
    rest = rest[header_end:]
    foot, foot_start = _foot(words, rest, geo, height)
    taken.update(i for p in foot for i in p.words)
    middle = rest[:foot_start]
    title = _title(words, middle, geo) if header else []
    taken.update(i for b in title for i in b)

    parts = [_Part("other", b) for b in top_other] + header
    if title:
        parts.append(_Part("title", [i for b in title for i in b]))
    body = [i for i in free if i not in taken]
    parts += _body_and_tables(words, body, tables, in_table)
    return parts + foot + [_Part("other", b) for b in bottom_other]


def _page_numbers(
    words: list[Word], bands: list[list[int]], height: int
) -> tuple[list[list[int]], list[list[int]]]:
    """A lone number ("4", "- 2 -") as the first or last line, near the page's top or foot
    (centred or in a corner): the page number."""

    def is_number(band: list[int], near: bool) -> bool:
        return near and bool(_PAGE_NUMBER.match(" ".join(words[i].text for i in band)))

    top = (
        bands[:1]
        if bands and is_number(bands[0], _cy(words[bands[0][0]]) < EDGE_BAND * height)
        else []
    )
    rest = bands[len(top) :]
    low = bool(rest) and _cy(words[rest[-1][0]]) > (1 - EDGE_BAND) * height
    bottom = rest[-1:] if rest and is_number(rest[-1], low) else []
    return top, bottom


def _motto(
    words: list[Word], bands: list[list[int]], geo: _Geometry, height: int
) -> tuple[int, list[int]]:
    """The band holding the national motto (or the tiêu ngữ) in the top of the page, and the
    motto's words; (-1, []) when the page has none."""
    for n, band in enumerate(bands):
        if words[band[0]].top > 0.4 * height:
            break
        folded = [_fold(words[i].text) for i in band]
        for start in range(len(band)):
            tail = " ".join(folded[start:])
            if any(tail.startswith(m) for m in _MOTTO) and _starts_column(words, band, start, geo):
                return n, band[start:]
    return -1, []


def _starts_column(words: list[Word], band: list[int], start: int, geo: _Geometry) -> bool:
    """Whether band[start] opens a right-hand column: right of the text area's first
    quarter, after a column gap (not a word space) if words stand left of it."""
    if words[band[start]].left < geo.left + 0.25 * (geo.right - geo.left):
        return False
    return start == 0 or _is_column_gap(words, band, start)


def _is_column_gap(words: list[Word], band: list[int], k: int) -> bool:
    """Whether the gap before band[k] (a band's words left to right) is wider than a word
    space: several times the band's usual gap, and more than half a text height."""
    gaps = [words[b].left - (words[a].left + words[a].width) for a, b in pairwise(band)]
    gap, usual = gaps[k - 1], statistics.median(gaps)
    return gap >= max(0.6 * words[band[k]].height, 2.5 * usual)


def _split(words: list[Word], band: list[int], x: float) -> tuple[list[int], list[int]]:
    return [i for i in band if _cx(words[i]) < x], [i for i in band if _cx(words[i]) >= x]


def _header(
    words: list[Word], bands: list[list[int]], geo: _Geometry, height: int
) -> tuple[list[_Part], int]:
    """Header-left and header-right parts (the issuer and motto band, then the number and
    date band), and how many bands they took; ([], 0) on a page with no header."""
    at, motto = _motto(words, bands, geo, height)
    if at < 0:
        return [], 0
    motto_box = _box([words[i] for i in motto])
    # the column gap: between the motto and the widest issuer line beside it
    ends = [words[i].left + words[i].width for b in bands[: at + 3] for i in b]
    issuer_end = max((e for e in ends if e < motto_box[0] - 0.3 * geo.height), default=None)
    split = motto_box[0] - geo.height if issuer_end is None else (issuer_end + motto_box[0]) / 2
    motto_centre = (motto_box[0] + motto_box[2]) / 2
    left_centre = geo.left + (split - geo.left) / 2
    end, bottom = 0, 0
    for n, band in enumerate(bands):
        box = _box([words[i] for i in band])
        if n > at and not _is_header_band(words, band, split, geo, left_centre, motto_centre):
            break
        if n > at and box[1] - bottom > HEADER_GAP * geo.height:
            break
        end, bottom = n + 1, max(bottom, box[3])
    lefts, rights = zip(*(_split(words, b, split) for b in bands[:end]), strict=True)
    lower = _lower_band(words, list(lefts), list(rights))
    parts = [
        _Part("header-left", [i for b in lefts[:lower] for i in b]),
        _Part("header-right", [i for b in rights[:lower] for i in b]),
        _Part("header-left", [i for b in lefts[lower:] for i in b]),
        _Part("header-right", [i for b in rights[lower:] for i in b]),
    ]
    return [p for p in parts if p.words], end


def _is_header_band(
    words: list[Word],
    band: list[int],
    split: float,
    geo: _Geometry,
    left_centre: float,
    right_centre: float,
) -> bool:
    """Whether a band below the motto still belongs to the two header columns: nothing
    straddles the column gap, and each side sits in its column, not centred on the page."""
    if any(words[i].left < split < words[i].left + words[i].width for i in band):
        return False
    left, right = _split(words, band, split)
    if left and right and not _is_column_gap(words, band, len(left)):
        return False
    for side, centre in ((left, left_centre), (right, right_centre)):
        if side:
            box = _box([words[i] for i in side])
            middle = (box[0] + box[2]) / 2
            if abs(middle - centre) >= abs(middle - geo.centre):
                return False
    return True


def _lower_band(words: list[Word], lefts: list[list[int]], rights: list[list[int]]) -> int:
    """The first header band of the number and date ("Số: ...", "..., ngày ... tháng ...")."""
    for n, (left, right) in enumerate(zip(lefts, rights, strict=True)):
        if n and (
            (left and _NUMBER_SLOT.match(_text(words, left)))
            or (right and _DATE.search(_text(words, right)))
        ):
            return n
    return len(lefts)


def _foot(
    words: list[Word], bands: list[list[int]], geo: _Geometry, height: int
) -> tuple[list[_Part], int]:
    """Recipients (left) and signature (right) parts of the foot, and the band it starts
    at; ([], len(bands)) when the page has no "Nơi nhận" list or signer line."""
    start = next(
        (
            n
            for n, band in enumerate(bands)
            if any(_RECIPIENTS.match(_text(words, band[k:])) for k in range(len(band)))
            and (n > 0 or words[band[0]].top > 0.25 * height)  # below the header's lines
        ),
        None,
    )
    if start is None:
        start = next(
            (
                n
                for n, band in enumerate(bands)
                if (n > 1 or words[band[0]].top > 0.4 * height)
                and _SIGNER.match(_text(words, band))
                and words[band[0]].left > geo.centre - 0.1 * (geo.right - geo.left)
            ),
            None,
        )
    if start is None:
        return [], len(bands)
    split = _foot_split(words, [i for b in bands[start:] for i in b], geo)
    if split is None:  # no gap between two columns: a foot typed as plain lines
        return [_Part("recipients", [i for b in bands[start:] for i in b], keep_order=True)], start
    # a signer line or two ("TM. ỦY BAN NHÂN DÂN") may sit just above the "Nơi nhận" line
    while start > 0:
        above = bands[start - 1]
        below_top = min(words[i].top for i in bands[start])
        box = _box([words[i] for i in above])
        if box[0] < split or below_top - box[3] > 2 * geo.height:
            break
        start -= 1
    foot = [i for b in bands[start:] for i in b]
    return [
        _Part("recipients", [i for i in foot if _cx(words[i]) < split]),
        _Part("signature", [i for i in foot if _cx(words[i]) >= split]),
    ], start


def _foot_split(words: list[Word], foot: list[int], geo: _Geometry) -> float | None:
    """The x of the gap between the recipients and the signature: the middle of the widest
    run free of words in the middle half of the text area; None if there is none."""
    lo, hi = geo.left + 0.25 * (geo.right - geo.left), geo.left + 0.75 * (geo.right - geo.left)
    steps = 200
    xs = np.linspace(lo, hi, steps)
    cover = np.zeros(steps, dtype=int)
    for i in foot:
        w = words[i]
        cover += (xs >= w.left) & (xs <= w.left + w.width)
    if cover.min() > 0:
        return None
    best, run, best_at = 0, 0, steps // 2
    for k in range(steps):
        run = run + 1 if cover[k] == 0 else 0
        if run > best:
            best, best_at = run, k - run // 2
    return float(xs[best_at])


def _title(words: list[Word], bands: list[list[int]], geo: _Geometry) -> list[list[int]]:
    """The centred lines right under the header: document type, subject, authority line."""
    title = []
    for band in bands[:10]:
        box = _box([words[i] for i in band])
        left, right = box[0] - geo.left, geo.right - box[2]
        centred = (
            min(left, right) > 0.5 * geo.height
            and abs(left - right) < 0.15 * (geo.right - geo.left) + 2 * geo.height
        )
        if not centred:
            break
        title.append(band)
    return title


def _body_and_tables(
    words: list[Word], body: list[int], tables: list[Table], in_table: dict[int, tuple[int, int]]
) -> list[_Part]:
    """Body parts in the reader's order, cut where a table sits, each table then its cells."""
    parts: list[_Part] = []
    rest = body
    for t, table in sorted(enumerate(tables), key=lambda tt: tt[1].box[1]):
        above = [i for i in rest if _cy(words[i]) < table.box[1]]
        rest = [i for i in rest if _cy(words[i]) >= table.box[1]]
        if above:
            parts.append(_Part("body", above, keep_order=True))
        cells = [
            _Part(
                "cell",
                [i for i, tc in in_table.items() if tc == (t, c)],
                box=cell.box,
                row=cell.row,
                col=cell.col,
            )
            for c, cell in enumerate(table.cells)
        ]
        parts.append(_Part("table", [i for p in cells for i in p.words], box=table.box))
        parts += cells
    if rest:
        parts.append(_Part("body", rest, keep_order=True))
    return parts


def _cell_words(words: list[Word], tables: list[Table]) -> dict[int, tuple[int, int]]:
    """(table, cell) of each word whose centre is inside a table."""
    found: dict[int, tuple[int, int]] = {}
    for i, w in enumerate(words):
        x, y = _cx(w), _cy(w)
        for t, table in enumerate(tables):
            left, top, right, bottom = table.box
            if left <= x <= right and top <= y <= bottom:
                found[i] = (t, table.cell_at(x, y))
                break
    return found


# --- words, regions and text --------------------------------------------------------------------
def _assemble(
    page: PageText, words: list[Word], parts: list[_Part], line_of: list[int], block_of: list[int]
) -> PageText:
    """Words region by region, their regions, and the text: a line per text line, a blank
    line between paragraphs and between regions."""
    out: list[Word] = []
    regions: list[Region] = []
    chunks: list[str] = []
    for part in parts:
        if part.kind == "table":
            first = len(out)
            count = len(part.words)
            regions.append(_region(part, words, first, count))
            continue
        if not part.words and part.kind != "cell":
            continue
        rows = _part_lines(words, part, line_of, block_of)
        regions.append(_region(part, words, len(out), len(part.words)))
        text_rows: list[str] = []
        for row in rows:
            if row is None:
                text_rows.append("")
                continue
            out.extend(words[i] for i in row)
            text_rows.append(" ".join(words[i].text for i in row))
        if text_rows:
            chunks.append("\n".join(text_rows))
    return replace(page, words=tuple(out), regions=tuple(regions), text="\n\n".join(chunks))


def _part_lines(
    words: list[Word], part: _Part, line_of: list[int], block_of: list[int]
) -> list[list[int] | None]:
    """The part's text lines (None: a paragraph break)."""
    if not part.keep_order:
        return list(_bands(words, part.words))
    rows: list[list[int] | None] = []
    last_line = last_block = None
    for i in sorted(part.words):
        if line_of[i] != last_line:
            if last_block is not None and block_of[i] != last_block:
                rows.append(None)
            rows.append([])
            last_line, last_block = line_of[i], block_of[i]
        rows[-1].append(i)  # type: ignore[union-attr]
    return rows


def _region(part: _Part, words: list[Word], first: int, count: int) -> Region:
    box = part.box or _box([words[i] for i in part.words])
    return Region(
        kind=part.kind,
        left=box[0],
        top=box[1],
        width=box[2] - box[0],
        height=box[3] - box[1],
        first=first,
        count=count,
        row=part.row,
        col=part.col,
    )
