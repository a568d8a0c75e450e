"""Use copies: what a reader is given instead of a record's master (users get copies, never
masters). Every page carries a visible footer naming the copy's recipient and time, in
Vietnamese, drawn with an embedded subset of DejaVu Sans (Debian's fonts-dejavu-core, which
`scripts/setup` installs: it has every Vietnamese letter); the XMP names them too, in kho's
own namespace with the extension schema PDF/A asks for, so a PDF/A-2b master gives a
PDF/A-2b use copy.
"""

from __future__ import annotations

import hashlib
import io
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pikepdf
from pikepdf import Array, Dictionary, Name

from kho.core.errors import BadInputError, MissingDependencyError
from kho.core.storage import Storage
from kho.ocr.searchable_pdf import to_unicode_cmap

from . import fonts
from .xmp import Property, with_properties, xmp_date

if TYPE_CHECKING:
    from fontTools.ttLib import TTFont

FOOTER = "Bản sao sử dụng — cấp cho {recipient}, {when:%d/%m/%Y %H:%M} — không thay bản gốc lưu trữ"
NAMESPACE = "http://ns.kho.local/use-copy/1.0/"
PREFIX = "khocopy"
SIZE = 8.0  # points; smaller on a page too narrow for the line, down to MIN_SIZE
MIN_SIZE = 4.0
MARGIN = 6.0  # points between the footer and the page's edges
RESOURCE = "/KhoUseCopy"


@dataclass(frozen=True)
class _Font:
    """The footer's font in one PDF: the font object and each character's glyph and width."""

    obj: pikepdf.Object
    glyphs: dict[str, int]
    widths: dict[str, float]  # per 1000 units of the font size

    def width(self, text: str, size: float) -> float:
        return sum(self.widths[c] for c in text) * size / 1000.0

    def hex(self, text: str) -> str:
        return "".join(f"{self.glyphs[c]:04X}" for c in text)


def use_copy(
    pdf_bytes: bytes, recipient: str, when: datetime, font_file: Path | None = None
) -> bytes:
    """`pdf_bytes` as a use copy given to `recipient` at `when`: the footer on every page,
    the recipient and the time in its XMP. A PDF/A-2b source stays PDF/A-2b."""
    out = io.BytesIO()
    write_use_copy(io.BytesIO(pdf_bytes), out, recipient, when, font_file)
    return out.getvalue()


def write_use_copy(
    source: Path | BinaryIO,
    out: BinaryIO,
    recipient: str,
    when: datetime,
    font_file: Path | None = None,
) -> None:
    """`use_copy` from a file to a file: the source's pages are read from it as they are
    written (a dossier of thousands of pages is never held in memory)."""
    try:
        pdf = pikepdf.open(source)
    except pikepdf.PdfError as err:
        raise BadInputError(f"cannot make a use copy of a damaged PDF: {err}") from err
    with pdf:
        text = FOOTER.format(recipient=recipient, when=when)
        font = _footer_font(pdf, font_file or fonts.font_file(), text)
        line = _printable(text, font)
        for page in pdf.pages:
            _stamp(pdf, page, font, line)
        _note_in_xmp(pdf, recipient, when)
        pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none)


def use_copy_of(storage: Storage, doc_id: str, recipient: str, when: datetime) -> bytes:
    """The use copy of a stored document: of its master when it has one, else of the PDF
    kho serves (the searchable PDF, or a born-digital original without active content).
    FileNotFoundError when neither is there yet."""
    master = storage.master_pdf(doc_id)
    source = master if master.exists() else storage.searchable_pdf(doc_id)
    return use_copy(source.read_bytes(), recipient, when)


def _printable(text: str, font: _Font) -> str:
    """The footer as the font can draw it: composed (NFC), control characters dropped, a
    character it has no glyph for as "?" (PDF/A forbids drawing the missing glyph)."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    return "".join(c if c in font.glyphs else "?" for c in text)


def _footer_font(pdf: pikepdf.Pdf, font_file: Path, text: str) -> _Font:
    """DejaVu Sans cut down to the glyphs of `text` (and "?"), as a Type0 font."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    try:
        font = TTFont(str(font_file))
    except OSError as err:
        raise MissingDependencyError(
            f"use copies need the font {font_file}: apt-get install fonts-dejavu-core"
        ) from err
    have = font.getBestCmap()
    chars = sorted({c for c in unicodedata.normalize("NFC", text) if ord(c) in have} | {"?"})
    options = subset.Options()
    options.hinting = False
    options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing to draw with
    options.layout_features = []  # the footer is drawn glyph by glyph, no shaping
    options.name_IDs = ["*"]  # keep the licence and names
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    data = io.BytesIO()
    font.save(data)
    cmap, per_em = font.getBestCmap(), font["head"].unitsPerEm
    glyphs = {c: font.getGlyphID(cmap[ord(c)]) for c in chars}
    widths = {c: round(font["hmtx"][cmap[ord(c)]][0] * 1000 / per_em, 3) for c in chars}
    return _Font(_font_object(pdf, font, data.getvalue(), glyphs, widths), glyphs, widths)


