"""Page cleanup before OCR: the steps in order, each run only where the page needs it.

`clean_page` chains them. Geometry (borders, deskew, orientation) is applied both to the
image kept for display and to the one tesseract reads, so OCR word boxes fit the kept image;
tone steps (seal removal, light flattening, streak division, denoising and despeckling,
upscaling, sharpening) touch only the OCR image; the ones that remove noise run before
deskew, while a speck is still a speck. Each step is gated by a measurement that holds
across damage levels, fonts and 100-300 dpi (`tone.bands`, `tone.specks`, `tone.is_noisy`,
`tone.has_red_ink`...; bench/ocr_matrix.py), so a clean page costs ~0.1-0.2 s of looking on
top of tesseract, and reading only its text area (`geometry.text_box`) saves some of it.
`Cleaned.changed` says how much of the ink the tone steps changed: the guard in
`read.read_image` reads the plain page too when that is much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

import cv2
import numpy as np

from ..core.settings import OcrOptions
from .geometry import (
    MIN_SKEW,
    border_mask,
    deskew,
    detect_orientation,
    estimate_skew,
    ink_blobs,
    looks_upright,
    remove_borders,
    rotate,
    text_box,
    view_matrix,
)
from .tone import (
    DENOISE_MIN_DPI,
    SHARPEN_MIN_DPI,
    background,
    bands,
    binarize,
    denoise,
    drop_red_ink,
    flatten,
    has_red_ink,
    is_bilevel,
    is_noisy,
    is_unevenly_lit,
    sharpen,
    specks,
    to_gray,
    unband,
    upscale,
    upscale_factor,
)

__all__ = [
    "Cleaned",
    "Steps",
    "binarize",
    "clean_page",
    "denoise",
    "deskew",
    "detect_orientation",
    "estimate_skew",
    "looks_upright",
    "remove_borders",
    "rotate",
    "to_gray",
]

Mode = Literal["auto", "on", "off"]
CHANGE_LEVELS = 96  # gray levels a pixel must move for `ink_change` to count it


@dataclass(frozen=True)
class Steps:
    """Which cleanup steps run: "auto" where the page's measurement calls for it, "on" always,
    "off" never. Defaults are what `bench/ocr_quality.py --ablation` showed to help.

    Geometry steps (borders, deskew, orientation) always measure; "on" and "auto" are the same.
    """

    borders: Mode = "auto"
    stamp: Mode = "auto"  # red seals over text
    illumination: Mode = "auto"  # uneven light: flatten the paper
    bands: Mode = "auto"  # scanner streaks: bring each column and row to the paper around it
    deskew: Mode = "auto"
    orientation: Mode = "auto"
    denoise: Mode = "auto"  # 3x3 median on grainy or speckled pages
    despeckle: Mode = "auto"  # dark blobs far smaller than the page's glyph parts to paper
    upscale: Mode = "off"  # "auto": pages scanned below 200 dpi (no gain measured, even at 100)
    sharpen: Mode = "auto"  # unsharp mask on gray pages of 150 dpi or more
    binarize: Mode = "off"
    crop: Mode = "auto"  # read only the text area: faster, the same text
    guard: Mode = "auto"  # read the plain page too where the tone steps changed much of it

    @classmethod
    def from_options(cls, opts: OcrOptions) -> Steps:
        """Steps as configured. An option left at its OcrOptions default keeps the measured
        default here; one the configuration changed is obeyed (false: off; true: run where
        needed, or always for binarize, which measures nothing); a mode string is taken as
        it is. Options OcrOptions does not have (yet) keep the default here."""
        option_defaults = {f.name: f.default for f in fields(OcrOptions)}
        out: dict[str, str] = {}
        for f in fields(cls):
            value = getattr(opts, f.name, None)
            if value is None or value == option_defaults.get(f.name):
                continue
            if isinstance(value, str):
                out[f.name] = value
            elif not value:
                out[f.name] = "off"
            else:
                out[f.name] = "on" if f.name == "binarize" else "auto"
        return cls(**out)

    def wants(self, step: str, needed: Callable[[], bool]) -> bool:
        """Whether `step` runs on this page; `needed` measures the page, only if it must."""
        mode = getattr(self, step)
        return mode == "on" or (mode == "auto" and needed())


@dataclass(frozen=True, eq=False)
class Cleaned:
    """The two images cleanup produces, with what it measured."""

    ocr_image: np.ndarray  # what tesseract reads (gray or binary), `scale` times the view
    view_image: np.ndarray  # upright and deskewed, not binarized: for display and the PDF
    rotation: int  # degrees clockwise applied to upright the page
    skew: float  # degrees of deskew applied (counter-clockwise tilt that was removed)
    scale: float = 1.0  # how much larger the OCR image is than the view (upscaled scans)
    offset: tuple[int, int] = (0, 0)  # (x, y) in the view of the OCR image's top-left corner
    applied: tuple[str, ...] = ()  # the steps that changed the page, in order
    reasons: tuple[str, ...] = ()  # "step: why" for each applied step, in the same order
    changed: float = 0.0  # share of the ink the tone steps added or removed (`ink_change`)
    # the original's points in the view: (a, b, c, d, e, f) over pixel edges (`view_matrix`)
    matrix: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def clean_page(
    img: np.ndarray,
    opts: OcrOptions,
    timeout: float = 60.0,
    dpi: int = 300,
    steps: Steps | None = None,
) -> Cleaned:
    """Run the cleanup steps the page needs; return the image to OCR and the image to keep."""
    gray = to_gray(img)
    if not opts.clean:
        return Cleaned(ocr_image=gray, view_image=img, rotation=0, skew=0.0)
    steps = steps or Steps.from_options(opts)
    applied: list[str] = []
    reasons: list[str] = []

    def did(step: str, why: str) -> None:
        applied.append(step)
        reasons.append(f"{step}: {why}")

    view = img
    if img.ndim == 3 and steps.wants("stamp", lambda: has_red_ink(img)):
        gray = drop_red_ink(img)
        did("stamp", "red seal ink on a colour scan")
    if steps.borders != "off" and (mask := border_mask(gray)) is not None:
        gray = gray.copy() if gray is img else gray
        gray[mask] = 255
        if img.ndim == 3:
            view = img.copy()
            view[mask] = 255
        else:
            view = gray
        did("borders", f"{int(mask.sum())} px of dark scan border")
    if steps.illumination != "off":
        back = background(gray)
        if steps.wants("illumination", lambda: is_unevenly_lit(back)):
            gray = flatten(gray, back)
            did("illumination", "uneven light across the page")
    if steps.bands != "off" and (gains := bands(gray)) is not None:
        gray = unband(gray, gains)
        did("bands", "scanner streaks across the page")
    # before deskew: turning the page blurs a one-pixel speck into a gray smudge that
    # neither the measurement nor the median recognises, and sharpening would darken again
    if steps.wants("denoise", lambda: is_noisy(gray, dpi)):
        gray = denoise(gray)
        did("denoise", "speckled page" if dpi >= DENOISE_MIN_DPI else "dense specks at low dpi")
    # not on a 1-bit scan: thresholding breaks glyphs into fragments as small as dust
    found = None  # the page's ink blobs, while the page is the one they were found on
    if steps.despeckle != "off" and not is_bilevel(gray):
        found = ink_blobs(gray)
        if (dust := specks(gray, found)) is not None:
            gray = gray.copy()
            gray[dust] = 255
            did("despeckle", f"{int(dust.sum())} px of specks")
    skew = estimate_skew(gray) if steps.deskew != "off" else 0.0
    if abs(skew) < MIN_SKEW:
        skew = 0.0
    else:
        did("deskew", f"tilted {skew:+.2f}°")
    same = view is gray  # one image carries both: transform it once
    gray = deskew(gray, skew, dpi)
    view = gray if same else deskew(view, skew, dpi)
    # a straight page without specks is still the one labelled: the look reuses its blobs
    look = steps.orientation != "off"
    rotation = detect_orientation(gray, timeout, dpi, found) if look else 0
    if rotation:
        did("orientation", f"turned {rotation}° clockwise")
    gray = rotate(gray, rotation)
    view = gray if same else rotate(view, rotation)
    ocr = gray
    offset = (0, 0)
    if steps.crop != "off" and (box := text_box(ocr)) is not None:
        ocr = ocr[box[1] : box[3], box[0] : box[2]]
        offset = (box[0], box[1])
        did("crop", f"text area {box[2] - box[0]}x{box[3] - box[1]} px")
    factor = upscale_factor(dpi)
    if steps.upscale == "on" and factor == 1.0:
        factor = 2.0
    if steps.wants("upscale", lambda: factor != 1.0):
        ocr = upscale(ocr, factor)
        did("upscale", f"{dpi} dpi scan enlarged x{factor:g}")
    else:
        factor = 1.0
    if steps.wants("sharpen", lambda: dpi * factor >= SHARPEN_MIN_DPI and not is_bilevel(ocr)):
        ocr = sharpen(ocr)
        did("sharpen", f"gray page at {round(dpi * factor)} dpi")
    if steps.wants("binarize", lambda: False):
        ocr = binarize(ocr)
        did("binarize", "[ocr] binarize")
    changed = ink_change(ocr, to_gray(view), offset, factor)
    matrix, *_ = view_matrix(img.shape[1], img.shape[0], skew, rotation)
    return Cleaned(
        ocr, view, rotation, skew, factor, offset, tuple(applied), tuple(reasons), changed, matrix
    )


def ink_change(ocr: np.ndarray, plain: np.ndarray, offset: tuple[int, int], scale: float) -> float:
    """Share of the ink (dark pixels of either image) that is ink in one and paper in the
    other, on every other pixel: what denoising, flattening or seal removal changed.

    A pixel counts only if its gray level moved by `CHANGE_LEVELS` or more, so sharpening,
    which moves stroke edges by less, changes ~nothing; removed specks and bands do.
    """
    x, y = offset
    h, w = round(ocr.shape[0] / scale), round(ocr.shape[1] / scale)
    before = plain[y : y + h, x : x + w]
    after = (
        ocr if scale == 1.0 else cv2.resize(ocr, before.shape[::-1], interpolation=cv2.INTER_AREA)
    )
    before, after = before[::2, ::2].astype(np.int16), after[::2, ::2].astype(np.int16)
    dark_before, dark_after = before < 128, after < 128
    flipped = (dark_before != dark_after) & (np.abs(after - before) >= CHANGE_LEVELS)
    return float(flipped.sum() / max(int((dark_before | dark_after).sum()), 1))
