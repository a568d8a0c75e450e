"""Page tone: colour to gray, red seals, uneven light, noise, resolution, black and white.

Each step comes with the cheap measurement that says whether the page needs it, so a clean
page pays a few milliseconds of looking and nothing else (`clean_page` asks before it acts).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..core.errors import BadInputError
from .geometry import Blobs, ink_blobs, shrink

FLATTEN_SCALE = 8  # background estimated at 1/8 size: a window far wider than any glyph
UNEVEN_LIGHT = 12  # gray levels between the paper's lightest and darkest parts worth fixing
BAND_WINDOW = 0.1  # of the page's side: the running median a streak is measured against
BAND_DEPTH = 0.08  # how much darker than around it a streak's paper must be to be divided out
RED_MARGIN = 60  # how far red must stand above green and blue for a pixel to be seal ink
RED_MIN_SHARE = 0.0005  # share of the page in red ink below which there is no seal
SPECK_SHARE = 0.0002  # share of isolated dark or light pixels that calls for a median filter
LOW_DPI_SPECK_SHARE = 0.001  # the same below DENOISE_MIN_DPI, where the guard then decides
NOISE_SIGMA = 3.0  # gray levels of sensor grain on the paper that calls for the filter
MIN_INK_CONTRAST = 40  # gray levels between Otsu's two classes for them to be ink and paper
FIXED_INK_LEVEL = 160  # threshold on the flattened page (paper ~255) when Otsu cannot tell
LOW_DPI = 200  # below this, upscale="auto" enlarges the page ...
TARGET_DPI = 300  # ... to this
SHARPEN_SIGMA = 2.0  # px at ~300 dpi (after upscaling): about a stroke's width
SHARPEN_AMOUNT = 0.5  # how much of the detail (image - blurred) is added back
SPECK_AREA = 0.008  # of the x-height squared: blobs smaller than this are specks
SPECK_MIN_COUNT = 30  # specks on a page below which removing them is not worth it ...
SPECK_MIN_SHARE = 0.01  # ... or this share of its ink blobs
DENOISE_MIN_DPI = 150  # below, a glyph's thin strokes and dots are 1-2 px: a median eats them
SHARPEN_MIN_DPI = 150  # below, a 2 px blur is a glyph's whole stroke: sharpening hurt at 100


def to_gray(img: np.ndarray) -> np.ndarray:
    """Return a gray view of a gray, BGR or BGRA uint8 image (no copy when already gray)."""
    if img.dtype != np.uint8:
        raise BadInputError(f"page image must be 8-bit, got {img.dtype}: convert it first")
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    raise BadInputError(f"page image has unsupported shape {img.shape}: expected gray or BGR")


def _redness(bgr: np.ndarray) -> np.ndarray:
    """How far red stands above the larger of green and blue, per pixel (int16)."""
    b, g, r = bgr[:, :, 0], bgr[:, :, 1], bgr[:, :, 2]
    return r.astype(np.int16) - np.maximum(g, b)


def has_red_ink(img: np.ndarray) -> bool:
    """Whether a colour page carries red ink (a seal, a red heading) over a sizeable area."""
    if img.ndim != 3 or img.shape[2] < 3:
        return False
    sample = img[::4, ::4, :3]
    return bool((_redness(sample) > RED_MARGIN).mean() >= RED_MIN_SHARE)


def drop_red_ink(img: np.ndarray) -> np.ndarray:
    """Gray page with red ink turned to paper and black text under it kept black.

    Red ink is light in the red channel and black ink is dark in every channel, so where a
    pixel is red the red channel (scaled so the seal's red reads as paper) replaces the
    luminance; elsewhere the page is the usual gray. Blends over the seal's soft edges.
    The blend is worked out only where there is some red (a seal covers a few percent of
    a page): elsewhere its weight is 0 and the gray stays as it is.
    """
    bgr = img[:, :, :3]
    gray = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2GRAY)
    redness = _redness(bgr)
    red = bgr[:, :, 2]
    strong = red[redness > 2 * RED_MARGIN]
    ink_level = float(np.median(strong)) if strong.size else 200.0  # the seal's red, in R
    some = redness > RED_MARGIN / 2  # weight above 0
    under = gray[some]
    lifted = np.minimum(red[some].astype(np.float32) * (255.0 / max(ink_level, 1.0)), 255.0)
    weight = np.clip((redness[some].astype(np.float32) - RED_MARGIN / 2) / RED_MARGIN, 0.0, 1.0)
    gray[some] = np.rint(under + weight * (lifted - under)).astype(np.uint8)
    return gray


def background(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness at 1/8 size: a closing wider than any glyph removes the ink.

    A closing (not a plain max-filter) keeps the edge between shaded paper and a bright
    surround where it is, so flattening leaves no dark halo along the sheet's edge.
    """
    small = shrink(gray, FLATTEN_SCALE)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    return cv2.morphologyEx(small, cv2.MORPH_CLOSE, disc, borderType=cv2.BORDER_REPLICATE)


def is_unevenly_lit(back: np.ndarray) -> bool:
    """Whether the paper's brightness varies enough over the page to mislead a threshold."""
    low, high = np.percentile(back, (2, 98))
    return bool(high - low >= UNEVEN_LIGHT)


def flatten(gray: np.ndarray, back: np.ndarray | None = None) -> np.ndarray:
    """Divide out the paper's shading so the paper is white everywhere and ink keeps contrast."""
    if back is None:
        back = background(gray)
    h, w = gray.shape
    full = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(full, 1), scale=255)


