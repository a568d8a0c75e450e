"""One reader per input format, picked by content: page count, page pixels, dpi, text layer.

Opening validates (size, pages, corruption, encryption, pixel bombs) and decodes nothing
more than one page; `render` decodes one page at a time, so a worker that opens a stored
original to read page 37 pays for page 37 only.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np
import pypdfium2 as pdfium
from PIL import Image

from kho.core.errors import BadInputError, LimitExceededError
from kho.core.settings import Limits

from .sniff import KINDS_TAKEN, sniff, unsupported_reason

if TYPE_CHECKING:
    from kho.core.types import PageText
    from kho.ocr.textlayer import TextLayers

_Handle = TypeVar("_Handle")

DEFAULT_DPI = 300  # when a file does not say, or says a placeholder
MIN_DPI = 100  # below this a declared dpi is a screen/camera default (72, 96), not a scan
MIN_IMAGE_PX = 16  # an image smaller than this on a side holds no readable word
PDFIUM_PAGES = 32  # pages PDFium loads from one open of a PDF (it keeps their resources)
MAX_DPI = 1200  # above this a declared dpi is a typo; no office scanner goes further
LABELS = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "pdf": "PDF"}
ENCRYPTED_PDF = "encrypted PDF: decrypt it first, e.g. qpdf --decrypt --password=... in.pdf out.pdf"

# What PIL raises on damaged data, depending on plugin and codec.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, LookupError)
_TRANSPOSE = {  # EXIF/TIFF orientation tag -> what makes the page upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
ORIENTATION_TAG = 0x0112


class SourceFile:
    """An opened, validated source file; pages are 0-based `index` and 1-based in messages."""

    kinds: ClassVar[tuple[str, ...]] = ()
    extensions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path, kind: str, limits: Limits):
        self.path = Path(path)
        self.kind = kind
        self.limits = limits
        try:
            self.page_count = self._open()
            self._check_page_count()
        except BaseException:
            self.close()
            raise

    def _open(self) -> int:
        """Open and validate the file; return its page count."""
        raise NotImplementedError

    def render(self, index: int) -> np.ndarray:
        """Page pixels as uint8 gray (HxW) or BGR (HxWx3), upright as the file says."""
        raise NotImplementedError

    def dpi(self, index: int) -> int:
        """Dots per inch of `render(index)`."""
        raise NotImplementedError

    def text_layer(self, index: int) -> PageText | None:
        """The page's born-digital text, if the format can carry one."""
        self._check_index(index)
        return None

    def close(self) -> None:
        """Release the file handle."""

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _label(self) -> str:
        return LABELS.get(self.kind, self.kind)

    def _check_page_count(self) -> None:
        if self.page_count == 0:
            raise BadInputError(f"{self._label()} has no pages")
        if self.page_count > self.limits.max_pages:
            raise LimitExceededError(
                f"{self._label()} has more than {self.limits.max_pages} pages"
                f" (limits.max_pages={self.limits.max_pages}): split it or raise the limit"
            )

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.page_count:
            raise IndexError(f"page index {index} out of range for {self.page_count} pages")

    def _corrupt(self, err: BaseException, index: int | None = None) -> BadInputError:
        where = f"page {index + 1}: " if index is not None else ""
        return BadInputError(f"corrupt {self._label()}: {where}{_reason(err, self.path)}")


def check_pixels(width: int, height: int, page: int, limits: Limits, note: str = "") -> None:
    """Refuse a page whose pixel count exceeds the limit, before anything is decoded."""
    pixels = width * height
    if pixels > limits.max_page_pixels:
        raise LimitExceededError(
            f"page {page} is {width}x{height} px = {pixels / 1e6:.0f} Mpx{note},"
            f" over limits.max_page_pixels={limits.max_page_pixels}"
        )


class ImageFile(SourceFile):
    """PNG or JPEG: one page, decoded once at open (validation and render share it)."""

    kinds = ("png", "jpeg")
    extensions = (".png", ".jpg", ".jpeg")

    def _open(self) -> int:
        self._img: Image.Image | None = None
        try:
            with _pil_open(self.path, self.kind, self.limits) as probe:
                probe.verify()  # checksums (PNG CRCs) that decoding alone may not look at
            self._img = _pil_open(self.path, self.kind, self.limits)
            self._img.load()
        except _DECODE_ERRORS as err:
            raise self._corrupt(err) from err
        return 1

    def render(self, index: int) -> np.ndarray:
        self._check_index(index)
        return to_array(upright(_opened(self._img, self.path)))

    def dpi(self, index: int) -> int:
        self._check_index(index)
        return dpi_of(_opened(self._img, self.path))

    def close(self) -> None:
        img = getattr(self, "_img", None)
        if img is not None:
            img.close()
            self._img = None


