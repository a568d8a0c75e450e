"""Streaming PDF writer benchmark: peak memory and time of writing a searchable PDF and a
PDF/A master of N pages, the page-by-page writer against the in-memory one it replaced.

    python bench/pdf_stream_bench.py [--pages 100,1000,5000] [--old-max 1000] [--dpi 300]
                                     [--dossier-max 1000] [--out-dir DIR]

Every page is the same synthetic colour A4 scan JPEG (`synth.longdoc.scan_jpeg`, cream paper
with grain and lines of dark blocks; ~1.7 MB at 300 dpi), bytes reused, with 30 lines of
Vietnamese words as its text. Each run is a fresh process (peak RSS = its ru_maxrss); new
and old runs of a size are interleaved. The old writer is the code of `--old-rev` (the
commit before the change), taken with `git show` into a temporary folder and run as it
was (pikepdf building the whole PDF in memory, saved at the end); it is run only up to
`--old-max` pages (its peak grows by the page's size per page: 5,000 pages would need
~9 GB). Output goes to /dev/null unless `--out-dir` is given (then one file at a time,
deleted after its run), so disk speed does not blur the writer's own time.

"dossier" (up to `--dossier-max` pages) is what a dossier export does with a document: the
N-page master written, its pages copied into the dossier PDF, that marked as a use copy
(timed together; files on disk, the use copy reads its source back). Its old way is
pikepdf's page copy into a new PDF saved to bytes and the bytes-to-bytes use copy.

A real ingest of one long document is measured by `bench/document_memory.py`.
Target: peak RSS < 600 MB for 5,000 pages; time per page flat (linear time).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OLD_REV = "8e0c560"  # the commit whose writers built the PDF in memory
OLD_FILES = {"old_searchable_pdf": "ocr/searchable_pdf.py", "old_pdfa": "archive/pdfa.py"}


def old_modules(rev: str, into: Path) -> None:
    """The old writers as importable modules: their relative imports made absolute, the old
    PDF/A writer importing the old searchable PDF module."""
    for module, path in OLD_FILES.items():
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:{path}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        package = "kho." + path.split("/")[0]
        source = re.sub(r"^from \.\.(\w+)", r"from kho.\1", source, flags=re.M)
        source = re.sub(r"^from \.(\w+)", rf"from {package}.\1", source, flags=re.M)
        source = source.replace(
            "from kho.ocr.searchable_pdf import", "from old_searchable_pdf import"
        )
        (into / f"{module}.py").write_text(source, "utf-8")


def write_old(kind: str, pages: int, jpeg: Path, out: Path, modules: Path) -> None:
    """The document written by the old writers, as the pipeline called them (texts listed)."""
    import numpy as np
    from PIL import Image

    from kho.synth.longdoc import page_texts

    if kind == "dossier":
        return dossier_old(pages, jpeg, out)
    sys.path.insert(0, str(modules))
    with Image.open(jpeg) as im:
        width, height = im.size
    dpi = round(width / 8.27)
    texts = list(page_texts(pages, width, height, dpi))
    with open(out, "wb") as f:
        if kind == "searchable":
            import old_searchable_pdf

            old_searchable_pdf.write_searchable_pdf([(jpeg, t) for t in texts], f)
        else:
            import old_pdfa

            data, blank = jpeg.read_bytes(), np.zeros((1, 1), np.uint8)
            scans = (old_pdfa.Scan(blank, dpi, data) for _ in range(pages))
            old_pdfa.write_master_pdf(texts, scans, {"title": "Hồ sơ dài"}, f)


def dossier_old(pages: int, jpeg: Path, out: Path) -> None:
    """A dossier export's way with a document before: pikepdf copying its pages into the
    dossier PDF, saved to bytes, then marked as a use copy bytes to bytes."""
    import io
    from datetime import datetime

    import pikepdf

    from kho.archive.usecopy import use_copy
    from kho.synth.longdoc import write

    master = out.with_suffix(".master.pdf")
    write("master", pages, jpeg, master)
    with pikepdf.new() as whole, pikepdf.open(master) as src:
        whole.pages.extend(src.pages)
        buf = io.BytesIO()
        whole.save(buf)
    when = datetime(2026, 12, 1, 9, 30).astimezone()
    out.write_bytes(use_copy(buf.getvalue(), "Trần Thị Thu", when))


def run(which: str, kind: str, pages: int, jpeg: Path, out: Path, modules: Path) -> dict:
    """One write in a fresh process: peak RSS (MB), CPU and wall seconds."""
    if which == "new":
        cmd = [sys.executable, "-m", "kho.synth.longdoc", kind, str(pages), str(jpeg), str(out)]
    else:
        cmd = [sys.executable, __file__, "--child", kind, str(pages), str(jpeg), str(out),
               str(modules)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{which} {kind} {pages}: {proc.stderr[-2000:]}")
    rss, cpu, wall = proc.stdout.split()
    return {"rss_mb": int(rss) / 1024, "cpu_s": float(cpu), "wall_s": float(wall)}


def bench_writers(args, work: Path) -> None:
    from kho.synth.longdoc import scan_jpeg

    jpeg = work / "scan.jpg"
    jpeg.write_bytes(scan_jpeg(dpi=args.dpi))
    modules = work / "old"
    modules.mkdir()
    old_modules(args.old_rev, modules)
    print(f"page: colour A4 JPEG at {args.dpi} dpi, {jpeg.stat().st_size / 1e6:.2f} MB")
    print(f"{'kind':10} {'pages':>6} {'writer':6} {'peak MB':>8} {'wall s':>8} {'CPU s':>7} "
          f"{'ms/page':>8} {'CPU ms/page':>11}")  # fmt: skip
    for pages in args.pages:
        dossier = ("dossier",) if pages <= args.dossier_max else ()
        for kind in ("searchable", "master", *dossier):
            for which in ("new", "old") if pages <= args.old_max else ("new",):
                folder = Path(args.out_dir or work)
                to_disk = args.out_dir or kind == "dossier"  # a use copy is read back
                out = folder / f"{kind}-{pages}.pdf" if to_disk else Path(os.devnull)
                r = run(which, kind, pages, jpeg, out, modules)
                for made in folder.glob(f"{kind}-{pages}.*pdf"):
                    made.unlink()
                print(f"{kind:10} {pages:>6} {which:6} {r['rss_mb']:>8.0f} {r['wall_s']:>8.2f} "
                      f"{r['cpu_s']:>7.2f} {1000 * r['wall_s'] / pages:>8.2f} "
                      f"{1000 * r['cpu_s'] / pages:>11.2f}", flush=True)  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, pages, jpeg, out, modules = sys.argv[2:7]
        from kho.synth.longdoc import report

        start = time.perf_counter()
        write_old(kind, int(pages), Path(jpeg), Path(out), Path(modules))
        print(report(start))
        return
    sizes = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=sizes, default=[100, 1000, 5000])
    parser.add_argument("--old-max", type=int, default=1000)
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--dossier-max", type=int, default=1000)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--out-dir", default="")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="kho-pdf-bench-") as tmp:
        bench_writers(args, Path(tmp))


if __name__ == "__main__":
    main()
