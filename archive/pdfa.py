"""PDF/A-2b archival masters of scanned records.

Circular 05/2025/TT-BNV wants the digitized copy of a paper record as a colour PDF at the
scan's own resolution, printed at 100%. Each page of a master holds the original scan's
pixels as scanned (colour kept, nothing cleaned; the page is pixels / dpi inches, turned
for display by /Rotate when the scan lay sideways or upside down) under the
invisible text OCR read, placed on those pixels through the inverse of cleanup's transform
(`PageText.alignment`): a word of a tilted page gets a text matrix tilted with it. PDF/A-2b
asks for the rest: the text's font embedded (tesseract's glyphless font, as the searchable
PDF has it), an sRGB OutputIntent with its ICC profile, XMP with pdfaid part 2 conformance
B and Dublin Core, a document info dictionary that says the same, no encryption, no actions.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import numpy as np
import pikepdf
from pikepdf import Array, Dictionary, Name, String

from kho.core.errors import BadInputError
from kho.core.types import Alignment, PageText
from kho.ocr.geometry import view_matrix
from kho.ocr.searchable_pdf import Affine, jpeg_image, text_font, text_ops

from .xmp import master_xmp, pdf_date

PRODUCER = "kho"
ZLIB_LEVEL = 6  # on colour A4 scans: 3 is twice as fast and ~4% larger
IDENTITY: Affine = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SRGB = "sRGB IEC61966-2.1"
# document info keys saying what XMP says (ISO 19005-2, 6.6.2.3.2)
INFO_KEYS = {"title": "/Title", "creator": "/Author", "description": "/Subject"}


@dataclass(frozen=True, eq=False)
class Scan:
    """A page of the original as scanned: its pixels (uint8 gray HxW or BGR HxWx3, as
    `SourceFile.render` gives them), their dpi, and the original's own JPEG bytes when they
    are these pixels (embedded as they are: no second lossy encoding)."""

    pixels: np.ndarray
    dpi: int
    jpeg: bytes = b""


def write_master_pdf(
    texts: Sequence[PageText],
    scans: Iterable[Scan],
    meta: Mapping[str, str],
    out: BinaryIO,
    created: datetime | None = None,
) -> None:
    """Write the PDF/A-2b master of one document to `out` (a file of the storage's writer):
    one page per scan, each with its page's text. `meta` holds Dublin Core entries (title,
    creator, date, identifier, language, description); `scans` is read one page at a time."""
    if not texts:
        raise ValueError("write_master_pdf needs at least one page")
    created = created or datetime.now(UTC).replace(microsecond=0)
    with pikepdf.new() as pdf:
        font, codes = text_font(pdf, texts)
        for text, scan in zip(texts, scans, strict=True):
            image, width, height = page_image(pdf, scan)
            page_w, page_h = width * 72.0 / scan.dpi, height * 72.0 / scan.dpi
            ops = [f"q {page_w:.3f} 0 0 {page_h:.3f} 0 0 cm /Im0 Do Q"]
            ops += text_ops(text, codes, text_to_page(alignment_of(text, scan), page_w, page_h))
            page = Dictionary(
                Type=Name.Page,
                MediaBox=Array([0, 0, round(page_w, 3), round(page_h, 3)]),
                Resources=Dictionary(XObject=Dictionary(Im0=image), Font=Dictionary(F1=font)),
                Contents=pdf.make_stream("\n".join(ops).encode("ascii")),
            )
            if text.rotation % 360:  # shown upright, its pixels left as scanned
                page.Rotate = text.rotation % 360
            pdf.pages.append(pikepdf.Page(page))
        describe(pdf, meta, created)
        pdf.save(
            out,
            min_version="1.7",
            deterministic_id=True,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,  # images stay as encoded here
        )


def page_image(pdf: pikepdf.Pdf, scan: Scan) -> tuple[pikepdf.Object, int, int]:
    """The scan as an image XObject: its JPEG bytes when it has gray or RGB ones, else its
    pixels without loss (1 bit for a black-and-white page, 8 bits gray or RGB otherwise),
    Flate-compressed (PNG's row predictors made real scans no smaller: their grain)."""
    if scan.jpeg:
        try:
            image, width, height = jpeg_image(pdf, scan.jpeg, "the original JPEG")
            if image.ColorSpace != Name.DeviceCMYK:  # PDF/A with an sRGB intent: no CMYK
                return image, width, height
        except BadInputError:
            pass  # a JPEG a PDF cannot carry as it is: its pixels below
    pixels = scan.pixels
    height, width = pixels.shape[:2]
    if pixels.ndim == 2 and is_black_and_white(pixels):
        rows, bits, space = np.packbits(pixels > 127, axis=1), 1, Name.DeviceGray
    elif pixels.ndim == 2:
        rows, bits, space = pixels, 8, Name.DeviceGray
    else:
        rows, bits, space = pixels[:, :, ::-1], 8, Name.DeviceRGB  # BGR -> RGB
    image = pikepdf.Stream(pdf, b"")
    image.write(
        zlib.compress(np.ascontiguousarray(rows).tobytes(), ZLIB_LEVEL), filter=Name.FlateDecode
    )
    image.Type, image.Subtype = Name.XObject, Name.Image
    image.Width, image.Height, image.BitsPerComponent = width, height, bits
    image.ColorSpace = space
    return image, width, height


def is_black_and_white(gray: np.ndarray) -> bool:
    """Whether a gray page holds only black and white (a 1-bit scan, as decoded)."""
    return not np.any((gray != 0) & (gray != 255))


def alignment_of(text: PageText, scan: Scan) -> Alignment:
    """Where the page's word boxes lie on the scan's pixels (at the dpi the page was read at).

    Recorded by cleanup for pages read since; a text layer's boxes are the page's own
    pixels; for an older page it is rebuilt from the turn and skew recorded, and when those
    do not give the boxes' image size the boxes are spread over the whole page.
    """
    if text.alignment is not None:
        return text.alignment
    h, w = scan.pixels.shape[:2]
    width, height = round(w * text.dpi / scan.dpi), round(h * text.dpi / scan.dpi)
    matrix, view_w, view_h = view_matrix(width, height, text.skew, text.rotation)
    if abs(view_w - text.width) <= 2 and abs(view_h - text.height) <= 2:
        return Alignment(matrix, width, height)
    return Alignment(IDENTITY, max(text.width, 1), max(text.height, 1))


def text_to_page(aligned: Alignment, page_w: float, page_h: float) -> Affine:
    """The affine from the word boxes' pixels to the page's points: back through the
    alignment onto the original, then its pixels scaled to the page, y turned upwards."""
    a, b, c, d, e, f = aligned.matrix
    back = np.linalg.inv(np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]]))
    sx, sy = page_w / aligned.width, page_h / aligned.height
    to_page = np.array([[sx, 0.0, 0.0], [0.0, -sy, page_h], [0.0, 0.0, 1.0]]) @ back
    m = to_page[:2].ravel()
    return (m[0], m[1], m[2], m[3], m[4], m[5])