def _paper_profile(gray: np.ndarray, axis: int) -> np.ndarray:
    """The paper's level along one axis: per column (axis 0) or row (axis 1), the 90th
    percentile of a sparse sample, which stays on paper unless ink covers 90% of the line
    (a bold title's rows are a third ink: a lower percentile took them for streaks)."""
    sample = gray[::4, :] if axis == 0 else gray[:, ::4].T
    k = int(sample.shape[0] * 0.9)
    return np.partition(sample, k, axis=0)[k].astype(np.float32)


def bands(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(column gains, row gains) of scanner streaks, or None when the page has none.

    A streak darkens a narrow stretch of columns (or rows) along the whole page: the paper's
    level there falls below that of its neighbours, measured against a running median
    `BAND_WINDOW` of the side wide (wider than any streak, narrower than light fall-off,
    which `flatten` handles). Gains are 1 where the paper is as bright as around it.
    """
    gains = []
    for axis in (0, 1):
        profile = _paper_profile(gray, axis)
        window = max(3, int(len(profile) * BAND_WINDOW) | 1)
        around = cv2.medianBlur(profile.astype(np.uint8)[None, :], min(window, 255))[0]
        gains.append(np.clip(profile / np.maximum(around.astype(np.float32), 1), 0.05, 1.0))
    if min(float(g.min()) for g in gains) > 1 - BAND_DEPTH:
        return None
    return gains[0], gains[1]


def unband(gray: np.ndarray, gains: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Divide the streaks out: each column and row brought to the paper level around it."""
    cols, rows = gains
    out = gray.astype(np.float32) / cols[None, :] / rows[:, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def noise_level(gray: np.ndarray) -> tuple[float, float]:
    """(sensor grain sigma in gray levels, share of specks), measured on a band of rows.

    Grain: the median absolute difference of horizontal neighbours, which on a page that is
    mostly paper is the paper's own grain. Specks: single dark pixels with no dark
    neighbour, or single light pixels inside ink, which no glyph has at 150 dpi or more.
    """
    h = gray.shape[0]
    band = gray[h // 3 : h // 3 + min(256, h), :]
    diff = np.abs(np.diff(band.astype(np.int16), axis=1))
    sigma = 1.4826 * float(np.median(diff)) / np.sqrt(2)
    dark = (band < 128).astype(np.uint8)
    neighbours = cv2.boxFilter(dark, cv2.CV_16U, (3, 3), normalize=False) - dark
    lone = ((dark == 1) & (neighbours == 0)) | ((dark == 0) & (neighbours == 8))
    return sigma, float(lone.mean())


def is_noisy(gray: np.ndarray, dpi: int = 300) -> bool:
    """Whether grain or specks are strong enough that a median filter helps tesseract.

    Below `DENOISE_MIN_DPI` a median also eats thin strokes and dots, so only a page dense
    with specks calls for it (noisy 75 dpi faxes: 0.14-0.3% of their pixels; grainy 100 dpi
    scans with 0.03-0.04%, whose lines it cost, are left alone), and there the guard reads
    the page without it too (`ocr.read`): on such faxes it halved the errors or added a third.
    """
    sigma, specks = noise_level(gray)
    if dpi < DENOISE_MIN_DPI:
        return specks >= LOW_DPI_SPECK_SHARE
    return sigma >= NOISE_SIGMA or specks >= SPECK_SHARE


def denoise(gray: np.ndarray) -> np.ndarray:
    """Remove salt-and-pepper specks with a 3x3 median: at 300 dpi diacritics are far larger."""
    return cv2.medianBlur(gray, 3)


def specks(gray: np.ndarray, known: Blobs | None = None) -> np.ndarray | None:
    """Mask of dark specks: blobs far smaller than any glyph part, or None if there are few.

    The page's own lettering sets the scale: a glyph's x-height is the median height of the
    larger ink blobs, and the smallest part of a glyph (the dot of i, the dot below ạ, a
    full stop) covers 1.2-3% of its square at 150-300 dpi in the serif and sans faces
    measured, so blobs under `SPECK_AREA` of it are dust, not text. `known`: the page's
    blobs if they were labelled already (`geometry.ink_blobs`).
    """
    found = ink_blobs(gray, known)
    n = found.count
    if n < 50:
        return None  # too little text to measure its size
    heights, areas = found.heights()[1:], found.areas[1:]
    x_height = float(np.median(heights[heights > np.percentile(heights, 30)]))
    tiny = np.r_[False, areas <= SPECK_AREA * x_height * x_height]
    if tiny.sum() < max(SPECK_MIN_COUNT, SPECK_MIN_SHARE * n):
        return None
    return tiny[found.labels]


def upscale_factor(dpi: int) -> float:
    """How much to enlarge a page scanned at `dpi` before OCR (1.0: leave it).

    Off by default (`Steps.upscale`): told the real dpi, tesseract 5 reads 100-150 dpi
    pages as well or better without it (bench/ocr_quality.py, low-dpi).
    """
    if 0 < dpi < LOW_DPI:
        return TARGET_DPI / dpi
    return 1.0


def upscale(gray: np.ndarray, factor: float) -> np.ndarray:
    """Enlarge by `factor` with bicubic interpolation (smooth strokes, not blocky pixels)."""
    if factor == 1.0:
        return gray
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def is_bilevel(gray: np.ndarray) -> bool:
    """Whether a page is already black and white (a fax, a G4 TIFF): nothing to sharpen."""
    return len(np.unique(gray[::8, ::8])) <= 2


def sharpen(gray: np.ndarray) -> np.ndarray:
    """Unsharp mask (sigma 2 px, amount 0.5): crisper strokes and marks for tesseract.

    On generated Vietnamese pages at 150-300 dpi it cuts the errors of every damage level
    (clean pages' most: 38 -> 24 over 50 pages), for ~10 ms a page.
    """
    soft = cv2.GaussianBlur(gray, (0, 0), SHARPEN_SIGMA)
    return cv2.addWeighted(gray, 1 + SHARPEN_AMOUNT, soft, -SHARPEN_AMOUNT, 0)


def binarize(gray: np.ndarray) -> np.ndarray:
    """Black text on white (0/255): flatten the paper's shading, then Otsu.

    Dividing by the background flattens uneven light so one global threshold fits the whole
    page; a page whose two Otsu classes are too close is paper grain and gets a fixed level.
    """
    flat = flatten(gray)
    level, out = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    sample = flat[::4, ::4]
    dark, light = sample[sample <= level], sample[sample > level]
    if not len(dark) or not len(light) or light.mean() - dark.mean() < MIN_INK_CONTRAST:
        # Otsu split the paper's own grain (a blank page, or a few marks): a fixed level
        # keeps real ink and leaves the paper white
        _, out = cv2.threshold(flat, FIXED_INK_LEVEL, 255, cv2.THRESH_BINARY)
    return out
