"""The text layer of a born-digital PDF page, read with pdfplumber instead of OCR.

Boxes are given in pixels at the dpi the page would be rendered at, so a text-layer page
and an OCR'd page look the same to everything downstream.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import pdfplumber
from pdfplumber.page import Page

from ..core.errors import BadInputError
from ..core.types import PageText, Word
from .layout import lay_out

MIN_CHARS = 20  # fewer non-space characters than this: a scan with a stray label, OCR it
MAX_GARBLED = 0.03  # share of garbled characters above which the layer is not real text

# Latin-1 letters that are Vietnamese; the rest of U+00A0-U+00FF in quantity means text in a
# legacy 8-bit font (TCVN3/ABC, VNI) whose bytes were taken for Latin-1
_VIETNAMESE_LATIN1 = set("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")
_COMMON_SYMBOLS = set("«»°·§©®±×÷\u00a0")
_CID = re.compile(r"\(cid:\d+\)")  # pdfminer's stand-in for a glyph with no Unicode

# how text runs on a page shown turned by /Rotate (line progression, characters in a line),
# so a sideways page still reads line by line, left to right
_DIRECTIONS = {0: ("ttb", "ltr"), 90: ("rtl", "ttb"), 180: ("btt", "rtl"), 270: ("ltr", "btt")}


def _garbled_share(text: str) -> float:
    """Share of non-space characters that cannot be real Vietnamese or English text."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    bad = len(_CID.findall(text)) * 6  # '(cid:12)' is one glyph but ~8 chars; count it heavy
    for c in chars:
        code = ord(c)
        if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cc"):
            bad += 1
        elif 0xA0 <= code <= 0xFF and c not in _VIETNAMESE_LATIN1 and c not in _COMMON_SYMBOLS:
            bad += 1
    return bad / len(chars)


def page_text_layer(page: Page, dpi: int = 300) -> PageText | None:
    """Text and word boxes of an open pdfplumber page, or None if it has no usable text."""
    crop = _intersect(page.cropbox, page.bbox)  # what a renderer shows, so boxes fit it
    if crop != tuple(page.bbox):
        page = page.crop(crop)
    line_dir, char_dir = _DIRECTIONS.get(page.rotation, _DIRECTIONS[0])
    dirs = dict(
        line_dir=line_dir, char_dir=char_dir, line_dir_rotated=line_dir, char_dir_rotated=char_dir
    )
    try:
        raw = page.extract_text(**dirs, line_dir_render="ttb", char_dir_render="ltr")
        text = unicodedata.normalize("NFC", raw or "")
        if sum(not c.isspace() for c in text) < MIN_CHARS or _garbled_share(text) > MAX_GARBLED:
            return None
        raw_words = page.extract_words(**dirs)
    except MemoryError:
        raise  # the page is too big for the worker's memory limit, not a broken stream
    except Exception as err:  # pdfminer raises many types on broken content streams
        reason = str(err) or type(err).__name__
        raise BadInputError(f"cannot read the text of page {page.page_number}: {reason}") from err
    scale = dpi / 72.0
    x_origin, y_origin = page.bbox[0], page.bbox[1]
    words = tuple(
        Word(
            text=unicodedata.normalize("NFC", w["text"]),
            conf=-1.0,
            left=round((w["x0"] - x_origin) * scale),
            top=round((w["top"] - y_origin) * scale),
            width=max(1, round((w["x1"] - w["x0"]) * scale)),
            height=max(1, round((w["bottom"] - w["top"]) * scale)),
        )
        for w in raw_words
    )
    layer = PageText(
        text=text,
        confidence=100.0,
        words=words,
        # as PDFium sizes the rendered page (less a hair, so 1654.0000001 stays 1654)
        width=math.ceil(page.width * scale - 1e-6),
        height=math.ceil(page.height * scale - 1e-6),
        source="text-layer",
        dpi=dpi,
    )
    return lay_out(layer, rulings=_rulings(page, scale))


def _rulings(page: Page, scale: float) -> list[tuple[float, float, float, float]]:
    """The page's drawn lines and rectangle edges (x0, y0, x1, y1) in pixels: what a ruled
    table is drawn with."""
    x_origin, y_origin = page.bbox[0], page.bbox[1]
    segments = []
    for obj in (*page.lines, *page.rects):
        x0, x1 = (obj["x0"] - x_origin) * scale, (obj["x1"] - x_origin) * scale
        y0, y1 = (obj["top"] - y_origin) * scale, (obj["bottom"] - y_origin) * scale
        if obj["object_type"] == "line" or min(x1 - x0, y1 - y0) < 2 * scale:
            segments.append((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2) if x1 - x0 >= y1 - y0
                            else ((x0 + x1) / 2, y0, (x0 + x1) / 2, y1))  # fmt: skip
        else:  # a box: its four sides
            segments += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]
    return segments


def _intersect(a: tuple, b: tuple) -> tuple:
    x0, top, x1, bottom = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    return tuple(b) if x1 <= x0 or bottom <= top else (x0, top, x1, bottom)


MAX_CACHED_OBJECTS = 2000  # pdfminer's parsed dictionaries kept between pages, then dropped


def read_text_layer(pdf_path: Path, page_index: int, dpi: int = 300) -> PageText | None:
    """Open a PDF and read one page's text layer (0-based index); None if it has none."""
    with TextLayers(pdf_path) as pdf:
        return pdf.text(page_index, dpi)


def has_text_layer(pdf_path: Path, page_index: int) -> bool:
    """Whether a page carries real text, so OCR can be skipped."""
    return read_text_layer(pdf_path, page_index) is not None


