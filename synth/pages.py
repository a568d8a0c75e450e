"""Page images with known ground truth, optionally degraded like real scans; file writers.

Everything is deterministic by seed, so a test or benchmark that fails can be replayed.
Conventions (the same as kho.core.types.PageText):
- `skew` is in degrees, positive = page content turned counter-clockwise (lines rise to the
  right); undoing it means turning clockwise by `skew`.
- `rotate` is how far the page content was turned *clockwise* (0/90/180/270), as when a page
  is fed sideways; `correction_for(rotate)` is the clockwise turn that makes it upright.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
DEJAVU_SERIF = FONT_DIR / "DejaVuSerif.ttf"
DEJAVU_SANS = FONT_DIR / "DejaVuSans.ttf"
LINE_SPACING = 1.2  # line height as a multiple of the font's ascent + descent

# Parameter ranges per degradation level: (lo, hi) draws uniformly (integers if both are
# ints), a list draws one of its items. `skew` gets a random sign.
LEVELS: dict[str, dict[str, Any]] = {
    "clean": {},
    "medium": {
        "skew": (1.0, 3.0),
        "noise": (2.0, 6.0),
        "blur": (0.3, 0.8),
        "jpeg_quality": (60, 85),
    },
    "hard": {
        "skew": (3.0, 8.0),
        "rotate": [90, 180, 270],
        "illumination": (0.2, 0.5),
        "salt_pepper": (0.0005, 0.002),
        "border": (30, 120),
        "blur": (0.5, 1.0),
        "noise": (4.0, 10.0),
        "stamp": [False, True],
    },
}


@dataclass(frozen=True, eq=False)
class Page:
    """A rendered page: gray uint8 image, the text exactly as drawn, and its resolution."""

    image: np.ndarray
    text: str  # lines joined by "\n", paragraphs (blocks) separated by a blank line
    dpi: int


@lru_cache(maxsize=16)
def _font(path: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px)


def _wrap(paragraph: str, fits: Any) -> list[str]:
    """Greedy word wrap; a word too long for a line is cut between characters."""
    lines: list[str] = []
    line = ""
    for word in paragraph.split():
        candidate = f"{line} {word}" if line else word
        if fits(candidate):
            line = candidate
            continue
        if line:
            lines.append(line)
        while not fits(word) and len(word) > 1:
            cut = max(i for i in range(1, len(word)) if fits(word[:i]) or i == 1)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def render_page(
    text: str,
    *,
    dpi: int = 300,
    font_size_pt: float = 12,
    width_in: float = 8.27,
    height_in: float = 11.69,
    margin_in: float = 1.0,
    font: Path | str = DEJAVU_SERIF,
) -> Page:
    """Draw text (one paragraph per input line) on a white A4 page; keep the lines that fit."""
    width, height = round(width_in * dpi), round(height_in * dpi)
    margin = round(margin_in * dpi)
    face = _font(str(font), round(font_size_pt * dpi / 72))
    ascent, descent = face.getmetrics()
    line_height = math.ceil((ascent + descent) * LINE_SPACING)
    text_width = width - 2 * margin
    max_lines = (height - 2 * margin) // line_height

    def fits(line: str) -> bool:
        return face.getlength(line) <= text_width

    paragraphs = [p for p in unicodedata.normalize("NFC", text).split("\n") if p.strip()]
    rows: list[str | None] = []  # None is the blank line between paragraphs
    for paragraph in paragraphs:
        if rows:
            rows.append(None)
        rows.extend(_wrap(paragraph, fits))
    rows = rows[:max_lines]
    while rows and rows[-1] is None:
        rows.pop()

    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for i, row in enumerate(rows):
        if row:
            draw.text((margin, margin + i * line_height), row, font=face, fill=0)
    truth = "\n".join(row or "" for row in rows)
    return Page(image=np.asarray(image).copy(), text=truth, dpi=dpi)


def correction_for(rotate: int) -> int:
    """The clockwise turn (degrees) that uprights a page whose content was turned `rotate`."""
    if rotate not in (0, 90, 180, 270):
        raise ValueError(f"rotate must be 0, 90, 180 or 270, got {rotate}")
    return (360 - rotate) % 360


def _white(img: np.ndarray) -> int | tuple[int, int, int]:
    return (255, 255, 255) if img.ndim == 3 else 255


def _skew(img: np.ndarray, degrees: float) -> np.ndarray:
    """Turn counter-clockwise by `degrees` on a canvas grown to keep every pixel, white fill."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = math.ceil(h * sin + w * cos), math.ceil(h * cos + w * sin)
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    return cv2.warpAffine(
        img, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=_white(img)
    )


