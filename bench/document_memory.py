"""Memory and time of a real `kho ingest` of one long document, by its length.

    .venv/bin/python bench/document_memory.py --kind scan --pages 100,1000,5000 --dpi 150
    .venv/bin/python bench/document_memory.py --kind text --pages 100,1000 --before DIR

`--kind scan`: a scanned PDF of N copies of one colour page at `--dpi` (a few lines of
Vietnamese text, a red seal; its JPEG drawn full page, as a scanner's PDF is). `--kind
text`: a born-digital PDF of N pages of `--lines` lines of Vietnamese words (40: ~440
words a page, a real text layer). Each is ingested by the real command (`kho ingest --jobs J`, a
fresh storage root, SQLite catalog, embedded index), and every process of the run is read
from /proc every 0.2 s: the peak RSS of the largest (VmHWM), split into the reading phase
(pages still to read) and the document phase (searchable PDF, classification, master,
index), the CPU seconds of all of them, and CPU ms per page (time linear in pages: the
same figure at every size). `--before DIR` runs the same files through another checkout's
`DIR/.venv/bin/kho` in the same run (the baseline; `--before-max` caps its sizes).
Target: the largest process under 600 MB at 5,000 pages, time linear.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO.parent))

from kho.synth.scratch import descendants  # noqa: E402

TEXT = ("Quyết định về việc khen thưởng tập thể Chi bộ Đại đội 3 năm 2024.\n"
        "Căn cứ Điều lệ Đảng Cộng sản Việt Nam và Quy định thi hành Điều lệ;")  # fmt: skip
VOCABULARY = (
    "Quyết định khen thưởng tập thể Chi bộ Đại đội hoàn thành xuất sắc nhiệm vụ công tác "
    "Đảng chính trị tư tưởng quần chúng dân vận tuyên truyền giáo dục cán bộ đảng viên kiểm "
    "tra giám sát kỷ luật bảo vệ an ninh nội bộ chính sách hậu phương quân đội nhân dân năm"
).split()


def scanned_pdf(path: Path, pages: int, dpi: int) -> None:
    """A scanned PDF of `pages` copies of one colour A4 page at `dpi`, written page by page."""
    import cv2

    from kho.core.pdfstream import Name, PdfWriter
    from kho.synth.pages import degrade, render_page

    page = render_page(TEXT, dpi=dpi, height_in=11.69)
    ok, buf = cv2.imencode(".jpg", degrade(page.image, seed=3, stamp=True),
                           [cv2.IMWRITE_JPEG_QUALITY, 85])  # fmt: skip
    jpeg = buf.tobytes()
    height, width = page.image.shape[:2]
    w, h = width * 72 / dpi, height * 72 / dpi
    image = {"Type": Name("XObject"), "Subtype": Name("Image"), "Width": width,
             "Height": height, "BitsPerComponent": 8, "ColorSpace": Name("DeviceRGB"),
             "Filter": Name("DCTDecode")}  # fmt: skip
    with open(path, "wb") as f:
        pdf = PdfWriter(f)
        tree, kids = pdf.reserve(), []
        for _ in range(pages):
            content = pdf.add_stream(f"q {w:.2f} 0 0 {h:.2f} 0 0 cm /Im0 Do Q".encode())
            kids.append(pdf.add({"Type": Name("Page"), "Parent": tree, "MediaBox": [0, 0, w, h],
                                 "Resources": {"XObject": {"Im0": pdf.add_stream(jpeg, image)}},
                                 "Contents": content}))  # fmt: skip
        pdf.add({"Type": Name("Pages"), "Kids": kids, "Count": pages}, tree)
        pdf.finish(pdf.add({"Type": Name("Catalog"), "Pages": tree}))


def text_pdf(path: Path, pages: int, lines: int = 40) -> None:
    """A born-digital PDF of `pages` pages of `lines` lines of Vietnamese words (a seeded
    draw, 11 words a line)."""
    import random

    from kho.synth.pages import write_born_digital_pdf

    rng = random.Random(7)
    texts = [
        f"Trang {n + 1}.\n"
        + "\n".join(" ".join(rng.choices(VOCABULARY, k=11)) for _ in range(lines))
        for n in range(pages)
    ]
    write_born_digital_pdf(path, texts)


def status(pid: int) -> tuple[int, int, float]:
    """A process's RSS and peak RSS (KiB) and CPU seconds; zeros once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0, 0.0
    rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return int(rss[1]) if rss else 0, int(hwm[1]) if hwm else 0, ticks / os.sysconf("SC_CLK_TCK")


