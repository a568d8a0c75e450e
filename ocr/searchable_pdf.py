"""Searchable PDF: each page image drawn full page under an invisible, selectable text layer.

The text uses tesseract's glyphless font as a Type0/Identity-H font: every character is
written as a two-byte code (its code point for the Basic Multilingual Plane) and a
ToUnicode map gives the character back, so any Unicode text (Vietnamese with stacked
diacritics, đ) copies and searches correctly. The JPEG bytes are embedded as they are.

Pages are written to the file as each is given (`ScanPdf` over `core.pdfstream`), so a
document of any length is written in the memory of one page; the archival master
(`archive.pdfa`) is written by the same `ScanPdf`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from kho.core.errors import BadInputError, MissingDependencyError
from kho.core.pdfstream import Name, PdfWriter, Ref
from kho.core.types import PageText
from kho.ocr.export import group_lines
from kho.ocr.tesseract import tessdata_dir

FONT = "/F1"
CHAR_WIDTH = 0.5  # em; every glyph of the glyphless font is half an em wide (DW 500)
EXTRA_CIDS = range(0xD800, 0xE000)  # surrogate codes are never characters: free for astral ones
COLORSPACES = {"L": "DeviceGray", "RGB": "DeviceRGB", "CMYK": "DeviceCMYK"}
Affine = tuple[float, float, float, float, float, float]


class _Codes:
    """Two-byte codes for characters: the code point in the BMP, a spare code otherwise."""

    def __init__(self) -> None:
        self.astral: dict[str, int] = {}
        self.used: set[str] = set()  # what the ToUnicode map must give back

    def code(self, char: str) -> int:
        self.used.add(char)
        point = ord(char)
        if point < 0x10000 and point not in EXTRA_CIDS:
            return point
        if char not in self.astral:
            if len(self.astral) >= len(EXTRA_CIDS):
                return 0xFFFD  # thousands of distinct astral characters: give up on the rest
            self.astral[char] = EXTRA_CIDS[len(self.astral)]
        return self.astral[char]

    def hex(self, text: str) -> str:
        return "".join(f"{self.code(c):04X}" for c in text)


def to_unicode_cmap(code: Callable[[str], int], chars: Iterable[str]) -> bytes:
    """A ToUnicode CMap giving back each character of `chars` from its two-byte `code`
    (<= 100 entries per block, as required)."""
    pairs = sorted({(code(c), c) for c in chars})
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(pairs), 100):
        block = pairs[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        lines += [f"<{code:04X}> <{c.encode('utf-16-be').hex().upper()}>" for code, c in block]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")


@dataclass(frozen=True, eq=False)
class PageImage:
    """A page's image as a PDF image XObject: its stream's bytes as encoded, the stream's
    entries (/Filter among them) and its pixel size."""

    data: bytes
    entries: dict
    width: int
    height: int


class ScanPdf:
    """A PDF of page images each under its invisible text, written page by page as each is
    given (`core.pdfstream`): memory holds one page at a time, whatever the page count.
    The glyphless font every page shares is written at the start but for its ToUnicode map
    (over the characters the pages used), written with the page tree at `finish`."""

    def __init__(self, out: BinaryIO, version: str = "1.7") -> None:
        font_path = tessdata_dir() / "pdf.ttf"
        try:
            ttf = font_path.read_bytes()
        except OSError as err:
            raise MissingDependencyError(
                f"glyphless font {font_path} missing: reinstall tesseract-ocr"
            ) from err
        self.pdf = PdfWriter(out, version)
        self.codes = _Codes()
        self._pages = self.pdf.reserve()
        self._font = self.pdf.reserve()
        self._cid_font = self._glyphless_font(ttf)
        self._kids: list[Ref] = []

    @property
    def pages(self) -> int:
        return len(self._kids)

    def _glyphless_font(self, ttf: bytes) -> Ref:
        """tesseract's glyphless font as the CIDFont under the pages' Type0 font."""
        pdf = self.pdf
        descriptor = {
            "Type": Name("FontDescriptor"),
            "FontName": Name("GlyphLessFont"),
            "Flags": 5,
            "FontBBox": [0, 0, 500, 1000],
            "ItalicAngle": 0,
            "Ascent": 1000,
            "Descent": -1,  # a character's box then runs from the baseline up one font size
            "CapHeight": 1000,
            "StemV": 80,
            "FontFile2": pdf.add_stream(ttf, {"Length1": len(ttf)}, compress=True),
        }
        cid_to_gid = b"\x00\x01" * 65536  # every code draws glyph 1 (blank)
        return pdf.add(
            {
                "Type": Name("Font"),
                "Subtype": Name("CIDFontType2"),
                "BaseFont": Name("GlyphLessFont"),
                "CIDSystemInfo": {"Registry": "Adobe", "Ordering": "Identity", "Supplement": 0},
                "FontDescriptor": pdf.add(descriptor),
                "DW": int(CHAR_WIDTH * 1000),
                "CIDToGIDMap": pdf.add_stream(cid_to_gid, compress=True),
            }
        )

    def add_page(
        self,
        image: PageImage,
        dpi: float,
        text: PageText,
        to_pdf: Callable[[float, float], Affine],
        rotate: int = 0,
    ) -> None:
        """One page: the image full page at `dpi`, the text over it placed by the affine
        `to_pdf(page_w, page_h)` gives; turned `rotate` degrees for display."""
        page_w, page_h = image.width * 72.0 / dpi, image.height * 72.0 / dpi
        ops = [f"q {page_w:.3f} 0 0 {page_h:.3f} 0 0 cm /Im0 Do Q"]
        ops += text_ops(text, self.codes, to_pdf(page_w, page_h))
        entries = {"Type": Name("XObject"), "Subtype": Name("Image")} | image.entries
        page = {
            "Type": Name("Page"),
            "Parent": self._pages,
            "MediaBox": [0, 0, round(page_w, 3), round(page_h, 3)],
            "Resources": {
                "XObject": {"Im0": self.pdf.add_stream(image.data, entries)},
                "Font": {"F1": self._font},
            },
            "Contents": self.pdf.add_stream("\n".join(ops).encode("ascii"), compress=True),
        }
        if rotate % 360:
            page["Rotate"] = rotate % 360
        self._kids.append(self.pdf.add(page))

    def finish(self, catalog: Mapping[str, object] | None = None, info: Ref | None = None) -> None:
        """The font's ToUnicode map, the page tree, the catalog (with `catalog`'s entries)
        and the trailer."""
        if not self._kids:
            raise ValueError("a PDF needs at least one page")
        pdf = self.pdf
        cmap = to_unicode_cmap(self.codes.code, self.codes.used | {" "})
        pdf.add(
            {
                "Type": Name("Font"),
                "Subtype": Name("Type0"),
                "BaseFont": Name("GlyphLessFont"),
                "Encoding": Name("Identity-H"),
                "DescendantFonts": [self._cid_font],
                "ToUnicode": pdf.add_stream(cmap, compress=True),
            },
            self._font,
        )
        pdf.add({"Type": Name("Pages"), "Kids": self._kids, "Count": len(self._kids)}, self._pages)
        root = pdf.add({"Type": Name("Catalog"), "Pages": self._pages, **(catalog or {})})
        pdf.finish(root, info)


def read_image(path: Path) -> PageImage:
    """A stored page image (a JPEG) as it is."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadInputError(f"cannot read page image {path}: {err}") from err
    return jpeg_image(data, f"page image {path}")