class TiffFile(SourceFile):
    """TIFF: each frame a page (any compression PIL/libtiff knows: G4, LZW, JPEG...)."""

    kinds = ("tiff",)
    extensions = (".tif", ".tiff")

    def _open(self) -> int:
        self._img: Image.Image | None = None
        try:
            img = self._img = _pil_open(self.path, self.kind, self.limits)
        except _DECODE_ERRORS as err:
            raise self._corrupt(err) from err
        # Walk the frame chain (headers only) and stop past the limit: a file may claim
        # millions of tiny frames.
        count = 1
        while count <= self.limits.max_pages:
            try:
                img.seek(count)
            except EOFError:
                break
            except _DECODE_ERRORS as err:
                raise self._corrupt(err, count) from err
            count += 1
        return count

    def _frame(self, index: int) -> Image.Image:
        self._check_index(index)
        img = _opened(self._img, self.path)
        try:
            img.seek(index)
        except _DECODE_ERRORS as err:
            raise self._corrupt(err, index) from err
        return img

    def render(self, index: int) -> np.ndarray:
        frame = self._frame(index)
        check_pixels(*frame.size, index + 1, self.limits)
        try:
            frame.load()
            return to_array(upright(frame))
        except _DECODE_ERRORS as err:
            raise self._corrupt(err, index) from err

    def dpi(self, index: int) -> int:
        return dpi_of(self._frame(index))

    def close(self) -> None:
        img = getattr(self, "_img", None)
        if img is not None:
            img.close()
            self._img = None


