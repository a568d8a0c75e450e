"""The local worker pool under faults: a worker killed (the OOM killer), a page that kills
every worker, hostile PDFs that would hold a worker for minutes, a disk that fills up.

Each runs the real `kho ingest` and looks at the real catalog afterwards: the batch goes
on, exactly the right page is retried or failed, nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import run_kho, write_scans

pytestmark = pytest.mark.slow
TEXTS = [
    f"BÁO CÁO số {i}\nKết quả công tác dân vận của Sư đoàn {i} tại địa phương." for i in range(7)
]
WORKING = re.compile(r" (\d+) kho\.pool: working on doc (\w+) page (\d+)$")


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    return write_scans(tmp_path_factory.mktemp("scans"), TEXTS, ["KẾ HOẠCH\nTuyên truyền."])


def start_ingest(scans: Path, home: Path, *args: str, env: dict | None = None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    full.update({"KHO_HOME": str(home), "COLUMNS": "200", **(env or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "kho", "ingest", str(scans), "--batch", "b", "-q", *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def descendants(pid: int) -> set[int]:
    out: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                out |= {int(child), *descendants(int(child))}
    return out


def busy_worker(home: Path, parent: int, page: tuple[str, int] | None = None, not_pid=0):
    """(pid, doc_id, page) of a worker of `parent` that has just begun a page (that page)."""
    log = home / "logs" / "kho.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        for line in reversed(lines):
            m = WORKING.search(line)
            if not m or int(m[1]) == not_pid:
                continue
            found = int(m[1]), m[2], int(m[3])
            if (page is None or found[1:] == page) and found[0] in descendants(parent):
                return found
        time.sleep(0.05)
    raise AssertionError("no worker began a page")


def pages(home: Path) -> dict[tuple[str, int], tuple[str, int, str]]:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        rows = db.execute("SELECT doc_id, page, status, attempts, reason FROM pages").fetchall()
    return {(d[:12], n): (status, attempts, reason) for d, n, status, attempts, reason in rows}


def documents(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return {d[:12]: s for d, s in db.execute("SELECT id, status FROM documents")}


def test_killed_worker_takes_only_its_page(scans, tmp_path):
    home = tmp_path / "home"
    proc = start_ingest(scans, home, "--jobs", "2")
    pid, doc, page = busy_worker(home, proc.pid)
    os.kill(pid, signal.SIGKILL)  # as the OOM killer does
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err
    read = pages(home)
    assert all(status == "done" for status, _, _ in read.values())
    again = [p for p, (_, attempts, _) in read.items() if attempts > 1]
    assert again == [(doc, page)]  # exactly the page the dead worker held was read again
    assert set(documents(home).values()) == {"indexed"}


def test_page_that_kills_every_worker_fails_alone(scans, tmp_path):
    home = tmp_path / "home"
    proc = start_ingest(scans, home, "--jobs", "2")
    first, doc, page = busy_worker(home, proc.pid)
    os.kill(first, signal.SIGKILL)
    second, _, _ = busy_worker(home, proc.pid, (doc, page), not_pid=first)
    os.kill(second, signal.SIGKILL)  # on its retry too
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out + err
    read = pages(home)
    status, _, reason = read.pop((doc, page))
    assert status == "failed"
    assert reason.startswith("worker died: out of memory? try fewer --jobs")
    assert all(status == "done" for status, _, _ in read.values())
    docs = documents(home)
    assert docs.pop(doc) == "failed"
    assert set(docs.values()) == {"indexed"}
    # the same command again: nothing left to do, and the good documents stay as they were
    again = run_kho("ingest", str(scans), "--batch", "b", "-q", home=home, check=1)
    assert "7 documents indexed" in again.stdout


def content_stream_bomb(path: Path) -> None:
    """~300 KB: a form of 20,000 filled squares, drawn 200 x 500 times on one page."""
    import pikepdf

    pdf = pikepdf.new()
    squares = pdf.make_stream(b"0 0 1 1 re f\n" * 20_000)
    squares.Type, squares.Subtype, squares.BBox = (
        pikepdf.Name.XObject,
        pikepdf.Name.Form,
        [0, 0, 9, 9],
    )
    many = pdf.make_stream(b"/S Do\n" * 500)
    many.Type, many.Subtype, many.BBox = pikepdf.Name.XObject, pikepdf.Name.Form, [0, 0, 9, 9]
    many.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(S=squares))
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(M=many))
    pdf.pages[0].Contents = pdf.make_stream(b"/M Do\n" * 200)
    pdf.save(path, compress_streams=True)


def text_layer_bomb(path: Path) -> None:
    """3,000,000 glyphs of text on one page (small compressed; 12 MB of content stream)."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                              BaseFont=pikepdf.Name.Helvetica)  # fmt: skip
    pdf.pages[0].Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F=font))
    line = b"(" + b"chi bo dang uy " * 7 + b"chi bo dang) Tj 0 -0.3 Td\n"
    pdf.pages[0].Contents = pdf.make_stream(b"BT /F 0.3 Tf 10 830 Td\n" + line * 28_000 + b"ET\n")
    pdf.save(path, compress_streams=True)