def jpeg_image(data: bytes, what: str) -> PageImage:
    """JPEG bytes as an image, untouched (no second lossy encoding). `what` names the image
    in the error a non-JPEG gets."""
    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            fmt, mode, (width, height) = im.format, im.mode, im.size
            adobe = "adobe" in im.info
    except OSError as err:
        raise BadInputError(f"cannot read {what}: {err}") from err
    if fmt != "JPEG" or mode not in COLORSPACES:
        raise BadInputError(f"{what} must be a gray, RGB or CMYK JPEG, not {fmt} {mode}")
    entries: dict = {
        "Width": width,
        "Height": height,
        "BitsPerComponent": 8,
        "ColorSpace": Name(COLORSPACES[mode]),
        "Filter": Name("DCTDecode"),
    }
    if mode == "CMYK" and adobe:  # Adobe writes CMYK JPEGs inverted
        entries["Decode"] = [1, 0] * 4
    return PageImage(data, entries, width, height)


def text_ops(text: PageText, codes: _Codes, to_pdf: Affine) -> list[str]:
    """Invisible text (render mode 3) over the page: each line one font size, each word
    stretched (Tz) to its box; a space after each word but the last keeps words apart when
    extracted. `to_pdf` (a, b, c, d, e, f) takes a point (x, y) of the boxes' pixels to
    (a*x + b*y + c, d*x + e*y + f) on the PDF page: a word on a turned or tilted scan gets
    a text matrix turned with it."""
    a, b, c, d, e, f = to_pdf
    along, up = math.hypot(a, d), math.hypot(b, e)  # points per pixel across, up the boxes
    turn = " ".join(_num(v) for v in (a / along, d / along, -b / up, -e / up))
    ops = ["BT", "3 Tr"]
    for line in group_lines([w for w in text.words if w.text.strip()]):
        top = min(w.top for w in line)
        bottom = max(w.top + w.height for w in line)
        size = max((bottom - top) * up, 1.0)
        ops.append(f"{FONT} {size:.2f} Tf")
        for i, w in enumerate(line):
            chars = w.text + (" " if i < len(line) - 1 else "")
            stretch = 100.0 * max(w.width, 1) * along / (len(w.text) * CHAR_WIDTH * size)
            x, y = a * w.left + b * bottom + c, d * w.left + e * bottom + f
            ops.append(f"{stretch:.2f} Tz {turn} {x:.2f} {y:.2f} Tm")
            ops.append(f"<{codes.hex(chars)}> Tj")
    ops.append("ET")
    return ops


def _num(v: float) -> str:
    """A matrix entry as short as it can be: 1, 0, -0.0523."""
    text = f"{v:.5f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def write_searchable_pdf(pages: Iterable[tuple[Path, PageText]], out: BinaryIO) -> None:
    """Write one PDF page per (JPEG page image, its text) to `out`: a file of the storage's
    writer (`core.storage.atomic_file`), so the PDF appears whole or not at all. `pages` is
    read one at a time (a generator keeps one page's image in memory)."""
    doc = ScanPdf(out)
    for path, text in pages:
        image = read_image(Path(path))
        # boxes refer to text.width x text.height pixels; the stored image may differ
        doc.add_page(image, text.dpi, text, partial(_stretched, text))
    doc.finish()


def _stretched(text: PageText, page_w: float, page_h: float) -> Affine:
    """The boxes' pixels spread over the whole page, y turned upwards."""
    sx, sy = page_w / max(text.width, 1), page_h / max(text.height, 1)
    return (sx, 0.0, 0.0, 0.0, -sy, page_h)
