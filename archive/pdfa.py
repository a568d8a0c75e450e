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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import BinaryIO

import cv2
import numpy as np
from zlib_ng import zlib_ng

from kho.core.errors import BadInputError
from kho.core.pdfstream import Name, PdfWriter, Ref
from kho.core.types import Alignment, PageText
from kho.ocr.geometry import view_matrix
from kho.ocr.searchable_pdf import Affine, PageImage, ScanPdf, jpeg_image

from .xmp import master_xmp, pdf_date

PRODUCER = "kho"
# zlib-ng's deflate at zlib's default level: streams any inflater reads, as small as zlib's
# at a third of its time (colour A4 scan: 102 ms, 2.89 MB; zlib 243 ms, 2.85 MB)
ZLIB_LEVEL = 6
IDENTITY: Affine = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
SRGB = "sRGB IEC61966-2.1"
# document info keys saying what XMP says (ISO 19005-2, 6.6.2.3.2)
INFO_KEYS = {"title": "Title", "creator": "Author", "description": "Subject"}


@dataclass(frozen=True, eq=False)
class Scan:
    """A page of the original as scanned: its pixels (uint8 gray HxW or BGR HxWx3, as
    `SourceFile.render` gives them), their dpi, and the original's own JPEG bytes when they
    are these pixels (embedded as they are: no second lossy encoding)."""

    pixels: np.ndarray
    dpi: int
    jpeg: bytes = b""


def write_master_pdf(
    texts: Iterable[PageText],
    scans: Iterable[Scan],
    meta: Mapping[str, str],
    out: BinaryIO,
    created: datetime | None = None,
) -> None:
    """Write the PDF/A-2b master of one document to `out` (a file of the storage's writer):
    one page per scan, each with its page's text. `meta` holds Dublin Core entries (title,
    creator, date, identifier, language, description); `texts` and `scans` are read one
    page at a time, and each page is written before the next is read."""
    created = created or datetime.now(UTC).replace(microsecond=0)
    doc = ScanPdf(out, version="1.7")
    for text, scan in zip(texts, scans, strict=True):
        to_page = partial(text_to_page, alignment_of(text, scan))
        doc.add_page(page_image(scan), scan.dpi, text, to_page, rotate=text.rotation)
    if not doc.pages:
        raise ValueError("write_master_pdf needs at least one page")
    catalog, info = describe(doc.pdf, meta, created)
    doc.finish(catalog, info)


def page_image(scan: Scan) -> PageImage:
    """The scan as an image: its JPEG bytes when it has gray or RGB ones, else its
    pixels without loss (1 bit for a black-and-white page, 8 bits gray or RGB otherwise),
    Flate-compressed (PNG's row predictors made real scans no smaller: their grain) by
    zlib-ng."""
    if scan.jpeg:
        try:
            image = jpeg_image(scan.jpeg, "the original JPEG")
            if image.entries["ColorSpace"] != "DeviceCMYK":  # PDF/A, an sRGB intent: no CMYK
                return image
        except BadInputError:
            pass  # a JPEG a PDF cannot carry as it is: its pixels below
    pixels = scan.pixels
    height, width = pixels.shape[:2]
    rows: np.ndarray
    if pixels.ndim == 2 and is_black_and_white(pixels):
        rows, bits, space = np.packbits(pixels > 127, axis=1), 1, "DeviceGray"
    elif pixels.ndim == 2:
        rows, bits, space = pixels, 8, "DeviceGray"
    else:
        rows, bits, space = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), 8, "DeviceRGB"
    data = zlib_ng.compress(np.ascontiguousarray(rows), ZLIB_LEVEL)
    entries = {
        "Width": width,
        "Height": height,
        "BitsPerComponent": bits,
        "ColorSpace": Name(space),
        "Filter": Name("FlateDecode"),
    }
    return PageImage(data, entries, width, height)


def is_black_and_white(gray: np.ndarray) -> bool:
    """Whether a gray page holds only black and white (a 1-bit scan, as decoded). A sparse
    sample settles it for most gray pages (their anti-aliased or grainy pixels); only a
    sample of nothing but black and white has the whole page looked at."""

    def only_black_and_white(pixels: np.ndarray) -> bool:
        return not np.any((pixels != 0) & (pixels != 255))

    return only_black_and_white(gray[::7, ::7]) and only_black_and_white(gray)


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


def describe(pdf: PdfWriter, meta: Mapping[str, str], created: datetime) -> tuple[dict, Ref]:
    """The parts of PDF/A-2b that are not pages, written to `pdf`: the catalog's sRGB
    OutputIntent and XMP packet, and a document info dictionary that says the same."""
    profile = pdf.add_stream(srgb_profile(), {"N": 3}, compress=True)
    intent = {
        "Type": Name("OutputIntent"),
        "S": Name("GTS_PDFA1"),
        "OutputConditionIdentifier": SRGB,
        "Info": SRGB,
        "DestOutputProfile": profile,
    }
    meta = {k: v for k, v in meta.items() if str(v).strip()}
    # never compressed: PDF/A wants XMP readable by a tool that knows no PDF filters
    xmp = pdf.add_stream(
        master_xmp(meta, created, PRODUCER), {"Type": Name("Metadata"), "Subtype": Name("XML")}
    )
    info = {
        "Producer": PRODUCER,
        "Creator": PRODUCER,
        "CreationDate": pdf_date(created),
        "ModDate": pdf_date(created),
    }
    for key, name in INFO_KEYS.items():
        if key in meta:
            info[name] = str(meta[key])
    return {"OutputIntents": [intent], "Metadata": xmp}, pdf.add(info)
