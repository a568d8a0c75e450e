"""A document of any length for memory and speed checks of the PDF writers: one colour scan
JPEG reused for every page, and each page's text (numbered, so a page's text can be found),
made one page at a time.

`python -m kho.synth.longdoc KIND N JPEG OUT` writes a searchable PDF or a PDF/A master of
N pages in this process and prints its peak RSS in KiB and its CPU seconds: run in a fresh
process per size, peaks of different sizes compare.
"""

from __future__ import annotations

import re
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from kho.core.types import Alignment, PageText, Word

WORDS = "Quyết định khen thưởng tập thể Chi bộ Đại đội hoàn thành xuất sắc nhiệm vụ".split()
LINES = 30  # lines of text a page holds
PER_LINE = 8


def scan_jpeg(dpi: int = 300, seed: int = 0, quality: int = 85) -> bytes:
    """An A4 colour page at `dpi` as JPEG bytes: cream paper with grain and dark lines of
    'text' (blocks), about what a scanner gives for a typed page."""
    rng = np.random.default_rng(seed)
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = np.empty((height, width, 3), np.uint8)
    page[:] = (222, 236, 242)  # BGR cream
    grain = rng.integers(-12, 12, (height, width, 1), dtype=np.int16)
    page = np.clip(page.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    line_h = height // (LINES + 10)
    for n in range(LINES):
        top = (5 + n) * line_h + line_h // 4
        x = width // 10
        for _ in range(PER_LINE):
            w = int(rng.integers(width // 30, width // 10))
            page[top : top + line_h // 2, x : x + w] = (40, 30, 30)
            x += w + width // 60
    ok, buf = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def page_text(number: int, width: int, height: int, dpi: int) -> PageText:
    """Page `number`'s text: LINES lines of Vietnamese words, the first 'Trang <number>'."""
    line_h = height // (LINES + 10)
    words = []
    for n in range(LINES):
        top, x = (5 + n) * line_h, width // 10
        line = [f"Trang {number}"] if n == 0 else []
        line += [WORDS[(number + n + i) % len(WORDS)] for i in range(PER_LINE)]
        for token in " ".join(line).split():
            w = len(token) * line_h // 3
            words.append(Word(token, 90.0, x, top, w, line_h // 2))
            x += w + width // 60
    text = " ".join(w.text for w in words)
    identity = Alignment((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), width, height)
    return PageText(text, 90.0, tuple(words), width, height, "ocr", dpi=dpi, alignment=identity)


def page_texts(pages: int, width: int, height: int, dpi: int) -> Iterator[PageText]:
    return (page_text(n, width, height, dpi) for n in range(1, pages + 1))


def write(kind: str, pages: int, jpeg: Path, out: Path) -> None:
    """Write the N-page document of `kind` ("searchable", "master", or "dossier": the
    master's pages copied into another PDF and that made a use copy) to `out`."""
    if kind == "dossier":
        write("master", pages, jpeg, out.with_suffix(".master.pdf"))
        copy_and_mark(out.with_suffix(".master.pdf"), out)
        return
    import PIL.Image

    with PIL.Image.open(jpeg) as im:
        width, height = im.size
    dpi = round(width / 8.27)  # an A4 page (`scan_jpeg`)
    texts = page_texts(pages, width, height, dpi)
    with open(out, "wb") as f:
        if kind == "searchable":
            from kho.ocr.searchable_pdf import write_searchable_pdf

            write_searchable_pdf(((jpeg, t) for t in texts), f)
        else:
            from kho.archive.pdfa import Scan, write_master_pdf

            data, blank = jpeg.read_bytes(), np.zeros((1, 1), np.uint8)
            scans = (Scan(blank, dpi, data) for _ in range(pages))  # bytes reused: one copy
            write_master_pdf(texts, scans, {"title": "Hồ sơ dài"}, f)


def copy_and_mark(source: Path, out: Path) -> None:
    """What a dossier export does with a document: its pages copied one by one into a new
    PDF (`core.pdfcopy`), then that file marked as a use copy, file to file."""
    from datetime import datetime

    import pikepdf

    from kho.archive.usecopy import write_use_copy
    from kho.core.pdfcopy import PageCopier
    from kho.core.pdfstream import Name, PdfWriter

    whole = out.with_suffix(".whole.pdf")
    with open(whole, "wb") as f, pikepdf.open(source) as src:
        pdf = PdfWriter(f)
        tree = pdf.reserve()
        copier = PageCopier(pdf, src)
        kids = [copier.copy_page(i, tree) for i in range(len(src.pages))]
        pdf.add({"Type": Name("Pages"), "Kids": kids, "Count": len(kids)}, tree)
        pdf.finish(pdf.add({"Type": Name("Catalog"), "Pages": tree}))
    with open(out, "wb") as f:
        write_use_copy(whole, f, "Trần Thị Thu", datetime(2026, 12, 1, 9, 30).astimezone())


def peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: that keeps the high-water mark of
    the parent's memory this process was forked with, before it ran this program."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1])


def report(started: float) -> str:
    """Peak RSS (KiB), CPU and wall seconds since `started`, as one line."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    return f"{peak_rss_kib()} {cpu:.3f} {time.perf_counter() - started:.3f}"


if __name__ == "__main__":
    kind, n, jpeg_path, out_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    start = time.perf_counter()
    write(kind, n, Path(jpeg_path), Path(out_path))
    print(report(start))
