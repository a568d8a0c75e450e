"""OCR degradation matrix: cleanup must never make a page worse than plain tesseract.

    python bench/ocr_matrix.py [--pages 5] [--factors specks,blur,...] [--json FILE]
        [--reuse FILE] [--real /work/shared/realpages]

Pages are rendered here, independently of kho's own generator (synth/pages.py): paragraphs of
Vietnamese news articles (/work/shared/vntc-dev when present, else kho.synth.text) set in
DejaVu Serif, DejaVu Sans or Liberation Serif at 11-13 pt on half an A4 page at 300 dpi, with a
bold centred title. One damage factor is varied at a time over its range; every other factor
stays at a mild default (a tilt within +-1 degree, sensor grain of sigma 2, JPEG quality 90).
Each page is read by
  plain      tesseract on the image as it is (-l vie, psm 3)
  reference  projection-profile deskew + division by the background (a large median blur),
             then the same tesseract
  kho        kho.ocr.read.read_image with OcrOptions(lang="vie")
The truth is the rendered lines in reading order; CER is Levenshtein distance over the truth's
length after NFC and whitespace collapse, summed over the cell's pages. Printed per cell: the
three CERs, seconds per page of each, and how often kho's guard read the plain image too.
`--real` runs plain tesseract and kho on the real pages of that folder (score.py's layout)
and prints score.py's table for both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unicodedata
from pathlib import Path

os.environ["OMP_THREAD_LIMIT"] = "1"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from kho.core.settings import OcrOptions  # noqa: E402
from kho.ocr.read import read_image  # noqa: E402
from kho.ocr.tesseract import ocr_image  # noqa: E402

try:
    from rapidfuzz.distance import Levenshtein
except ImportError:  # pragma: no cover - the bench says what to install
    sys.exit("the OCR matrix needs rapidfuzz: pip install rapidfuzz")

ARTICLES = Path("/work/shared/vntc-dev")
FONTS = {
    "dejavu-serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "dejavu-sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "liberation-serif": "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
}
BOLD = {
    "dejavu-serif": "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "dejavu-sans": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "liberation-serif": "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
}
DPI = 300
PAGE_W, PAGE_H = 2480, 1760  # half an A4 page at 300 dpi
MARGIN = 230
LANG = "vie"
TIMEOUT = 300.0

# factor -> level name -> damage parameters (merged over MILD)
MILD = {"tilt": 1.0, "grain": 2.0, "jpeg": 90}
FACTORS: dict[str, dict[str, dict]] = {
    "none": {"mild": {}},
    "specks": {
        "1px 0.5%": {"specks": (1, 0.005)},
        "1px 2%": {"specks": (1, 0.02)},
        "2px 0.3%": {"specks": (2, 0.003)},
        "3px 0.1%": {"specks": (3, 0.001)},
        "4px 0.05%": {"specks": (4, 0.0005)},
        "4px 0.2%": {"specks": (4, 0.002)},
    },
    "blur": {f"sigma {s}": {"blur": s} for s in (0.7, 1.2, 1.6, 2.0)},
    "jpeg": {f"q{q}": {"jpeg": q} for q in (95, 60, 40, 30)},
    "light": {
        "vignette 0.3": {"vignette": 0.3},
        "vignette 0.6": {"vignette": 0.6},
        "gradient 0.5": {"gradient": 0.5},
    },
    "bands": {
        "v thin dark": {"bands": ("v", 3, 0.75, 2)},
        "v wide gray": {"bands": ("v", 40, 0.35, 2)},
        "h medium": {"bands": ("h", 12, 0.5, 3)},
        "v+h mixed": {"bands": ("vh", 8, 0.6, 4)},
    },
    "seal": {"red": {"seal": "red"}, "grey": {"seal": "grey"}},
    "bilevel": {"threshold": {"bilevel": "threshold"}, "dither": {"bilevel": "dither"}},
    "dpi": {f"{d} dpi": {"dpi": d} for d in (200, 150, 100)},
}


# --- text and rendering ----------------------------------------------------------------------
def paragraphs(count: int, seed: int) -> list[str]:
    """`count` paragraphs of real Vietnamese prose (a news article's body), NFC."""
    rng = np.random.default_rng(seed)
    files = sorted(ARTICLES.glob("*/*.txt")) if ARTICLES.is_dir() else []
    out: list[str] = []
    if files:
        while len(out) < count:
            body = files[int(rng.integers(len(files)))].read_text(encoding="utf-8")
            paras = [" ".join(p.split()) for p in body.splitlines()[1:] if len(p.split()) >= 12]
            out += paras[: count - len(out)]
    else:
        from kho.synth.text import CATEGORIES
        from kho.synth.text import paragraphs as synth_paragraphs

        out = list(synth_paragraphs(CATEGORIES[seed % len(CATEGORIES)], count, seed))
    return [unicodedata.normalize("NFC", p) for p in out]


def render(seed: int) -> tuple[np.ndarray, list[str], str]:
    """A clean page (gray, 300 dpi), its lines in reading order, and the font used."""
    rng = np.random.default_rng(1000 + seed)
    font_name = list(FONTS)[seed % len(FONTS)]
    size = int(rng.integers(46, 55))  # 11-13 pt at 300 dpi
    font = ImageFont.truetype(FONTS[font_name], size)
    bold = ImageFont.truetype(BOLD[font_name], size + 4)
    img = Image.new("L", (PAGE_W, PAGE_H), 255)
    draw = ImageDraw.Draw(img)
    step = int(size * 1.45)
    title = "THÔNG BÁO KẾT QUẢ CÔNG TÁC NĂM " + str(2015 + seed % 10)
    width = draw.textlength(title, font=bold)
    draw.text(((PAGE_W - width) / 2, MARGIN), title, font=bold, fill=0)
    lines, y = [title], MARGIN + 2 * step
    chars = int((PAGE_W - 2 * MARGIN) / (0.5 * size))
    for para in paragraphs(6, seed):
        for line in textwrap.wrap(para, chars):
            while draw.textlength(line, font=font) > PAGE_W - 2 * MARGIN:
                line = line.rsplit(" ", 1)[0]  # textwrap counts characters, not ink
            if y + step > PAGE_H - MARGIN:
                return np.array(img), lines, font_name
            draw.text((MARGIN, y), line, font=font, fill=0)
            lines.append(line)
            y += step
        y += step // 3
    return np.array(img), lines, font_name


# --- damage ----------------------------------------------------------------------------------
def add_specks(gray: np.ndarray, size: int, density: float, rng) -> np.ndarray:
    """Dark dots and blobs on the paper and light holes in the ink, `size` px across."""
    out = gray.copy()
    h, w = out.shape
    n = int(density * h * w / (size * size))
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    dark = rng.random(n) < 0.7
    for y, x, d in zip(ys, xs, dark, strict=True):
        value = int(rng.integers(0, 60)) if d else 255
        if size <= 2:
            out[y : y + size, x : x + size] = value
        else:
            axes = (max(1, size // 2), max(1, int(rng.integers(1, size)) // 2 + 1))
            cv2.ellipse(out, (int(x), int(y)), axes, float(rng.integers(180)), 0, 360, value, -1)
    return out


def add_bands(gray: np.ndarray, spec: tuple, rng) -> np.ndarray:
    """Scanner streaks: darkened stripes across (h) or down (v) the page."""
    way, width, darkness, count = spec
    shade = np.ones(gray.shape, np.float32)
    h, w = gray.shape
    for i in range(count):
        vertical = way == "v" or (way == "vh" and i % 2 == 0)
        span = w if vertical else h
        start = int(rng.integers(MARGIN, span - MARGIN))
        bw = max(1, int(width * rng.uniform(0.6, 1.4)))
        factor = 1.0 - darkness * rng.uniform(0.7, 1.0)
        if vertical:
            shade[:, start : start + bw] *= factor
        else:
            shade[start : start + bw, :] *= factor
    return (gray.astype(np.float32) * shade).astype(np.uint8)


def add_seal(gray: np.ndarray, colour: str, rng) -> np.ndarray:
    """A round stamp behind the text (ink multiplies), red or grey (bleed-through)."""
    h, w = gray.shape
    mask = np.zeros((h, w), np.uint8)
    cx, cy = int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3))
    r = int(rng.integers(230, 320))
    cv2.circle(mask, (cx, cy), r, 255, 16)
    cv2.circle(mask, (cx, cy), int(r * 0.72), 255, 6)
    spokes = np.arange(10) * np.pi / 5 - np.pi / 2
    radius = np.where(np.arange(10) % 2 == 0, r / 3, r / 7.5)
    star = np.stack([cx + radius * np.cos(spokes), cy + radius * np.sin(spokes)], axis=1)
    cv2.fillPoly(mask, [star.astype(np.int32)], 255)
    alpha = mask.astype(np.float32)[:, :, None] / 255 * (0.85 if colour == "red" else 0.35)
    tint = np.array([40, 30, 210] if colour == "red" else [120, 120, 120], np.float32) / 255
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR).astype(np.float32)
    return np.clip(bgr * (1 - alpha + alpha * tint), 0, 255).astype(np.uint8)


