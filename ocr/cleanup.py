"""Page cleanup before OCR: the steps in order, each run only where the page needs it.

`clean_page` chains them. Geometry (borders, deskew, orientation) is applied both to the
image kept for display and to the one tesseract reads, so OCR word boxes fit the kept image;
tone steps (seal removal, light flattening, denoising, upscaling, sharpening) touch only
the OCR image. Each step is gated by a measurement (`tone.is_noisy`, `tone.has_red_ink`...)
so a clean page costs ~60 ms of looking on top of tesseract, and reading only its text
area (`geometry.text_box`) saves more than that in tesseract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from ..core.settings import OcrOptions
from .geometry import (
    MIN_SKEW,
    border_mask,
    deskew,
    detect_orientation,
    estimate_skew,
    looks_upright,
    remove_borders,
    rotate,
    text_box,
)
from .tone import (
    SHARPEN_MIN_DPI,
    background,
    binarize,
    denoise,
    drop_red_ink,
    flatten,
    has_red_ink,
    is_bilevel,
    is_noisy,
    is_unevenly_lit,
    sharpen,
    to_gray,
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


@dataclass(frozen=True)
class Steps:
    """Which cleanup steps run: "auto" where the page's measurement calls for it, "on" always,
    "off" never. Defaults are what `bench/ocr_quality.py --ablation` showed to help.

    Geometry steps (borders, deskew, orientation) always measure; "on" and "auto" are the same.
    """

    borders: Mode = "auto"
    stamp: Mode = "auto"  # red seals over text
    illumination: Mode = "auto"  # uneven light: flatten the paper
    deskew: Mode = "auto"
    orientation: Mode = "auto"
    denoise: Mode = "auto"  # 3x3 median on grainy or speckled pages
    upscale: Mode = "off"  # "auto": pages scanned below 200 dpi (no gain measured, even at 100)
    sharpen: Mode = "auto"  # unsharp mask on gray pages of 150 dpi or more
    binarize: Mode = "off"
    crop: Mode = "auto"  # read only the text area: faster, the same text

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
    skew = estimate_skew(gray) if steps.deskew != "off" else 0.0
    if abs(skew) < MIN_SKEW:
        skew = 0.0
    else:
        did("deskew", f"tilted {skew:+.2f}°")
    same = view is gray  # one image carries both: transform it once
    gray = deskew(gray, skew)
    view = gray if same else deskew(view, skew)
    rotation = detect_orientation(gray, timeout) if steps.orientation != "off" else 0
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
    if steps.wants("denoise", lambda: is_noisy(ocr)):
        ocr = denoise(ocr)
        did("denoise", "speckled page")
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
    return Cleaned(ocr, view, rotation, skew, factor, offset, tuple(applied), tuple(reasons))
