"""Fixity through the real CLI, on real pages (the bundled samples/): `kho verify` names
every original or derivative that changed or vanished and derives nothing again; a
corrupted original is refused by every path that reads it (reocr, resume)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from .conftest import REPO, run_kho

CONFIG = 'default_principal = "chief"\n[principals.chief]\nclearance = 3\nunits = ["*"]\n'


def ingest_samples(home: Path, env: dict | None = None) -> Path:
    home.mkdir(mode=0o700, parents=True)
    (home / "kho.toml").write_text(CONFIG)
    (home / "kho.toml").chmod(0o600)
    run_kho("ingest", str(REPO / "samples"), "--batch", "s", "-q", "-j", "2", home=home, env=env)
    return home


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory) -> Path:
    """The samples ingested once (SQLite catalog); each test works on a copy."""
    return ingest_samples(tmp_path_factory.mktemp("samples") / "home")


@pytest.fixture
def home(sample_home, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(sample_home, copy)
    return copy


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def docs(home: Path) -> dict[str, str]:
    """file name -> document id."""
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return dict(db.execute("SELECT filename, id FROM documents"))


def original(home: Path, doc_id: str) -> Path:
    (path,) = (home / "originals" / doc_id[:2]).glob(f"{doc_id}.*")
    return path


def tree(home: Path) -> dict[str, str]:
    """Every file under originals/ and docs/ -> its digest."""
    return {
        p.relative_to(home).as_posix(): sha(p)
        for top in ("originals", "docs")
        for p in sorted((home / top).rglob("*"))
        if p.is_file()
    }


def test_verify_reports_each_changed_or_missing_file_and_derives_nothing(home):
    ids = docs(home)
    clean = run_kho("verify", home=home)
    assert "0 alarms" in clean.stdout
    assert "6 documents" in clean.stdout

    tif, png, jpg = (
        ids["ho-so-can-bo.tif"],
        ids["nghi-quyet-chi-bo.png"],
        ids["bao-cao-dan-van.jpg"],
    )
    flip_byte(original(home, tif))
    flip_byte(home / "docs" / png / "page-00001.jpg")
    (home / "docs" / jpg / "page-00001.json").unlink()
    before = tree(home)

    res = run_kho("verify", home=home, check=1)
    lines = res.stdout.splitlines()
    alarms = [line for line in lines if line.startswith("ALARM")]
    assert len(alarms) == 3, res.stdout
    (orig,) = [a for a in alarms if tif[:12] in a]
    assert "original changed" in orig and "restore the original from a backup set" in orig
    (image,) = [a for a in alarms if png[:12] in a]
    assert "page-image" in image and "changed" in image and f"kho reocr {png[:12]}" in image
    (gone,) = [a for a in alarms if jpg[:12] in a]
    assert "page-text" in gone and "missing" in gone and "page-00001.json" in gone
    assert "3 alarms (1 originals, 2 derivatives; 1 missing)" in lines[-1]
    assert tree(home) == before  # nothing re-derived or repaired
    log = (home / "logs" / "kho.log").read_text()
    assert "ERROR" in log and "original changed" in log and tif[:12] in log

    one = run_kho("verify", "--doc", png[:12], home=home, check=1)
    assert one.stdout.count("ALARM") == 1 and "1 documents" in one.stdout
    sample = run_kho("verify", "--sample", "2", home=home, check=None)
    assert "verify: 2 documents" in sample.stdout

    rows = run_kho("audit", "--action", "verify", "--json", home=home).stdout.splitlines()
    details = [json.loads(r)["detail"] for r in rows]
    assert len(details) == 4  # the clean run, the alarms, --doc, --sample
    assert {a["path"] for a in details[-2]["alarms"]} >= {f"docs/{jpg}/page-00001.json"}
    run_kho("audit", "verify", home=home)


def test_corrupted_original_is_never_derived_again(home):
    ids = docs(home)
    doc = ids["ket-luan-kiem-tra.png"]
    flip_byte(original(home, doc))
    before = tree(home)
    with sqlite3.connect(home / "catalog.sqlite") as db:
        pages_before = db.execute("SELECT * FROM pages WHERE doc_id = ?", (doc,)).fetchall()

    res = run_kho("reocr", doc[:12], home=home, check=7)
    assert "no longer matches its id" in res.stderr and "restore it from a backup set" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert tree(home) == before

    # a page of it read again by `kho resume` is refused the same way, left pending
    with sqlite3.connect(home / "catalog.sqlite") as db:
        db.execute("UPDATE pages SET status = 'pending' WHERE doc_id = ?", (doc,))
        db.execute("UPDATE documents SET status = 'registered' WHERE id = ?", (doc,))
    res = run_kho("resume", "--batch", "s", home=home, check=7)
    assert "no longer matches its id" in res.stderr
    assert tree(home) == before
    with sqlite3.connect(home / "catalog.sqlite") as db:
        statuses = db.execute("SELECT status FROM pages WHERE doc_id = ?", (doc,)).fetchall()
    assert statuses == [("pending",)] * len(pages_before)


def test_reocr_records_the_new_derivatives(home):
    doc = docs(home)["nghi-quyet-chi-bo.png"]
    (home / "docs" / doc / "page-00001.json").unlink()
    run_kho("verify", home=home, check=1)
    run_kho("reocr", doc[:12], "--psm", "6", home=home)
    assert "0 alarms" in run_kho("verify", home=home).stdout


def test_reindex_records_an_archive_from_before_fixity(home):
    with sqlite3.connect(home / "catalog.sqlite") as db:
        db.execute("DELETE FROM fixity")
    doc = docs(home)["nghi-quyet-chi-bo.png"]
    before = run_kho("verify", home=home).stdout
    assert "6 documents without fixity records" in before and "6 files" in before
    run_kho("reindex", home=home)
    after = run_kho("verify", home=home).stdout
    stored = sum(1 for d in ("originals", "docs") for f in (home / d).rglob("*") if f.is_file())
    assert "without fixity records" not in after and f"{stored} files" in after
    flip_byte(home / "docs" / doc / "page-00001.jpg")
    assert f"docs/{doc}/page-00001.jpg" in run_kho("verify", home=home, check=1).stdout


def test_a_damaged_page_text_is_one_line_that_says_what_to_do(home):
    doc = docs(home)["nghi-quyet-chi-bo.png"]
    page = home / "docs" / doc / "page-00001.json"
    page.write_bytes(page.read_bytes()[:-40])
    res = run_kho("reindex", home=home, check=7)
    assert f"kho reocr {doc[:12]}" in res.stderr and "internal error" not in res.stderr
    run_kho("reocr", doc[:12], home=home)
    run_kho("reindex", home=home)
    assert "0 alarms" in run_kho("verify", home=home).stdout


def test_each_page_image_has_a_recorded_screen_rendition(home):
    import cv2

    png = docs(home)["nghi-quyet-chi-bo.png"]
    folder = home / "docs" / png
    image, screen = folder / "page-00001.jpg", folder / "page-00001.screen.jpg"
    width = cv2.imread(str(screen)).shape[1]
    assert width == min(1200, cv2.imread(str(image)).shape[1])
    assert screen.stat().st_size < image.stat().st_size
    with sqlite3.connect(home / "catalog.sqlite") as db:
        (row,) = db.execute(
            "SELECT kind, sha256 FROM fixity WHERE path = ?", (f"docs/{png}/page-00001.screen.jpg",)
        )
    assert row == ("page-image", sha(screen))
    flip_byte(screen)
    res = run_kho("verify", home=home, check=1)
    (alarm,) = [line for line in res.stdout.splitlines() if line.startswith("ALARM")]
    assert "page-00001.screen.jpg" in alarm and f"kho reocr {png[:12]}" in alarm
