"""Searchable PDF: each page image drawn full page under an invisible, selectable text layer.

The text uses tesseract's glyphless font as a Type0/Identity-H font: every character is
written as a two-byte code (its code point for the Basic Multilingual Plane) and a
ToUnicode map gives the character back, so any Unicode text (Vietnamese with stacked
diacritics, đ) copies and searches correctly. The JPEG bytes are embedded as they are.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

import pikepdf
from pikepdf import Array, Dictionary, Name
from PIL import Image

from ..core.errors import BadInputError, MissingDependencyError
from ..core.types import PageText
from .export import group_lines
from .tesseract import tessdata_dir

FONT = "/F1"
CHAR_WIDTH = 0.5  # em; every glyph of the glyphless font is half an em wide (DW 500)
EXTRA_CIDS = range(0xD800, 0xE000)  # surrogate codes are never characters: free for astral ones
COLORSPACES = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}
Affine = tuple[float, float, float, float, float, float]


class _Codes:
    """Two-byte codes for characters: the code point in the BMP, a spare code otherwise."""

    def __init__(self) -> None:
        self.astral: dict[str, int] = {}

    def code(self, char: str) -> int:
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


def text_font(pdf: pikepdf.Pdf, texts: Iterable[PageText]) -> tuple[pikepdf.Object, _Codes]:
    """The invisible text's font for pages holding `texts`, and the codes to write them in."""
    codes = _Codes()
    chars = sorted({c for text in texts for w in text.words for c in w.text} | {" "})
    for c in chars:  # in a fixed order, so the same pages always give the same file
        codes.code(c)
    return _font(pdf, codes, chars), codes


def _font(pdf: pikepdf.Pdf, codes: _Codes, chars: Iterable[str]) -> pikepdf.Object:
    """The glyphless Type0 font shared by every page."""
    font_path = tessdata_dir() / "pdf.ttf"
    try:
        ttf = font_path.read_bytes()
    except OSError as err:
        raise MissingDependencyError(
            f"glyphless font {font_path} missing: reinstall tesseract-ocr"
        ) from err
    font_file = pdf.make_stream(ttf)
    font_file.Length1 = len(ttf)
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name.GlyphLessFont,
        Flags=5,
        FontBBox=Array([0, 0, 500, 1000]),
        ItalicAngle=0,
        Ascent=1000,
        Descent=-1,  # a character's box then runs from the baseline up one font size
        CapHeight=1000,
        StemV=80,
        FontFile2=font_file,
    )
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name.GlyphLessFont,
        CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=int(CHAR_WIDTH * 1000),
        CIDToGIDMap=pdf.make_stream(b"\x00\x01" * 65536),  # every code draws glyph 1 (blank)
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=Name.GlyphLessFont,
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([pdf.make_indirect(cid_font)]),
            ToUnicode=pdf.make_stream(to_unicode_cmap(codes.code, chars)),
        )
    )


def _image(pdf: pikepdf.Pdf, path: Path) -> tuple[pikepdf.Object, int, int]:
    """The JPEG as an image XObject, bytes untouched; with its pixel size."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadInputError(f"cannot read page image {path}: {err}") from err
    return jpeg_image(pdf, data, f"page image {path}")


def jpeg_image(pdf: pikepdf.Pdf, data: bytes, what: str) -> tuple[pikepdf.Object, int, int]:
    """JPEG bytes as an image XObject, untouched (no second lossy encoding); with its pixel
    size. `what` names the image in the error a non-JPEG gets."""
    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            fmt, mode, (width, height) = im.format, im.mode, im.size
            adobe = "adobe" in im.info
    except OSError as err:
        raise BadInputError(f"cannot read {what}: {err}") from err
    if fmt != "JPEG" or mode not in COLORSPACES:
        raise BadInputError(f"{what} must be a gray, RGB or CMYK JPEG, not {fmt} {mode}")
    image = pdf.make_stream(data)
    image.Type, image.Subtype = Name.XObject, Name.Image
    image.Width, image.Height, image.BitsPerComponent = width, height, 8
    image.ColorSpace = Name(COLORSPACES[mode])
    image.Filter = Name.DCTDecode
    if mode == "CMYK" and adobe:  # Adobe writes CMYK JPEGs inverted
        image.Decode = Array([1, 0] * 4)
    return image, width, height


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


def write_searchable_pdf(pages: Sequence[tuple[Path, PageText]], out: BinaryIO) -> None:
    """Write one PDF page per (JPEG page image, its text) to `out`: a file of the storage's
    writer (`core.storage.atomic_file`), so the PDF appears whole or not at all."""
    if not pages:
        raise ValueError("write_searchable_pdf needs at least one page")
    with pikepdf.new() as pdf:
        font, codes = text_font(pdf, (text for _, text in pages))
        for path, text in pages:
            image, width, height = _image(pdf, Path(path))
            page_w, page_h = width * 72.0 / text.dpi, height * 72.0 / text.dpi
            # boxes refer to text.width x text.height pixels; the stored image may differ
            sx, sy = page_w / max(text.width, 1), page_h / max(text.height, 1)
            ops = [f"q {page_w:.3f} 0 0 {page_h:.3f} 0 0 cm /Im0 Do Q"]
            ops += text_ops(text, codes, (sx, 0.0, 0.0, 0.0, -sy, page_h))
            page = Dictionary(
                Type=Name.Page,
                MediaBox=Array([0, 0, round(page_w, 3), round(page_h, 3)]),
                Resources=Dictionary(XObject=Dictionary(Im0=image), Font=Dictionary(F1=font)),
                Contents=pdf.make_stream("\n".join(ops).encode("ascii")),
            )
            pdf.pages.append(pikepdf.Page(page))
        pdf.save(out, deterministic_id=True)
