"""Whether a change to cleanup leaves its output the same: a digest of every page's result.

    python bench/cleanup_same.py OUT.json                 # on the code as it is
    python bench/cleanup_same.py OUT.json --against OLD.json

`clean_page` runs with the default options on generated pages (`synth.pages`: clean,
medium and hard, upright and turned 90/180/270, medium at 150 dpi, dusty pages in gray and
colour, pipeline_bench.py's 5-inch pages) and on the real scans in /work/shared/realpages
when they are there. For each page it keeps a digest of the OCR image and the view image,
the turn, skew, scale, offset, steps with their reasons, the share of ink changed and the
matrix. Run it on the code before a change (git stash), then after with --against: it
names every page whose result differs (exit 1), or says none does.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from kho.core.settings import OcrOptions  # noqa: E402
from kho.ocr.cleanup import clean_page  # noqa: E402
from kho.ocr.geometry import rotate  # noqa: E402
from kho.synth.pages import degraded_page, render_page  # noqa: E402
from kho.synth.text import CATEGORIES, document_text  # noqa: E402

REALPAGES = "/work/shared/realpages/images"


def digest(img: np.ndarray) -> str:
    data = np.ascontiguousarray(img).tobytes() + str(img.shape).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def dusty(img: np.ndarray, seed: int) -> np.ndarray:
    """2x2 dark dots over the page: specks for despeckle, no lone pixels for denoise."""
    out = img.copy()
    rng = np.random.default_rng(seed)
    for y, x in zip(
        rng.integers(0, img.shape[0] - 2, 300), rng.integers(0, img.shape[1] - 2, 300), strict=True
    ):
        out[y : y + 2, x : x + 2] = 0
    return out


def pages() -> Iterator[tuple[str, np.ndarray, int]]:
    cats = list(CATEGORIES)
    for level in ("clean", "medium", "hard"):
        for seed in range(6):
            img, _ = degraded_page(document_text(cats[seed % len(cats)], seed), level, seed)
            yield f"{level}-{seed}", img, 300
            if level != "hard" and seed < 3:
                for turn in (90, 180, 270):
                    yield f"{level}-{seed}-r{turn}", rotate(img, turn), 300
            if level == "medium" and seed < 3:
                small = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
                yield f"{level}-{seed}-150dpi", small, 150
    for seed in range(3):
        img = dusty(degraded_page(document_text(cats[seed], seed), "clean", seed)[0], seed)
        yield f"dust-{seed}", img, 300
        if seed == 0:
            yield "dust-0-r90", rotate(img, 90), 300
            yield "dust-0-bgr", cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), 300
    for path in sorted(glob.glob(f"{REALPAGES}/*.png")):
        yield f"real-{Path(path).name}", cv2.imread(path, cv2.IMREAD_UNCHANGED), 300
    sys.path.insert(0, str(Path(__file__).parent))
    from pipeline_bench import TEXT

    for n in range(4):
        page = render_page(TEXT.format(n=n + 1), height_in=5.0).image
        yield f"bench-{n}", page, 300
        if n == 0:
            yield "bench-0-r90", rotate(page, 90), 300


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--against", type=Path, help="a digest file from the code before")
    args = ap.parse_args()
    found: dict[str, list] = {}
    t0 = time.process_time()
    for name, img, dpi in pages():
        c = clean_page(img, OcrOptions(), dpi=dpi)
        found[name] = [
            digest(c.ocr_image),
            digest(c.view_image),
            c.rotation,
            c.skew,
            c.scale,
            list(c.offset),
            list(c.reasons),
            round(c.changed, 9),
            [round(v, 9) for v in c.matrix],
        ]
    seconds = time.process_time() - t0
    args.out.write_text(json.dumps(found, indent=0))
    print(f"{len(found)} pages, {seconds:.1f} CPU s of cleanup")
    if args.against:
        before = json.loads(args.against.read_text())
        differ = [k for k in before if before[k] != found.get(k)]
        print("differ: " + (", ".join(differ) if differ else "none"))
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
