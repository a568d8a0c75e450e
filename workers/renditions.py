"""Screen renditions: each page image reduced for a screen, beside it in storage.

A stored page image is the page as OCR read it (often 2,500 px wide, most of a megabyte);
a reader's screen shows it in a slot of a few hundred pixels. `write_screen` stores
`page-NNNNN.screen.jpg` (at most SCREEN_WIDTH wide) when the page image is written;
`screen_image` makes it on first request for pages stored before renditions existed, and
records it in fixity like every other derivative.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from kho.archive.fixity import record_file
from kho.core.errors import BadInputError
from kho.ocr.geometry import shrink

from .context import Context

log = logging.getLogger("kho.renditions")
SCREEN_WIDTH = 1200  # px: a desktop column, and twice a phone's
SCREEN_QUALITY = 80
NEAR_WIDTH = 1.1  # a reduction by at most this much is done bilinearly


def screen_bytes(image: np.ndarray) -> bytes:
    """The page image at most SCREEN_WIDTH wide, as a JPEG of SCREEN_QUALITY.

    Reduced in two steps: blocks of a whole number of pixels averaged (OpenCV's fast
    path; an area average by a fraction costs ~8x more: 39 ms on a colour A4 scan), then
    what is left to SCREEN_WIDTH: bilinearly when it is a few percent (a 300 dpi A4 page,
    2,480 px: 1,240 to 1,200), where that is as sharp as the area average.
    """
    height, width = image.shape[:2]
    if width > SCREEN_WIDTH:
        size = (SCREEN_WIDTH, max(1, round(height * SCREEN_WIDTH / width)))
        factor = width // SCREEN_WIDTH
        if factor > 1 and height >= factor:
            image = shrink(image, factor)
        near = image.shape[1] <= NEAR_WIDTH * SCREEN_WIDTH
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if near else cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, SCREEN_QUALITY])
    if not ok:
        raise BadInputError("cannot encode the page's screen rendition")
    return buf.tobytes()


def write_screen(ctx: Context, doc_id: str, page: int, image: np.ndarray) -> Path:
    """Store the screen rendition of a page image being written."""
    out = ctx.storage.page_screen(doc_id, page)
    ctx.storage.write_bytes(out, screen_bytes(image))
    return out


def screen_image(ctx: Context, doc_id: str, page: int) -> Path:
    """The stored screen rendition of a page, made from its page image (and recorded in
    fixity) if it has none yet; FileNotFoundError when the page has no image."""
    out = ctx.storage.page_screen(doc_id, page)
    if out.is_file():
        return out
    source = ctx.storage.page_image(doc_id, page)
    image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED) if source.is_file() else None
    if image is None:
        raise FileNotFoundError(f"no page image {source}")
    write_screen(ctx, doc_id, page, image)
    record_file(ctx.catalog, ctx.storage, doc_id, out)
    log.info("doc %s: screen rendition of page %d made on first request", doc_id[:12], page)
    return out