def test_hostile_pdfs_fail_in_one_line_and_the_batch_goes_on(tmp_path):
    from kho.synth.pages import render_page, write_png

    folder = tmp_path / "scans"
    folder.mkdir()
    content_stream_bomb(folder / "drawing.pdf")
    text_layer_bomb(folder / "text.pdf")
    assert (folder / "drawing.pdf").stat().st_size < 400_000
    assert (folder / "text.pdf").stat().st_size < 1_500_000
    for i in range(2):
        page = render_page(f"QUYẾT ĐỊNH số {i}\nVề việc kiện toàn chi bộ.", height_in=3)
        write_png(folder / f"good{i}.png", page.image, page.dpi)
    home = tmp_path / "home"
    home.mkdir()
    (home / "kho.toml").write_text(
        "[limits]\npage_timeout_s = 4\nworker_memory_mb = 1536\n", encoding="utf-8"
    )
    started = time.monotonic()
    proc = run_kho("ingest", str(folder), "--batch", "b", "-q", "--jobs", "2", home=home,
                   check=1, timeout=240)  # fmt: skip
    assert time.monotonic() - started < 150
    assert "2 documents indexed" in proc.stdout
    with sqlite3.connect(home / "catalog.sqlite") as db:
        rows = db.execute(
            "SELECT d.filename, p.status, p.reason FROM pages p JOIN documents d ON d.id = p.doc_id"
        ).fetchall()
    read = sorted(name for name, status, _ in rows if status == "done")
    assert read == ["good0.png", "good1.png"]
    bombs = {name: reason for name, status, reason in rows if status == "failed"}
    assert sorted(bombs) == ["drawing.pdf", "text.pdf"]
    for reason in bombs.values():  # past the deadline or the memory limit, said in one line
        assert reason and "\n" not in reason


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 48 MB file system of its own (tmpfs), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    with open(path, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()


def test_full_disk_pauses_the_batch_and_the_same_command_finishes_it(scans, small_disk, tmp_path):
    home = small_disk / "home"
    env = {"KHO_DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}
    proc = start_ingest(scans, home, "--jobs", "1", env=env)
    deadline = time.monotonic() + 120
    while not list(home.glob("docs/*/page-*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    fill(small_disk / "filler")  # someone else's files take the rest of the disk
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 7, out + err
    assert "disk full at" in err and "free space and run the same command again" in err
    failures = (
        "SELECT count(*) FROM pages WHERE status = 'failed' OR failed_at IS NOT NULL",
        "SELECT count(*) FROM documents WHERE status = 'failed'",
        "SELECT count(*) FROM batch_files WHERE status = 'failed'",
    )
    with sqlite3.connect(tmp_path / "catalog.sqlite") as db:
        failed = sum(db.execute(q).fetchone()[0] for q in failures)
        pending = db.execute("SELECT count(*) FROM pages WHERE status = 'pending'").fetchone()[0]
    assert failed == 0 and pending > 0  # nothing recorded as bad input: work left to do
    (small_disk / "filler").unlink()
    again = run_kho("ingest", str(scans), "--batch", "b", "-q", "--jobs", "1", home=home, env=env)
    assert "8 documents indexed" in again.stdout and "0 files and 0 pages failed" in again.stdout


def test_page_over_the_memory_limit_fails_alone(tmp_path):
    """A legal but huge colour page (140 Mpx) needs more than 1536 MB; a normal one less."""
    import cv2
    import numpy as np

    from kho.synth.pages import render_page, write_png

    folder = tmp_path / "scans"
    folder.mkdir()
    huge = np.full((14_000, 10_000, 3), 255, np.uint8)
    cv2.putText(huge, "QUYET DINH", (500, 2000), cv2.FONT_HERSHEY_SIMPLEX, 8, (0, 0, 0), 20)
    cv2.circle(huge, (5000, 9000), 2000, (0, 0, 255), 60)  # a red seal: stays colour
    cv2.imwrite(str(folder / "huge.png"), huge)
    page = render_page("QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ.", height_in=3)
    write_png(folder / "normal.png", page.image, page.dpi)
    home = tmp_path / "home"
    home.mkdir()
    (home / "kho.toml").write_text("[limits]\nworker_memory_mb = 1536\n", encoding="utf-8")
    proc = run_kho("ingest", str(folder), "--batch", "b", "-q", "--jobs", "2", home=home, check=1)
    assert "1 documents indexed" in proc.stdout
    with sqlite3.connect(home / "catalog.sqlite") as db:
        rows = dict(
            db.execute(
                "SELECT d.filename, p.reason FROM pages p JOIN documents d ON d.id = p.doc_id"
            ).fetchall()
        )
    assert rows["normal.png"] == ""
    assert rows["huge.png"].startswith("page needs more than 1536 MB of memory")
