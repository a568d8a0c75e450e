"""Reading one page image: cleanup, then tesseract. What the pipeline calls per scanned page."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.settings import OcrOptions
from ..core.types import PageText, Word
from .cleanup import Steps, clean_page
from .layout import lay_out
from .tesseract import ocr_image


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
    """
    cleaned = clean_page(img, opts, timeout=timeout, dpi=dpi, steps=steps)
    text = ocr_image(
        cleaned.ocr_image,
        lang=opts.lang,
        psm=opts.psm,
        oem=opts.oem,
        timeout=timeout,
        dpi=round(dpi * cleaned.scale),
        engine=opts.engine,
        tessdata=opts.tessdata,
        tone_marks=opts.tone_marks,
    )
    view = cleaned.view_image
    words = text.words
    if cleaned.scale != 1.0 or cleaned.offset != (0, 0):
        words = tuple(_to_view(w, cleaned.scale, cleaned.offset) for w in words)
    # the OCR image and the view share their geometry; state it from the image kept
    text = replace(
        text,
        words=words,
        rotation=cleaned.rotation,
        skew=cleaned.skew,
        width=int(view.shape[1]),
        height=int(view.shape[0]),
        dpi=dpi,
        steps=cleaned.reasons,
    )
    return lay_out(text, view), view  # the page's regions, read in a person's order


def _to_view(word: Word, scale: float, offset: tuple[int, int]) -> Word:
    """A word box from the (cropped, enlarged) OCR image, in the view image's pixels."""
    dx, dy = offset
    left, top = round(word.left / scale) + dx, round(word.top / scale) + dy
    right = round((word.left + word.width) / scale) + dx
    bottom = round((word.top + word.height) / scale) + dy
    return replace(
        word, left=left, top=top, width=max(1, right - left), height=max(1, bottom - top)
    )