class TextLayers:
    """A PDF open to read its pages' text layers one at a time, in any order, each page at
    the same cost whatever the file's length.

    pdfplumber's `pdf.pages` parses every page object of the file (and its close parses
    them all again), so a long PDF read one page per call would cost its length squared
    (25 million page objects for 5,000 pages). Here qpdf names the pages' objects once, and
    pdfminer parses only the page asked for, with the attributes it inherits from its page
    tree, merged as pdfminer's own walk merges them (each tree node worked out once).
    pdfminer keeps every object it parsed for the life of the file; past MAX_CACHED_OBJECTS
    they are dropped, so a file kept open over thousands of pages stays small.
    """

    def __init__(self, pdf_path: Path):
        self.path = Path(pdf_path)
        self.pdf = _open_plumber(self.path)
        self._objgens: list[tuple[int, int]] | None = None
        self._inherited: dict[int, dict] = {}  # page tree node -> what its pages inherit

    def __enter__(self) -> TextLayers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def count(self) -> int:
        """How many pages the file has."""
        return len(self._pages())

    def text(self, page_index: int, dpi: int = 300) -> PageText | None:
        """One page's text layer (0-based index), None if it has none; BadInputError if
        the file has no such page or it cannot be parsed."""
        page = self.page(page_index)
        try:
            return page_text_layer(page, dpi=dpi)
        finally:
            page.close()  # its parsed objects
            self._bound_cache()

    def page(self, page_index: int) -> Page:
        """Page `page_index` (0-based) as pdfplumber's Page; close it after use."""
        try:
            found = self._one_page(page_index)
            return found if found is not None else self.pdf.pages[page_index]
        except IndexError as err:
            raise BadInputError(
                f"{self.path.name} has {self.count()} pages, no page {page_index + 1}"
            ) from err
        except BadInputError:
            raise
        except Exception as err:
            raise BadInputError(
                f"cannot read page {page_index + 1} of {self.path.name}: {err}"
            ) from err

    def close(self) -> None:
        """Close the file. pdfplumber's own close makes every page object of the file to
        close it; the pages read here were closed one by one already."""
        pdf = self.pdf
        pdf.flush_cache()
        for page in getattr(pdf, "_pages", ()):  # only if the whole tree was walked
            page.close()
        if not pdf.stream_is_external:
            pdf.stream.close()

    def _pages(self) -> list[tuple[int, int]]:
        if self._objgens is None:
            import pikepdf

            with pikepdf.open(self.path) as qpdf:
                self._objgens = [page.objgen for page in qpdf.pages]
        return self._objgens

    def _one_page(self, page_index: int) -> Page | None:
        """Page `page_index` alone, or None if its object cannot be told (a direct page
        object, or a generation pdfminer does not key by: the caller walks the tree)."""
        from pdfminer.pdfpage import PDFPage
        from pdfminer.pdftypes import PDFObjRef, dict_value

        pages = self._pages()
        if not 0 <= page_index < len(pages):
            raise IndexError(page_index)
        objid, gen = pages[page_index]
        if not objid or gen:
            return None
        attrs = dict_value(self.pdf.doc.getobj(objid)).copy()
        parent = attrs.get("Parent")
        if isinstance(parent, PDFObjRef):
            for key, value in self._inherited_from(parent, objid).items():
                attrs.setdefault(key, value)
        return Page(self.pdf, PDFPage(self.pdf.doc, objid, attrs, None), page_number=page_index + 1)

    def _inherited_from(self, node, page_objid: int) -> dict:
        """The inheritable attributes a page tree node gives its pages: its own, then its
        ancestors' (the nearest wins). A loop in the tree ends where it comes back."""
        from pdfminer.pdfpage import PDFPage
        from pdfminer.pdftypes import PDFObjRef, dict_value

        chain: list[tuple[int, dict]] = []  # from `node` up to a node worked out before
        seen = {page_objid}
        while isinstance(node, PDFObjRef) and node.objid not in self._inherited:
            if node.objid in seen:
                break
            seen.add(node.objid)
            attrs = dict_value(node.resolve())
            chain.append((node.objid, attrs))
            node = attrs.get("Parent")
        given = self._inherited.get(node.objid, {}) if isinstance(node, PDFObjRef) else {}
        for objid, attrs in reversed(chain):
            given = {**given, **{k: attrs[k] for k in PDFPage.INHERITABLE_ATTRS if k in attrs}}
            self._inherited[objid] = given
        return given

    def _bound_cache(self) -> None:
        """pdfminer's caches have no bound: a page's streams (its contents, a scan's image:
        ~0.25 MB a scanned page) go after each page, the dictionaries (fonts, resources)
        past MAX_CACHED_OBJECTS, the parsed object streams each time."""
        from pdfminer.pdftypes import PDFStream

        cached = self.pdf.doc._cached_objs
        for objid in [k for k, (obj, _) in cached.items() if isinstance(obj, PDFStream)]:
            del cached[objid]
        if len(cached) > MAX_CACHED_OBJECTS:
            cached.clear()
        self.pdf.doc._parsed_objs.clear()


def _open_plumber(pdf_path: Path) -> pdfplumber.PDF:
    """Open with pdfplumber; a missing file is the storage's trouble (OSError propagates)."""
    try:
        return pdfplumber.open(pdf_path)
    except OSError:
        raise
    except Exception as err:  # pdfminer wraps PDFSyntaxError, PDFPasswordIncorrect, ...
        causes = [err, *err.args, err.__context__]
        if any("Password" in type(c).__name__ or "Encrypt" in type(c).__name__ for c in causes):
            raise BadInputError(
                f"{pdf_path.name} is encrypted: decrypt it with qpdf --decrypt"
            ) from err
        reason = str(err) or type(err.args[0] if err.args else err).__name__
        raise BadInputError(f"cannot open PDF {pdf_path.name}: {reason}") from err