def pending(home: Path) -> int | None:
    """Pages still to read, from the catalog (None before it exists)."""
    try:
        db = sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM pages WHERE status = 'pending'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None


def ingest(kho: Path, pdf: Path, home: Path, jobs: int) -> dict:
    """Run `kho ingest` of one file; peaks (MB) of the largest process while pages were
    read and after, CPU seconds of all processes, wall seconds, whether it indexed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    home.mkdir(mode=0o700)
    config = home.parent / f"{home.name}.toml"
    config.write_text('[principals.bench]\nclearance = 3\nunits = ["*"]\n', "utf-8")
    config.chmod(0o600)
    env |= {"KHO_HOME": str(home), "KHO_CONFIG": str(config), "KHO_PRINCIPAL": "bench"}
    start = time.perf_counter()
    cmd = [str(kho), "ingest", str(pdf), "--jobs", str(jobs), "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu: dict[int, float] = {}
    peak = {"reading": 0, "document": 0}
    phase, checked = "reading", 0.0
    while proc.poll() is None:
        if phase == "reading" and time.monotonic() - checked > 2:
            checked = time.monotonic()
            phase = "document" if pending(home) == 0 else "reading"
        for pid in [proc.pid, *descendants(proc.pid)]:
            rss, _, used = status(pid)
            peak[phase] = max(peak[phase], rss)
            cpu[pid] = max(cpu.get(pid, 0.0), used)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode:
        print(err.decode()[-2000:])
    return {
        "ok": proc.returncode == 0 and b"0 failed" in out + err,
        "reading_mb": peak["reading"] / 1024,
        "document_mb": peak["document"] / 1024,
        "cpu_s": sum(cpu.values()),
        "wall_s": wall,
    }


def main() -> None:
    sizes = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("scan", "text"), default="scan")
    parser.add_argument("--pages", type=sizes, default=[100, 1000])
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--lines", type=int, default=40, help="lines a page (--kind text)")
    parser.add_argument("--before", default="", help="another checkout: its .venv/bin/kho")
    parser.add_argument("--before-max", type=int, default=1000)
    args = parser.parse_args()
    runs = [("this", REPO / ".venv" / "bin" / "kho")]
    if args.before:
        runs.append(("before", Path(args.before) / ".venv" / "bin" / "kho"))
    print(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; kind {args.kind}, "
          f"{args.dpi} dpi, --jobs {args.jobs}")  # fmt: skip
    print(f"{'pages':>6} {'kho':6} {'reading MB':>10} {'document MB':>11} {'wall s':>8} "
          f"{'CPU s':>8} {'CPU ms/page':>11} ok")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kho-docmem-") as tmp:
        work = Path(tmp)
        for pages in args.pages:
            pdf = work / f"{args.kind}-{pages}.pdf"
            if args.kind == "scan":
                scanned_pdf(pdf, pages, args.dpi)
            else:
                text_pdf(pdf, pages, args.lines)
            for which, kho in runs:
                if which == "before" and pages > args.before_max:
                    continue
                r = ingest(kho, pdf, work / f"home-{which}-{pages}", args.jobs)
                print(f"{pages:>6} {which:6} {r['reading_mb']:>10.0f} {r['document_mb']:>11.0f} "
                      f"{r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} {1000 * r['cpu_s'] / pages:>11.1f} "
                      f"{r['ok']}", flush=True)  # fmt: skip
            pdf.unlink()


if __name__ == "__main__":
    main()
