"""Every way out of `kho` has its exit code and one line that says what to do.

Bad data is exit 1, a bad command line or query 2, a missing document 3, a missing
language pack 4, a bad config 5, a service down 6, lost or full storage 7, a bug 70 (with
the traceback in the log file, not on the screen), Ctrl-C 130.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import run_kho, write_scans


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, str]:
    """A storage root holding one good page; the batch also met a bad file (exit 1)."""
    from kho.synth.pages import render_page, write_png

    root = tmp_path_factory.mktemp("exit")
    scans = root / "scans"
    scans.mkdir()
    page = render_page("QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ Trung đoàn 9 năm 2024.", height_in=3)
    write_png(scans / "good.png", page.image, page.dpi)
    (scans / "notes.jpg").write_text("not a picture\n", encoding="utf-8")
    home = root / "home"
    proc = run_kho("ingest", str(scans), "--batch", "b", "-q", home=home, check=1)
    assert "1 documents indexed" in proc.stdout
    show = run_kho("search", "kien toan", "--json", home=home)
    doc_id = show.stdout.split('"doc_id": "')[1].split('"')[0]
    return home, doc_id


def test_ok_and_files_failed(archive):
    home, doc_id = archive
    assert run_kho("search", "kien toan", home=home).returncode == 0
    status = run_kho("status", "--batch", "b", home=home)
    assert "notes.jpg" in status.stdout  # the reason of the exit-1 batch is listed


@pytest.mark.parametrize(
    "args",
    [
        ("search", "x", "--from", "2024-13-01"),
        ("search", "x", "--from", "2024-05-01", "--to", "2024-01-01"),
        ("search", "x", "--after", "not-a-cursor"),
    ],
)
def test_bad_queries_are_usage_errors(archive, args):
    home, _ = archive
    proc = run_kho(*args, home=home, check=2)
    assert one_line_error(proc).startswith("error:")


def test_unknown_category_is_a_usage_error(archive):
    home, doc_id = archive
    proc = run_kho("review", "relabel", doc_id, "no_such_category", home=home, check=2)
    assert "no category 'no_such_category'" in one_line_error(proc)


def test_missing_document_missing_language_bad_config(archive, tmp_path):
    home, _ = archive
    assert run_kho("show", "0123456789ab", home=home, check=3)
    scans = Path(tmp_path)
    proc = run_kho("ingest", str(scans), "--lang", "xyz", home=tmp_path / "h", check=4)
    assert "xyz" in one_line_error(proc)
    config = tmp_path / "bad.toml"
    config.write_text("[limits]\nno_such_limit = 1\n", encoding="utf-8")
    proc = run_kho("search", "x", home=home, env={"KHO_CONFIG": str(config)}, check=5)
    assert "no_such_limit" in one_line_error(proc)


def test_service_unavailable(tmp_path):
    proc = run_kho(
        "resume", home=tmp_path / "h", env={"KHO_REDIS_URL": "redis://127.0.0.1:1/0"}, check=6
    )
    assert "KHO_REDIS_URL" in one_line_error(proc)


def test_lost_stored_file_is_said_in_one_line(archive, tmp_path):
    home, doc_id = archive
    moved = tmp_path / "moved"
    docs = home / "docs" / doc_id
    docs.rename(moved)  # the storage root restored from a copy older than the catalog
    try:
        for args in (("export", doc_id, "--format", "txt"), ("export", doc_id), ("show", doc_id)):
            extra = ["--out", str(tmp_path / "out")] if args[0] == "export" else ["--text"]
            proc = run_kho(*args, *extra, home=home, check=7)
            line = one_line_error(proc)
            assert "missing from the storage root" in line and "KHO_HOME" in line
    finally:
        moved.rename(docs)
    assert run_kho("show", doc_id, "--text", home=home).returncode == 0


def test_unexpected_error_is_logged_not_shown(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "catalog.sqlite").write_bytes(b"this is not a database, it was overwritten" * 100)
    proc = run_kho("status", home=home, check=70)
    line = one_line_error(proc)
    log = home / "logs" / "kho.log"
    assert "internal error:" in line and str(log) in line
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")


@pytest.mark.slow
def test_interrupted_ingest_exits_130_and_resumes(tmp_path):
    (tmp_path / "scans").mkdir()
    texts = [f"BÁO CÁO số {i}\nCông tác dân vận." for i in range(3)]
    scans = write_scans(tmp_path / "scans", texts, ["KẾ HOẠCH\nTuyên truyền."])
    home = tmp_path / "h"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env["KHO_HOME"] = str(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kho", "ingest", str(scans), "--batch", "i", "-q", "--jobs", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = home / "logs" / "kho.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and "working on" in log.read_text(encoding="utf-8"):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command again" in err and "Traceback" not in err
    again = run_kho("ingest", str(scans), "--batch", "i", "-q", home=home)
    assert "4 documents indexed" in again.stdout