class PdfFile(SourceFile):
    """PDF: PDFium counts and rasterises pages at limits.render_dpi, one page per call."""

    kinds = ("pdf",)
    extensions = (".pdf",)

    def _open(self) -> int:
        self._doc: pdfium.PdfDocument | None = None
        self._plumber: TextLayers | None = None  # for text layers, opened on need
        self._loads = 0  # pages PDFium loaded since the file was opened
        try:
            self._doc = pdfium.PdfDocument(str(self.path))
        except pdfium.PdfiumError as err:
            raise _pdf_failure(self.path) from err
        return len(self._doc)

    def _page(self, index: int) -> pdfium.PdfPage:
        """PDFium's page `index`. PDFium keeps what it parsed of each page it loaded (its
        image streams: ~0.1-0.5 MB a scanned page) until the document closes, so a file
        kept open over many pages (`workers.sources`) is opened again every PDFIUM_PAGES
        pages (cheap: 2 ms for 5,000 pages, its cross-reference table read in C++)."""
        self._loads += 1
        if self._loads > PDFIUM_PAGES:
            _opened(self._doc, self.path).close()
            self._doc, self._loads = pdfium.PdfDocument(str(self.path)), 1
        return _opened(self._doc, self.path)[index]

    def dpi(self, index: int) -> int:
        self._check_index(index)
        return self.limits.render_dpi

    def render(self, index: int, dpi: int = 0) -> np.ndarray:
        """The page at `dpi` (default limits.render_dpi, as `dpi(index)` says)."""
        self._check_index(index)
        dpi = dpi or self.limits.render_dpi
        try:
            page = self._page(index)
        except pdfium.PdfiumError as err:
            raise self._corrupt(err, index) from err
        try:
            width, height = page.get_size()  # points, 1/72 inch
            scale = dpi / 72
            check_pixels(
                math.ceil(width * scale),
                math.ceil(height * scale),
                index + 1,
                self.limits,
                f" at {dpi} dpi (limits.render_dpi)",
            )
            bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
            try:
                pixels = np.array(bitmap.to_numpy())  # copy: the bitmap's memory goes on close
            finally:
                bitmap.close()
        except pdfium.PdfiumError as err:
            raise self._corrupt(err, index) from err
        finally:
            page.close()
        return _pdfium_to_array(pixels)

    def scan_dpi(self, index: int) -> int:
        """The resolution of the largest image the page draws (a scanned page's own, to
        render it at without resampling), or limits.render_dpi if it draws none."""
        self._check_index(index)
        import pypdfium2.raw as pdfium_c

        best, dpi = 0, self.limits.render_dpi
        page = self._page(index)
        try:
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=8):
                left, bottom, right, top = obj.get_bounds()
                width, height = obj.get_px_size()
                if width * height > best and right - left > 0 and top - bottom > 0:
                    best = width * height
                    dpi = round(max(width / (right - left), height / (top - bottom)) * 72)
        except pdfium.PdfiumError as err:
            raise self._corrupt(err, index) from err
        finally:
            page.close()
        return min(max(dpi, MIN_DPI), MAX_DPI)

    def image_boxes(self, index: int) -> list[tuple[int, int, int, int]]:
        """Where the page draws images: (left, top, right, bottom) in `render(index)`'s
        pixels, each at least MIN_IMAGE_PX on a side. A born-digital page may carry a
        printed mark (a stamp, a scanned header) in an image its text layer does not say."""
        self._check_index(index)
        import pypdfium2.raw as pdfium_c

        scale = self.dpi(index) / 72
        page = self._page(index)
        try:
            _, height = page.get_size()
            boxes = []
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=8):
                left, bottom, right, top = obj.get_bounds()
                box = (
                    max(0, math.floor(left * scale)),
                    max(0, math.floor((height - top) * scale)),
                    math.ceil(right * scale),
                    math.ceil((height - bottom) * scale),
                )
                if min(box[2] - box[0], box[3] - box[1]) >= MIN_IMAGE_PX:
                    boxes.append(box)
        except pdfium.PdfiumError as err:
            raise self._corrupt(err, index) from err
        finally:
            page.close()
        return boxes

    def text_layer(self, index: int) -> PageText | None:
        self._check_index(index)
        # Imported here: reading text is the ocr stage's job, and workers that only render
        # should not pay for pdfplumber. Opened once per file, not once per page.
        from kho.ocr.textlayer import MIN_CHARS, TextLayers

        from .signatures import without_overlay

        if self._plumber is None:
            self._plumber = TextLayers(self.path)
        layer = self._plumber.text(index, self.dpi(index))
        # a signing overlay ("Ký bởi: ...") is metadata, not the page's text
        return without_overlay(layer, MIN_CHARS) if layer is not None else None

    def close(self) -> None:
        plumber = getattr(self, "_plumber", None)
        if plumber is not None:
            plumber.close()
            self._plumber = None
        doc = getattr(self, "_doc", None)
        if doc is not None:
            doc.close()
            self._doc = None


def _opened(handle: _Handle | None, path: Path) -> _Handle:
    """The decoder of a source file that is open (reading one after `close` is a bug)."""
    if handle is None:
        raise RuntimeError(f"{path}: read after the file was closed")
    return handle


FORMATS: tuple[type[SourceFile], ...] = (ImageFile, TiffFile, PdfFile)


def format_for(kind: str) -> type[SourceFile]:
    """The reader class for a sniffed kind."""
    for cls in FORMATS:
        if kind in cls.kinds:
            return cls
    raise BadInputError(f"unsupported type {kind} (kho takes {KINDS_TAKEN})")


def open_source(path: Path, limits: Limits) -> SourceFile:
    """Open and validate a source file by its content. Raises BadInputError/LimitExceededError.

    A missing or unreadable file raises OSError: that is the storage's trouble, not the file's.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise LimitExceededError(
            f"file is {size:,} bytes, over limits.max_file_bytes={limits.max_file_bytes:,}"
        )
    kind = sniff(path)
    if kind is None:
        raise BadInputError(unsupported_reason(path))
    return format_for(kind)(path, kind, limits)


# --- helpers -----------------------------------------------------------------------------


def _reason(err: BaseException, path: Path) -> str:
    """A one-line reason from a library error, without the path the caller already knows."""
    text = str(err).replace(f"'{path}'", "").replace(str(path), "").strip(" :")
    text = " ".join(text.split())
    if not text:
        text = type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _pil_open(path: Path, kind: str, limits: Limits) -> Image.Image:
    """Open (headers only) with PIL restricted to the sniffed format, then check the size.

    PIL's global guard (Image.MAX_IMAGE_PIXELS) is lifted for this call only: it would
    refuse without naming the page, and with its default, refuse pages our configured
    limit allows. Setting it for good would leak one caller's limit into every stage that
    opens images in this process.
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        img = Image.open(path, formats=[LABELS[kind]])
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    try:
        check_pixels(*img.size, 1, limits)
    except LimitExceededError:
        img.close()
        raise
    return img


def upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF (JPEG/PNG) or TIFF orientation tag, so pixels are as the viewer shows."""
    tags = getattr(img, "tag_v2", None)  # TIFF: the current frame's own tags
    orientation = (tags if tags is not None else img.getexif()).get(ORIENTATION_TAG)
    method = _TRANSPOSE.get(orientation) if orientation is not None else None
    return img.transpose(method) if method is not None else img


def dpi_of(img: Image.Image) -> int:
    """Horizontal dpi the file declares; DEFAULT_DPI if none or a placeholder, clamped."""
    declared = img.info.get("dpi")
    try:
        value = float(declared[0]) if declared else 0.0
    except (TypeError, ValueError, ZeroDivisionError):
        value = 0.0
    if not math.isfinite(value) or value < MIN_DPI:
        return DEFAULT_DPI
    return min(round(value), MAX_DPI)


def to_array(img: Image.Image) -> np.ndarray:
    """uint8 gray (HxW) or BGR (HxWx3) for any PIL mode; transparency becomes white paper."""
    mode = img.mode
    if mode == "L":
        return np.array(img)
    if mode == "1":
        return np.array(img.convert("L"))
    if mode.startswith("I") or mode == "F":
        return _to_8bit(np.array(img))
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("PA", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "La":
        img = img.convert("LA")
    if img.mode in ("LA", "RGBA"):
        base = img.mode[:-1]
        flat = Image.new(base, img.size, 255 if base == "L" else (255, 255, 255))
        flat.paste(img.convert(base), mask=img.getchannel("A"))
        img = flat
        if base == "L":
            return np.array(img)
    if img.mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return gray_if_neutral(np.array(img)[:, :, ::-1])


def gray_if_neutral(bgr: np.ndarray) -> np.ndarray:
    """One channel when all three are equal (gray stored as colour): a third of the memory."""
    b, g, r = bgr[:, :, 0], bgr[:, :, 1], bgr[:, :, 2]
    if np.array_equal(b, g) and np.array_equal(g, r):
        return np.ascontiguousarray(b)
    return np.ascontiguousarray(bgr)


def _to_8bit(values: np.ndarray) -> np.ndarray:
    """Scale 16/32-bit or float samples to uint8.

    Paper is the brightest thing on a page, so the maximum shows how many bits the scanner
    really used (12-bit data in a 16-bit container would otherwise come out black).
    """
    if values.dtype.kind == "f":
        values = np.nan_to_num(values)
        top = float(values.max()) if values.size else 0.0
        scaled = values * 255.0 if top <= 1.0 else values
        return np.clip(scaled, 0, 255).astype(np.uint8)
    values = np.clip(values.astype(np.int64), 0, None)
    top = int(values.max()) if values.size else 0
    shift = max(0, top.bit_length() - 8)
    return (values >> shift).astype(np.uint8)


def _pdfium_to_array(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[2] == 1:
        return np.ascontiguousarray(pixels[:, :, 0])
    return gray_if_neutral(pixels[:, :, :3])  # BGR, or BGRx/BGRA: drop the fourth byte


def _pdf_failure(path: Path) -> BadInputError:
    """Why PDFium refused a file. Its error code can be stale, so ask pikepdf what it sees."""
    import pikepdf  # only on this failure path: opening in workers stays cheap

    try:
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
    except pikepdf.PasswordError:
        return BadInputError(ENCRYPTED_PDF)
    except (pikepdf.PdfError, OSError, ValueError, RuntimeError) as perr:
        return BadInputError(f"corrupt PDF: {_reason(perr, path)}")
    if pages == 0:
        return BadInputError("PDF has no pages")
    # pikepdf could patch it up but PDFium cannot: typically a truncated file.
    return BadInputError(
        "corrupt PDF: damaged file structure (truncated?); try `qpdf in.pdf repaired.pdf`"
    )