def _font_object(
    pdf: pikepdf.Pdf, font: TTFont, data: bytes, glyphs: dict[str, int], widths: dict[str, float]
) -> pikepdf.Object:
    """The Type0 font over the subset `data` of `font`: codes are glyph ids (Identity),
    widths as the font program has them, a ToUnicode map back to the characters."""
    scale = 1000 / font["head"].unitsPerEm
    head, hhea, os2 = font["head"], font["hhea"], font["OS/2"]
    digest = hashlib.sha256("".join(sorted(glyphs)).encode()).digest()
    tag = "".join(string.ascii_uppercase[b % 26] for b in digest[:6])
    name = Name(f"/{tag}+DejaVuSans")  # a subset's name: six letters and a plus sign
    program = pdf.make_stream(data)
    program.Length1 = len(data)
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=name,
        Flags=32,  # nonsymbolic: Latin letters
        FontBBox=Array([round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)]),
        ItalicAngle=0,
        Ascent=round(hhea.ascent * scale),
        Descent=round(hhea.descent * scale),
        CapHeight=round(getattr(os2, "sCapHeight", hhea.ascent) * scale),
        StemV=80,
        FontFile2=program,
    )
    w = Array()
    for c in sorted(glyphs, key=glyphs.get):
        w.extend([glyphs[c], Array([widths[c]])])
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=name,
        CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=1000,
        W=w,
        CIDToGIDMap=Name.Identity,
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=name,
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([pdf.make_indirect(cid_font)]),
            ToUnicode=pdf.make_stream(to_unicode_cmap(glyphs.__getitem__, glyphs)),
        )
    )


def _stamp(pdf: pikepdf.Pdf, page: pikepdf.Page, font: _Font, line: str) -> None:
    """Draw `line` at the bottom of the page as it is shown (its /Rotate taken into
    account), black on a white band, after the page's own content."""
    x0, y0, x1, y1 = (float(v) for v in page.obj.get("/CropBox", page.mediabox))
    rotate = int(page.obj.get("/Rotate", 0)) % 360
    shown_w = (x1 - x0) if rotate in (0, 180) else (y1 - y0)
    # from the shown page's corner (bottom left, x right, y up) to the page's own space
    turn = {
        0: (1, 0, 0, 1, x0, y0),
        90: (0, 1, -1, 0, x1, y0),
        180: (-1, 0, 0, -1, x1, y1),
        270: (0, -1, 1, 0, x0, y1),
    }[rotate]
    size = SIZE
    width = font.width(line, size)
    if width > shown_w - 2 * MARGIN:
        size = max(MIN_SIZE, size * (shown_w - 2 * MARGIN) / max(width, 1.0))
        width = font.width(line, size)
    x = max(MARGIN, (shown_w - width) / 2)
    name = page.add_resource(font.obj, Name.Font, Name(RESOURCE))
    ops = (
        "Q q {} cm 1 g {:.2f} {:.2f} {:.2f} {:.2f} re f 0 g BT {} {:.2f} Tf {:.2f} {:.2f} Td "
        "<{}> Tj ET Q"
    ).format(
        " ".join(f"{v:g}" for v in turn),
        x - 2,
        MARGIN - 0.3 * size,
        width + 4,
        1.3 * size,
        name,
        size,
        x,
        MARGIN,
        font.hex(line),
    )
    page.contents_add(pdf.make_stream(b"q"), prepend=True)  # the page's own state ends at Q
    page.contents_add(pdf.make_stream(ops.encode("ascii")))


def _note_in_xmp(pdf: pikepdf.Pdf, recipient: str, when: datetime) -> None:
    """The recipient and the time in the copy's XMP (kho's namespace, described)."""
    old = pdf.Root.get("/Metadata")
    packet = old.read_bytes() if isinstance(old, pikepdf.Stream) else None
    props = [
        Property("recipient", "Text", recipient, "Who this use copy was given to"),
        Property("issued", "Date", xmp_date(when), "When this use copy was given"),
        Property("master", "Boolean", "False", "A use copy, not the archival master"),
    ]
    stream = pdf.make_stream(with_properties(packet, NAMESPACE, PREFIX, "kho use copy", props))
    stream.Type, stream.Subtype = Name.Metadata, Name.XML
    pdf.Root.Metadata = stream
