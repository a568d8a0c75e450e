"""Reading one page image: cleanup, then tesseract. What the pipeline calls per scanned page."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.settings import OcrOptions
from ..core.types import PageText
from .cleanup import clean_page
from .tesseract import ocr_image


def read_image(
    img: np.ndarray, opts: OcrOptions, timeout: float, dpi: int = 300
) -> tuple[PageText, np.ndarray]:
    """OCR a page image; return its text and the upright, deskewed image the boxes refer to.

    With `opts.clean` off the raw image is read as it is and returned unchanged.
    """
    cleaned = clean_page(img, opts, timeout=timeout)
    text = ocr_image(
        cleaned.ocr_image, lang=opts.lang, psm=opts.psm, oem=opts.oem, timeout=timeout, dpi=dpi
    )
    view = cleaned.view_image
    # the OCR image and the view share their geometry; state it from the image kept
    text = replace(
        text,
        rotation=cleaned.rotation,
        skew=cleaned.skew,
        width=int(view.shape[1]),
        height=int(view.shape[0]),
    )
    return text, view
