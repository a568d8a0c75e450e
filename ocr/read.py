"""Reading one page image: cleanup, then tesseract. What the pipeline calls per scanned page."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.settings import OcrOptions
from ..core.types import PageText, Word
from .cleanup import Cleaned, Steps, clean_page, to_gray
from .layout import lay_out
from .tesseract import ocr_image
from .tone import DENOISE_MIN_DPI

GUARD_CHANGE = 0.05  # share of the ink cleanup changed above which the plain page is read too
UNSURE_CONF = 60.0  # word confidence below which the guard counts a word's characters unsure


def read_image(
    img: np.ndarray,
    opts: OcrOptions,
    timeout: float,
    dpi: int = 300,
    steps: Steps | None = None,
) -> tuple[PageText, np.ndarray]:
    """OCR a page image; return its text and the upright, deskewed image the boxes refer to.

    `dpi` is the scan's resolution (low-resolution scans are enlarged for tesseract; boxes
    are given back in the returned image's pixels). `steps` overrides the cleanup steps
    that `opts` selects. With `opts.clean` off the raw image is read as it is and returned
    unchanged. `PageText.confidence` is the mean word confidence weighted by word length,
    the number to compare with `opts.review_confidence`.

    The guard: where cleanup changed much of the page's ink (`Cleaned.changed`), the plain
    page (only turned and deskewed) is read as well and the reading tesseract is surer of
    kept (`_guard`), so a step that mistakes text for noise cannot lose it.
    """
    steps = steps or Steps.from_options(opts)
    cleaned = clean_page(img, opts, timeout=timeout, dpi=dpi, steps=steps)
    text = _read(cleaned.ocr_image, opts, timeout, round(dpi * cleaned.scale))
    view = cleaned.view_image
    words = text.words
    if cleaned.scale != 1.0 or cleaned.offset != (0, 0):
        words = tuple(_to_view(w, cleaned.scale, cleaned.offset) for w in words)
    text = replace(text, words=words, steps=cleaned.reasons)
    if opts.clean and steps.wants("guard", lambda: _doubtful(cleaned, dpi)):
        text = _guard(text, cleaned, opts, timeout, dpi)
    # the OCR image and the view share their geometry; state it from the image kept
    text = replace(
        text,
        rotation=cleaned.rotation,
        skew=cleaned.skew,
        width=int(view.shape[1]),
        height=int(view.shape[0]),
        dpi=dpi,
    )
    return lay_out(text, view), view  # the page's regions, read in a person's order


def _doubtful(cleaned: Cleaned, dpi: int) -> bool:
    """Whether cleanup may have cost text: it changed much of the ink, or it ran the median
    on a page below `DENOISE_MIN_DPI`, where it helps a speckled fax by half or costs a
    sharper one a third more errors (tests/test_ocr_degraded.py)."""
    low_dpi_median = dpi < DENOISE_MIN_DPI and "denoise" in cleaned.applied
    return cleaned.changed >= GUARD_CHANGE or low_dpi_median


def _read(img: np.ndarray, opts: OcrOptions, timeout: float, dpi: int) -> PageText:
    return ocr_image(
        img,
        lang=opts.lang,
        psm=opts.psm,
        oem=opts.oem,
        timeout=timeout,
        dpi=dpi,
        engine=opts.engine,
        tessdata=opts.tessdata,
        tone_marks=opts.tone_marks,
    )


def _guard(
    text: PageText, cleaned: Cleaned, opts: OcrOptions, timeout: float, dpi: int
) -> PageText:
    """The cleaned reading or the plain page's: the one with fewer characters in words
    tesseract is unsure of, then the one with the higher length-weighted confidence.

    On the 20 real and degraded pages where the guard fired (bench/ocr_matrix.py) the unsure
    share chose the better reading 19 times, the mean confidence alone 16: on real seal
    pages the two readings' confidences differ by a tenth of a point either way.
    """
    plain = _read(to_gray(cleaned.view_image), opts, timeout, dpi)

    def score(page: PageText) -> tuple[float, float]:
        return (-unsure_share(page), page.confidence)

    keep_plain = score(plain) > score(text)
    kept, other = (plain, text) if keep_plain else (text, plain)
    note = (
        f"guard: kept {'plain' if keep_plain else 'cleaned'} reading"
        f" (unsure {unsure_share(kept):.1%} vs {unsure_share(other):.1%} of characters,"
        f" conf {kept.confidence:.1f} vs {other.confidence:.1f};"
        f" cleanup changed {cleaned.changed:.0%} of the ink)"
    )
    return replace(kept, steps=(*text.steps, note))


def unsure_share(page: PageText) -> float:
    """Share of the page's characters in words read with confidence below `UNSURE_CONF`."""
    scored = [(w.conf, len(w.text)) for w in page.words if w.conf >= 0 and w.text]
    chars = sum(n for _, n in scored)
    return round(sum(n for c, n in scored if c < UNSURE_CONF) / chars, 4) if chars else 1.0


def _to_view(word: Word, scale: float, offset: tuple[int, int]) -> Word:
    """A word box from the (cropped, enlarged) OCR image, in the view image's pixels."""
    dx, dy = offset
    left, top = round(word.left / scale) + dx, round(word.top / scale) + dy
    right = round((word.left + word.width) / scale) + dx
    bottom = round((word.top + word.height) / scale) + dy
    return replace(
        word, left=left, top=top, width=max(1, right - left), height=max(1, bottom - top)
    )