def _stamp(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Overprint a red round seal (rings and a star) on the text area; returns RGB."""
    rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img.copy()
    h, w = img.shape[:2]
    radius = int(0.085 * min(h, w))  # ~36 mm across on A4, the size of a unit's seal
    # Seals go over the end of the text, where the signature is: aim at the last lines.
    gray = img if img.ndim == 2 else img.min(axis=2)
    rows = np.flatnonzero(gray.min(axis=1) < 128)
    cols = np.flatnonzero(gray.min(axis=0) < 128)
    if rows.size and cols.size:
        top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    else:
        top, bottom, left, right = 0, h - 1, 0, w - 1
    cx = int(rng.uniform(left + 0.45 * (right - left), right - 0.1 * (right - left)))
    cy = int(rng.uniform(bottom - 0.35 * (bottom - top), bottom))
    # Work on the seal's square only: the rest of the page is untouched.
    x0, y0 = max(cx - radius - 4, 0), max(cy - radius - 4, 0)
    x1, y1 = min(cx + radius + 5, w), min(cy + radius + 5, h)
    center = (cx - x0, cy - y0)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.circle(mask, center, radius, 255, max(2, radius // 14), cv2.LINE_AA)
    cv2.circle(mask, center, int(radius * 0.72), 255, max(1, radius // 40), cv2.LINE_AA)
    for k in range(28):  # short strokes between the rings stand for the seal's lettering
        a = 2 * math.pi * k / 28
        r0, r1 = radius * 0.78, radius * 0.9
        p0 = (int(center[0] + r0 * math.cos(a)), int(center[1] + r0 * math.sin(a)))
        p1 = (int(center[0] + r1 * math.cos(a)), int(center[1] + r1 * math.sin(a)))
        cv2.line(mask, p0, p1, 255, max(1, radius // 40), cv2.LINE_AA)
    angles = np.deg2rad(np.arange(10) * 36 - 90)
    lengths = np.where(np.arange(10) % 2 == 0, 0.3, 0.12) * radius
    star = np.stack([center[0] + lengths * np.cos(angles), center[1] + lengths * np.sin(angles)])
    cv2.fillPoly(mask, [star.T.round().astype(np.int32)], 255, cv2.LINE_AA)
    # Ink multiplies: black text under the seal stays black, white paper turns red.
    alpha = mask.astype(np.float32)[:, :, None] / 255 * 0.85
    ink = np.array([200, 25, 35], np.float32) / 255
    patch = rgb[y0:y1, x0:x1].astype(np.float32) * (1 - alpha + alpha * ink)
    rgb[y0:y1, x0:x1] = patch.round().astype(np.uint8)
    return rgb


def _illuminate(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Darken towards one side, as a page lifted off the glass or lit from an angle."""
    h, w = img.shape[:2]
    theta = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32) / 63
    ramp = (xs - 0.5) * math.cos(theta) + (ys - 0.5) * math.sin(theta)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    factor = 1 - strength * ramp**1.5
    factor = cv2.resize(factor, (w, h), interpolation=cv2.INTER_LINEAR)
    if img.ndim == 3:
        factor = factor[:, :, None]
    return (img.astype(np.float32) * factor).round().astype(np.uint8)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    bgr = img[:, :, ::-1] if img.ndim == 3 else img
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    flag = cv2.IMREAD_COLOR if img.ndim == 3 else cv2.IMREAD_GRAYSCALE
    out = cv2.imdecode(data, flag)
    return np.ascontiguousarray(out[:, :, ::-1]) if img.ndim == 3 else out