def light_falloff(img: np.ndarray, vignette: float, gradient: float) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)) / np.sqrt(2)
    shade = (1 - vignette * r**2) * (1 - gradient * xx / w)
    if img.ndim == 3:
        shade = shade[:, :, None]
    return np.clip(img.astype(np.float32) * shade, 0, 255).astype(np.uint8)


def degrade(clean: np.ndarray, params: dict, seed: int) -> tuple[np.ndarray, int]:
    """Apply the damage `params` to a clean 300 dpi page; return it and its dpi."""
    rng = np.random.default_rng(seed)
    p = {**MILD, **params}
    img = clean
    if "specks" in p:
        img = add_specks(img, *p["specks"], rng)
    if p.get("blur"):
        img = cv2.GaussianBlur(img, (0, 0), p["blur"])
    tilt = float(rng.uniform(-p["tilt"], p["tilt"]))
    h, w = img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    if "bands" in p:
        img = add_bands(img, p["bands"], rng)
    if "seal" in p:
        img = add_seal(img, p["seal"], rng)
    if p.get("vignette") or p.get("gradient"):
        img = light_falloff(img, p.get("vignette", 0.0), p.get("gradient", 0.0))
    if p["grain"]:
        img = np.clip(img + rng.normal(0, p["grain"], img.shape), 0, 255).astype(np.uint8)
    dpi = p.get("dpi", DPI)
    if dpi != DPI:
        img = cv2.resize(img, None, fx=dpi / DPI, fy=dpi / DPI, interpolation=cv2.INTER_AREA)
    if p.get("bilevel") == "threshold":
        img = np.where(img < 150, 0, 255).astype(np.uint8)
    elif p.get("bilevel") == "dither":
        img = np.array(Image.fromarray(img).convert("1").convert("L"))
    elif p["jpeg"] < 100:
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(p["jpeg"])])
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    return img, dpi