def srgb_profile() -> bytes:
    """The sRGB ICC profile, as littleCMS builds it (a monitor-class profile)."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def describe(pdf: pikepdf.Pdf, meta: Mapping[str, str], created: datetime) -> None:
    """The parts of PDF/A-2b that are not pages: the sRGB OutputIntent, the XMP packet and
    a document info dictionary that says the same."""
    profile = pdf.make_stream(srgb_profile())
    profile.N = 3
    pdf.Root.OutputIntents = Array(
        [
            Dictionary(
                Type=Name.OutputIntent,
                S=Name.GTS_PDFA1,
                OutputConditionIdentifier=String(SRGB),
                Info=String(SRGB),
                DestOutputProfile=profile,
            )
        ]
    )
    meta = {k: v for k, v in meta.items() if str(v).strip()}
    xmp = pdf.make_stream(master_xmp(meta, created, PRODUCER))
    xmp.Type, xmp.Subtype = Name.Metadata, Name.XML
    pdf.Root.Metadata = xmp
    info = Dictionary(
        Producer=String(PRODUCER),
        Creator=String(PRODUCER),
        CreationDate=String(pdf_date(created)),
        ModDate=String(pdf_date(created)),
    )
    for key, name in INFO_KEYS.items():
        if key in meta:
            info[name] = String(str(meta[key]))
    pdf.trailer.Info = pdf.make_indirect(info)