def degrade(
    img: np.ndarray,
    *,
    seed: int,
    skew: float = 0.0,
    rotate: int = 0,
    noise: float = 0.0,
    salt_pepper: float = 0.0,
    blur: float = 0.0,
    jpeg_quality: int | None = None,
    illumination: float = 0.0,
    border: int = 0,
    stamp: bool = False,
) -> np.ndarray:
    """Make a clean page look scanned; gray in, gray out (RGB if `stamp`).

    Steps in the order a real page meets them: seal on paper, lighting, crooked placement
    (`skew` degrees), sideways feed (`rotate` clockwise), dark scanner bed `border` px
    around, optics `blur` sigma, sensor `noise` sigma (gray levels), `salt_pepper`
    fraction of pixels, JPEG round trip at `jpeg_quality`.
    """
    correction_for(rotate)  # validates
    rng = np.random.default_rng(seed)
    out = img
    if stamp:
        out = _stamp(out, rng)
    if illumination > 0:
        out = _illuminate(out, min(illumination, 1.0), rng)
    if skew:
        out = _skew(out, skew)
    if rotate:
        out = np.ascontiguousarray(np.rot90(out, k=-(rotate // 90)))  # negative k: clockwise
    if border > 0:
        value = int(rng.integers(15, 60))
        fill = (value,) * 3 if out.ndim == 3 else value
        out = cv2.copyMakeBorder(out, border, border, border, border, cv2.BORDER_CONSTANT,
                                 value=fill)  # fmt: skip
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    if noise > 0:
        # One grain for all channels: sensor noise is mostly in brightness.
        grain = rng.standard_normal(out.shape[:2], dtype=np.float32) * noise
        noisy = out.astype(np.float32) + (grain[:, :, None] if out.ndim == 3 else grain)
        out = np.rint(np.clip(noisy, 0, 255, out=noisy), out=noisy).astype(np.uint8)
    if salt_pepper > 0:
        out = out.copy() if out is img else out
        h, w = out.shape[:2]
        count = int(salt_pepper * h * w)
        ys, xs = rng.integers(0, h, count), rng.integers(0, w, count)
        values = rng.integers(0, 2, count).astype(np.uint8) * 255
        out[ys, xs] = values[:, None] if out.ndim == 3 else values
    if jpeg_quality is not None:
        out = _jpeg(out, jpeg_quality)
    return out


def _draw(spec: Any, rng: random.Random) -> Any:
    if isinstance(spec, list):
        return rng.choice(spec)
    lo, hi = spec
    if isinstance(lo, int) and isinstance(hi, int):
        return rng.randint(lo, hi)
    return round(rng.uniform(lo, hi), 3)


def degraded_page(text: str, level: str, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Render text and degrade it with parameters drawn from LEVELS[level] by seed.

    Returns the image and the parameters used (`degrade`'s keywords), plus "text" (the
    ground truth as drawn), "dpi" and "correction" (clockwise turn that uprights it).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; one of {', '.join(LEVELS)}")
    rng = random.Random(f"degrade:{level}:{seed}")
    params = {name: _draw(spec, rng) for name, spec in LEVELS[level].items()}
    if "skew" in params:
        params["skew"] *= rng.choice((-1, 1))
    page = render_page(text)
    image = degrade(page.image, seed=seed, **params)
    rotate = params.get("rotate", 0)
    info = {**params, "text": page.text, "dpi": page.dpi, "correction": correction_for(rotate)}
    return image, info


def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img, "RGB" if img.ndim == 3 else "L")


def write_png(path: Path | str, img: np.ndarray, dpi: int) -> None:
    """Write one page as PNG with its resolution recorded."""
    _pil(img).save(path, format="PNG", dpi=(dpi, dpi), compress_level=3)


def write_multipage_tiff(path: Path | str, imgs: list[np.ndarray], dpi: int) -> None:
    """Write pages as one TIFF: CCITT group 4 when all are black-and-white, else LZW."""
    if not imgs:
        raise ValueError("write_multipage_tiff needs at least one page")
    bilevel = all(i.ndim == 2 and bool(np.all((i == 0) | (i == 255))) for i in imgs)
    if bilevel:
        frames = [Image.fromarray(i, "L").convert("1", dither=Image.Dither.NONE) for i in imgs]
        compression = "group4"
    else:
        frames = [_pil(i) for i in imgs]
        compression = "tiff_lzw"
    frames[0].save(path, format="TIFF", save_all=True, append_images=frames[1:],
                   compression=compression, dpi=(dpi, dpi))  # fmt: skip


def write_born_digital_pdf(
    path: Path | str, pages_text: list[str], *, font_size: float = 12
) -> list[str]:
    """Write an A4 PDF with a real text layer (DejaVu Sans embedded); returns each page's
    text as laid out (lines joined by "\\n"). Raises ValueError if a page's text overflows.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU_SANS)))
    page_w, page_h = A4
    margin, leading = 72.0, font_size * 1.3
    max_lines = int((page_h - 2 * margin) // leading)

    def fits(line: str) -> bool:
        return pdfmetrics.stringWidth(line, "DejaVuSans", font_size) <= page_w - 2 * margin

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)  # invariant: same bytes each run
    laid_out = []
    for number, text in enumerate(pages_text, start=1):
        paragraphs = [p for p in unicodedata.normalize("NFC", text).split("\n") if p.strip()]
        lines = [line for p in paragraphs for line in _wrap(p, fits)]
        if len(lines) > max_lines:
            raise ValueError(f"page {number} has {len(lines)} lines, at most {max_lines} fit")
        body = pdf.beginText(margin, page_h - margin - font_size)
        body.setFont("DejaVuSans", font_size, leading)
        for line in lines:
            body.textLine(line)
        pdf.drawText(body)
        pdf.showPage()
        laid_out.append("\n".join(lines))
    pdf.save()
    return laid_out


def write_scanned_pdf(path: Path | str, imgs: list[np.ndarray], dpi: int) -> None:
    """Write an image-only PDF (no text layer), one page per image at its physical size."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    if not imgs:
        raise ValueError("write_scanned_pdf needs at least one page")
    pdf = canvas.Canvas(str(path), invariant=1)
    for img in imgs:
        h, w = img.shape[:2]
        size = (w * 72 / dpi, h * 72 / dpi)
        pdf.setPageSize(size)
        pdf.drawImage(ImageReader(_pil(img)), 0, 0, width=size[0], height=size[1])
        pdf.showPage()
    pdf.save()