# --- the three readers -----------------------------------------------------------------------
def to_gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def tesseract_text(img: np.ndarray, dpi: int) -> str:
    return ocr_image(img, lang=LANG, psm=3, timeout=TIMEOUT, dpi=dpi, engine="library").text


def read_plain(img: np.ndarray, dpi: int) -> str:
    return tesseract_text(img, dpi)


def reference_skew(gray: np.ndarray) -> float:
    """Tilt in degrees by projection profiles of Otsu ink on a 1/4 size page (0.1 steps)."""
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    small = cv2.medianBlur(small, 3)
    _, ink = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    h, w = ink.shape
    best, best_angle = -1.0, 0.0
    for angle in np.arange(-5.0, 5.01, 0.1):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        turned = cv2.warpAffine(ink, m, (w, h), flags=cv2.INTER_NEAREST)
        rows = turned.sum(axis=1, dtype=np.float64)
        score = float(np.square(np.diff(rows)).sum())
        if score > best:
            best, best_angle = score, float(angle)
    return best_angle


def read_reference(img: np.ndarray, dpi: int) -> str:
    """Deskew, then divide by the background (a median blur wider than any glyph)."""
    gray = to_gray(img)
    angle = reference_skew(gray)
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    gray = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    small = cv2.resize(gray, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    back = cv2.resize(cv2.medianBlur(small, 21), (w, h), interpolation=cv2.INTER_LINEAR)
    flat = cv2.divide(gray, np.maximum(back, 1), scale=255)
    return tesseract_text(flat, dpi)


def read_kho(img: np.ndarray, dpi: int) -> tuple[str, tuple[str, ...]]:
    page, _ = read_image(img, OcrOptions(lang=LANG), timeout=TIMEOUT, dpi=dpi)
    return page.text, page.steps


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# --- running ---------------------------------------------------------------------------------
def run_cell(factor: str, level: str, pages: int, reuse: dict) -> dict:
    params = FACTORS[factor][level]
    edits = {"plain": 0, "reference": 0, "kho": 0}
    seconds = {"plain": 0.0, "reference": 0.0, "kho": 0.0}
    chars = guard = 0
    kept_plain = 0
    old = reuse.get(f"{factor}/{level}", {})
    for n in range(pages):
        clean, lines, _ = render(n)
        img, dpi = degrade(clean, params, seed=97 * n + len(level))
        truth = normalize(" ".join(lines))
        chars += len(truth)
        for name, reader in (("plain", read_plain), ("reference", read_reference)):
            if name in old and len(old[name]["texts"]) > n:
                got, secs = old[name]["texts"][n], old[name]["seconds"][n]
            else:
                t0 = time.perf_counter()
                got = reader(img, dpi)
                secs = time.perf_counter() - t0
            edits[name] += Levenshtein.distance(normalize(got), truth)
            seconds[name] += secs
            seconds.setdefault(name + "_list", []).append(secs)
            edits.setdefault(name + "_texts", []).append(got)
        t0 = time.perf_counter()
        got, steps = read_kho(img, dpi)
        seconds["kho"] += time.perf_counter() - t0
        edits["kho"] += Levenshtein.distance(normalize(got), truth)
        guard_steps = [s for s in steps if s.startswith("guard")]
        guard += bool(guard_steps)
        kept_plain += any("kept plain" in s for s in guard_steps)
    return {
        "factor": factor,
        "level": level,
        "pages": pages,
        "cer": {k: edits[k] / chars for k in ("plain", "reference", "kho")},
        "seconds": {k: seconds[k] / pages for k in ("plain", "reference", "kho")},
        "guard": guard,
        "kept_plain": kept_plain,
        "saved": {
            k: {"texts": edits[k + "_texts"], "seconds": seconds[k + "_list"]}
            for k in ("plain", "reference")
        },
    }


def print_table(cells: list[dict]) -> None:
    print(
        f"{'factor':8} {'level':13} {'plain':>7} {'ref':>7} {'kho':>7} {'ok':>3}"
        f"   {'s plain':>7} {'ref':>5} {'kho':>5}  guard"
    )
    worst = 0
    for c in cells:
        cer, sec = c["cer"], c["seconds"]
        ok = cer["kho"] <= min(cer["plain"], cer["reference"]) + 0.002
        worst += not ok
        print(
            f"{c['factor']:8} {c['level']:13} {cer['plain']:7.4f} {cer['reference']:7.4f}"
            f" {cer['kho']:7.4f} {'yes' if ok else 'NO':>3}   {sec['plain']:7.2f}"
            f" {sec['reference']:5.2f} {sec['kho']:5.2f}  {c['guard']}/{c['pages']}"
            f" (plain kept {c['kept_plain']})"
        )
    fired = sum(c["guard"] for c in cells)
    total = sum(c["pages"] for c in cells)
    print(f"cells where kho > min(plain, reference) + 0.002: {worst}/{len(cells)}")
    print(f"guard fired on {fired}/{total} pages")
    for k in ("plain", "reference", "kho"):
        mean = sum(c["seconds"][k] * c["pages"] for c in cells) / max(total, 1)
        print(f"mean s/page {k}: {mean:.2f}", end="   ")
    print()


def run_real(folder: Path) -> None:
    """Plain tesseract and kho on the real pages; score.py prints both tables."""
    from kho.ingest.formats import dpi_of, to_array, upright

    out = Path(tempfile.mkdtemp(prefix="kho-matrix-real-"))
    fired = 0
    for name in ("plain", "kho"):
        (out / name).mkdir()
    images = sorted((folder / "images").glob("*.png"))
    for path in images:
        with Image.open(path) as im:
            img, dpi = to_array(upright(im)), dpi_of(im)
        t0 = time.perf_counter()
        plain = read_plain(img, dpi)
        t1 = time.perf_counter()
        text, steps = read_kho(img, dpi)
        t2 = time.perf_counter()
        fired += any(s.startswith("guard") for s in steps)
        (out / "plain" / f"{path.stem}.txt").write_text(plain, encoding="utf-8")
        (out / "kho" / f"{path.stem}.txt").write_text(text, encoding="utf-8")
        print(f"{path.stem:16} plain {t1 - t0:5.2f}s kho {t2 - t1:5.2f}s  {'; '.join(steps)}")
    print(f"guard fired on {fired}/{len(images)} real pages; outputs in {out}")
    scorer = folder / "score.py"
    subprocess.run([sys.executable, str(scorer), str(out / "plain"), str(out / "kho")], check=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=5, help="pages per cell")
    parser.add_argument("--factors", default=",".join(FACTORS), help="comma-separated")
    parser.add_argument("--levels", default="", help="only these level names (comma-separated)")
    parser.add_argument("--json", type=Path, help="write the cells (and texts) to this file")
    parser.add_argument("--reuse", type=Path, help="plain and reference texts from a --json")
    parser.add_argument("--real", type=Path, help="also score the real pages in this folder")
    args = parser.parse_args(argv)
    reuse: dict = {}
    if args.reuse and args.reuse.exists():
        reuse = {
            f"{c['factor']}/{c['level']}": c["saved"] for c in json.loads(args.reuse.read_text())
        }
    levels = set(filter(None, args.levels.split(",")))
    cells = []
    for factor in args.factors.split(","):
        for level in FACTORS[factor]:
            if levels and level not in levels:
                continue
            cells.append(run_cell(factor, level, args.pages, reuse))
            c = cells[-1]
            print(
                f"  {factor}/{level}: " + " ".join(f"{k} {v:.4f}" for k, v in c["cer"].items()),
                file=sys.stderr,
                flush=True,
            )
    print_table(cells)
    if args.json:
        args.json.write_text(json.dumps(cells, ensure_ascii=False))
    if args.real:
        run_real(args.real)


if __name__ == "__main__":
    main()
