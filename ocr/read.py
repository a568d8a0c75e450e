"""Reading one page image: cleanup, then tesseract. What the pipeline calls per scanned page."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.settings import OcrOptions
from ..core.types import Alignment, PageText, Word
from .cleanup import Cleaned, Steps, clean_page, to_gray
from .layout import lay_out
from .tesseract import ocr_image
from .tone import DENOISE_MIN_DPI

GUARD_CHANGE = 0.05  # share of the ink cleanup changed above which the plain page is read too
JUNK_CONF = 50.0  # a word without letters or digits read below this is not text
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
        alignment=Alignment(cleaned.matrix, int(img.shape[1]), int(img.shape[0])),
    )
    return lay_out(drop_junk(text), view), view  # the page's regions, read in a person's order


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
    """The cleaned reading or the plain page's: the one with more characters read surely
    than unsurely (`sure_balance`), then the one with the higher length-weighted confidence.

    The balance sees both ways a reading goes wrong: junk read unsurely, and text lost. On
    the 20 degraded pages where the guard fired (bench/ocr_matrix.py) it made the choices
    the unsure share alone made, the better reading 19 times (the mean confidence alone:
    16); on the real seal pages it also keeps a signature block under a seal that only the
    cleaned page reads (the unsure share preferred the reading that had lost it).
    """
    plain = _read(to_gray(cleaned.view_image), opts, timeout, dpi)

    def score(page: PageText) -> tuple[int, float]:
        return (sure_balance(page), page.confidence)

    keep_plain = score(plain) > score(text)
    kept, other = (plain, text) if keep_plain else (text, plain)
    note = (
        f"guard: kept {'plain' if keep_plain else 'cleaned'} reading"
        f" (sure minus unsure characters {sure_balance(kept)} vs {sure_balance(other)},"
        f" unsure {unsure_share(kept):.1%} vs {unsure_share(other):.1%},"
        f" conf {kept.confidence:.1f} vs {other.confidence:.1f};"
        f" cleanup changed {cleaned.changed:.0%} of the ink)"
    )
    return replace(kept, steps=(*text.steps, note))


def sure_balance(page: PageText) -> int:
    """Characters in words read with confidence `UNSURE_CONF` or more, minus those below."""
    scored = [(w.conf, len(w.text)) for w in page.words if w.conf >= 0]
    return sum(n if c >= UNSURE_CONF else -n for c, n in scored)


def drop_junk(page: PageText) -> PageText:
    """The reading without words that hold no letter or digit and were read below
    `JUNK_CONF`: seal rings, signature strokes, specks and bands tesseract spelt as marks
    ("ˆ", "¬", "_——"). Printed dashes and punctuation are read far surer. On the real
    pages this took 0.0012 off the mean CER and 0.0013 off the order-free word error."""

    def junk(w: Word) -> bool:
        return 0 <= w.conf < JUNK_CONF and not any(c.isalnum() for c in w.text)

    words = list(page.words)
    if not any(junk(w) for w in words) or [w.text for w in words] != page.text.split():
        return page
    rows, kept, taken = [], [], 0
    for row in page.text.split("\n"):
        mine = words[taken : taken + len(row.split())]
        taken += len(mine)
        good = [w for w in mine if not junk(w)]
        kept += good
        if good or not mine:  # a line that was only junk goes; blank lines keep the blocks
            rows.append(" ".join(w.text for w in good))
    note = f"junk: {len(words) - len(kept)} marks without letters read below {JUNK_CONF:.0f}"
    return replace(page, words=tuple(kept), text="\n".join(rows), steps=(*page.steps, note))


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
