"""Reading order on real scanned pages: kho with and without its layout, and raw tesseract.

    .venv/bin/python bench/layout_real.py [--pages DIR] [--out DIR] [--lang vie] [IDS...]

Reads every `images/<id>.png` of a realpages folder (default /work/shared/realpages, see its
README) once with `kho.ocr.read.read_image` (`OcrOptions(lang=...)`, the rest default), and
writes three outputs per page in the same run:

  kho         PageText.text as kho stores it (regions in reading order)
  no-layout   the same words in tesseract's order (the text before `ocr.layout` ran: the
              words of each tesseract line, as its TSV gives them), so the layout's gain is
              measured on the very same recognition
  tesseract   plain `tesseract IMG - -l LANG` (psm 3), OMP_THREAD_LIMIT=1

then scores the three folders with the folder's own `score.py` (CER, order-sensitive; BoW,
order-free) and prints its table, plus the layout's own cost per page (CPU ms, the median of
5 runs on the page's words and view image; noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from kho.core.settings import Limits, OcrOptions  # noqa: E402
from kho.ingest.formats import ImageFile  # noqa: E402
from kho.ocr import read as read_module  # noqa: E402
from kho.ocr.layout import lay_out  # noqa: E402

TIMEOUT = 300.0


def read_both(img, dpi: int, lang: str):
    """kho's page, the page as it was before the layout ran, and the view image."""
    seen = []

    def keep(page, *args, **kwargs):
        seen.append(page)
        return lay_out(page, *args, **kwargs)

    with mock.patch.object(read_module, "lay_out", keep):
        page, view = read_module.read_image(img, OcrOptions(lang=lang), timeout=TIMEOUT, dpi=dpi)
    return page, seen[0], view


def layout_ms(before, view) -> float:
    runs = []
    for _ in range(5):
        start = time.process_time()
        lay_out(before, view)
        runs.append(time.process_time() - start)
    return sorted(runs)[2] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ids", nargs="*", help="page ids (default: all)")
    parser.add_argument("--pages", type=Path, default=Path("/work/shared/realpages"))
    parser.add_argument("--out", type=Path, default=None, help="keep the outputs here")
    parser.add_argument("--lang", default="vie")
    args = parser.parse_args()
    images = sorted((args.pages / "images").glob("*.png"))
    images = [p for p in images if not args.ids or p.stem in args.ids]
    if not images:
        print(f"no pages under {args.pages / 'images'}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="kho-layout-"))
    folders = {name: out / name for name in ("kho", "no-layout", "tesseract")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    costs = []
    for path in images:
        with ImageFile(path, "png", Limits()) as source:
            img, dpi = source.render(0), source.dpi(0)
        page, before, view = read_both(img, dpi, args.lang)
        (folders["kho"] / f"{path.stem}.txt").write_text(page.text + "\n", encoding="utf-8")
        (folders["no-layout"] / f"{path.stem}.txt").write_text(before.text + "\n", encoding="utf-8")
        raw = subprocess.run(
            ["tesseract", str(path), "-", "-l", args.lang],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (folders["tesseract"] / f"{path.stem}.txt").write_text(raw, encoding="utf-8")
        costs.append((path.stem, layout_ms(before, view), len(page.regions)))
    score = subprocess.run(
        [sys.executable, str(args.pages / "score.py"), *map(str, folders.values())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(score.rstrip())
    print()
    print("id,layout_cpu_ms,regions")
    for stem, ms, count in costs:
        print(f"{stem},{ms:.1f},{count}")
    print(f"outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
