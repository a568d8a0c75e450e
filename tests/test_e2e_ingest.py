"""End to end through the real CLI: a folder of scans in, a searchable archive out."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pdfplumber
import pytest

from kho.synth.badfiles import write_bad_inputs
from kho.synth.pages import (
    degrade,
    render_page,
    write_born_digital_pdf,
    write_multipage_tiff,
    write_png,
)

from .conftest import run_kho

pytestmark = pytest.mark.slow

PAGES = {
    "decision.png": "QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ và Đảng ủy Trung đoàn 9.\n"
    "Đồng chí bí thư chịu trách nhiệm tổ chức thực hiện quyết định này.",
    "report.png": "BÁO CÁO\nKết quả công tác dân vận năm 2024 của Sư đoàn 5.\n"
    "Bộ đội giúp nhân dân xây dựng nông thôn mới tại địa phương.",
}
TIFF_PAGES = [
    "KẾ HOẠCH\nTuyên truyền kỷ niệm ngày thành lập Quân đội nhân dân Việt Nam.",
    "Các cơ quan báo chí phối hợp tổ chức triển lãm ảnh về truyền thống anh hùng.",
]
PDF_PAGES = [
    "THÔNG BÁO kết luận kiểm tra của Ủy ban Kiểm tra Đảng ủy Quân khu 7.",
    "Yêu cầu các tổ chức đảng khắc phục khuyết điểm trong thời hạn quy định.",
]


def small_page(text: str):
    return render_page(text, dpi=300, height_in=4.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("scans")
    for i, (name, text) in enumerate(PAGES.items()):
        page = small_page(text)
        img = degrade(page.image, seed=i, skew=2.0 if i else 0.0)
        write_png(root / name, img, page.dpi)
    (root / "sub").mkdir()
    write_multipage_tiff(root / "sub" / "plan.tif", [small_page(t).image for t in TIFF_PAGES], 300)
    write_born_digital_pdf(root / "notice.pdf", PDF_PAGES)
    bad_dir = root / "bad"
    bad_dir.mkdir()
    bad = write_bad_inputs(bad_dir)
    return {"root": root, "bad": bad}


@pytest.fixture(scope="module")
def archive(corpus, tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("home")
    proc = run_kho(
        "ingest",
        str(corpus["root"]),
        "--batch",
        "b1",
        "--unit",
        "qk7/f5",
        "-j",
        "2",
        home=home,
        check=1,
    )
    return {"home": home, "first": proc, **corpus}


def search(home: Path, *query: str) -> list[dict]:
    return json.loads(run_kho("search", *query, "--json", "--limit", "50", home=home).stdout)


def catalog_rows(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return db.execute(sql).fetchall()


def test_good_files_are_indexed_and_bad_ones_recorded(archive):
    status = json.loads(run_kho("status", "--batch", "b1", "--json", home=archive["home"]).stdout)
    batch = status["batches"][0]
    # 2 PNG + 1 TIFF + 1 PDF are documents; .docx is skipped; every other bad file failed.
    assert batch["docs_indexed"] == 4
    assert batch["pages_done"] == 2 + 2 + 2
    reasons = {Path(f["what"]).name: f["reason"].lower() for f in status["failures"]}
    for name, expected in archive["bad"].items():
        if "unsupported" in expected:
            assert name not in reasons
            continue
        assert name in reasons, f"{name} not recorded as failed"
        assert expected in reasons[name], (name, reasons[name])
        assert "\n" not in reasons[name]


def test_search_with_and_without_diacritics(archive):
    home = archive["home"]
    exact = search(home, "quyết định")
    folded = search(home, "quyet dinh")
    assert exact, "OCR'd page with 'quyết định' not found"
    assert {(h["doc_id"], h["page"]) for h in exact} == {(h["doc_id"], h["page"]) for h in folded}
    for hit in exact:
        assert {"doc_id", "page", "category", "snippet"} <= hit.keys() and "score" not in hit
    # text from a TIFF's second page and from the born-digital PDF
    assert any(h["page"] == 2 for h in search(home, "triển lãm"))
    notice = search(home, "Ủy ban Kiểm tra")
    assert notice and notice[0]["category"] == "kiem_tra_ky_luat"
    assert search(home, "dan van")[0]["category"] == "dan_van"


def test_searchable_pdf_has_text_layer(archive):
    home = archive["home"]
    hit = search(home, "chi bộ")[0]
    out = home / "out.pdf"
    run_kho("export", hit["doc_id"], "--format", "pdf", "--out", str(out), home=home)
    with pdfplumber.open(out) as pdf:
        pages = [(p.extract_text() or "").splitlines() for p in pdf.pages]
    # a use copy: each page ends with its footer (archive.usecopy), the text layer above it
    assert all(lines[-1].startswith("Bản sao sử dụng — cấp cho ") for lines in pages)
    text = "\n".join("\n".join(lines[:-1]) for lines in pages)
    assert "Trung đoàn" in text and "quyết định" in text  # diacritics survive the layer
    exported = home / "out.json"
    run_kho("export", hit["doc_id"], "--format", "json", "--out", str(exported), home=home)
    ocr_words = [w[0] for p in json.loads(exported.read_text())["pages"] for w in p["words"]]
    assert len(ocr_words) > 15
    assert text.split() == ocr_words  # the text layer is exactly what OCR read, in order
    txt = home / "out.txt"
    run_kho("export", hit["doc_id"][:10], "--format", "txt", "--out", str(txt), home=home)
    assert "Trung đoàn" in txt.read_text(encoding="utf-8")


def test_reingest_adds_nothing(archive):
    home = archive["home"]
    before = (
        catalog_rows(home, "select count(*) from documents"),
        catalog_rows(home, "select count(*) from pages"),
    )
    hits_before = search(home, "quyết định")
    proc = run_kho("ingest", str(archive["root"]), "--batch", "b2", home=home, check=1)
    assert "0 new" in proc.stderr
    after = (
        catalog_rows(home, "select count(*) from documents"),
        catalog_rows(home, "select count(*) from pages"),
    )
    assert before == after
    assert search(home, "quyết định") == hits_before


def test_show_and_unknown_document(archive):
    home = archive["home"]
    hit = search(home, "nông thôn")[0]
    shown = run_kho("show", hit["doc_id"][:12], "--text", home=home).stdout
    assert "nông thôn" in shown and "dan_van" in shown
    missing = run_kho("show", "0" * 12, home=home, check=3)
    assert "no document" in missing.stderr


def test_ocr_review_lists_ocr_pages_under_the_threshold(archive):
    home = archive["home"]

    def listed(*args: str) -> list[dict]:
        return json.loads(run_kho("review", "ocr", "--json", *args, home=home).stdout)

    every = listed("--below", "100", "--batch", "b1")
    assert len(every) == 4  # the PNG and TIFF pages; the PDF's text layer is not OCR
    assert [r["confidence"] for r in every] == sorted(r["confidence"] for r in every)
    assert {r["filename"] for r in every} == {*PAGES, "plan.tif"}
    assert all(r["confidence"] > 60 for r in every)  # clean generated pages read well
    assert listed() == []  # under the configured review_confidence (60): none
    lowest = every[0]["confidence"]
    assert listed("--below", str(lowest + 0.01)) == every[:1]
    text = run_kho("review", "ocr", "--below", "100", home=home).stdout
    assert "kho reocr" in text


def test_interrupted_batch_resumes(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    texts = [f"Trang số {i}. Hội nghị chi bộ quyết định kết nạp đảng viên mới." for i in range(6)]
    for i, text in enumerate(texts):
        write_png(scans / f"p{i}.png", small_page(text).image, 300)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env["KHO_HOME"] = str(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kho", "ingest", str(scans), "--batch", "r", "-j", "1", "-q"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and done < 1:
        time.sleep(0.3)
        if (home / "catalog.sqlite").exists():
            try:
                done = catalog_rows(home, "select count(*) from pages where status='done'")[0][0]
            except sqlite3.OperationalError:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= done < 6, "the batch should have been killed part-way"
    run_kho("ingest", str(scans), "--batch", "r", "-j", "2", home=home)
    pages = catalog_rows(home, "select status, count(*) from pages group by status")
    assert pages == [("done", 6)]
    hits = search(home, "kết nạp")
    assert len(hits) == 6 and len({h["doc_id"] for h in hits}) == 6


def test_page_over_a_limit_is_a_recorded_failure(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    write_png(scans / "slow.png", small_page(TIFF_PAGES[0]).image, 300)
    write_born_digital_pdf(scans / "fine.pdf", PDF_PAGES)
    config = tmp_path / "kho.toml"
    config.write_text("[limits]\npage_timeout_s = 0.01\n", encoding="utf-8")
    home = tmp_path / "home"
    proc = run_kho(
        "ingest", str(scans), "--batch", "lim", home=home, env={"KHO_CONFIG": str(config)}, check=1
    )
    assert "longer than" in proc.stderr
    rows = catalog_rows(
        home,
        "select d.filename, p.status, p.reason from pages p "
        "join documents d on d.id = p.doc_id order by d.filename, p.page",
    )
    assert [(f, s) for f, s, _ in rows] == [
        ("fine.pdf", "done"),
        ("fine.pdf", "done"),
        ("slow.png", "failed"),
    ]
    assert "page_timeout_s" in rows[2][2]
    assert search(home, "Ủy ban Kiểm tra"), "the good file must still be searchable"


def test_classify_apply_reclassifies_without_rewriting_files(archive):
    home = archive["home"]
    pdfs = sorted((home / "docs").glob("*/searchable.pdf"))
    assert len(pdfs) == 4
    before = {p: p.stat().st_mtime_ns for p in pdfs}
    hits = search(home, "nông thôn")
    out = run_kho("classify", "apply", "--batch", "b1", home=home).stdout
    assert "reclassified 4 documents, 0 changed category" in out
    assert {p: p.stat().st_mtime_ns for p in pdfs} == before  # nothing but the index touched
    assert search(home, "nông thôn") == hits


def test_worker_needs_redis(tmp_path):  # no service needed: runs in make test-fast too
    proc = run_kho("worker", "--burst", home=tmp_path, check=5)
    assert "KHO_REDIS_URL" in proc.stderr


def test_status_says_why_the_queues_are_missing(archive):
    proc = run_kho(
        "status", "--json", home=archive["home"], env={"KHO_REDIS_URL": "redis://127.0.0.1:9/0"}
    )
    st = json.loads(proc.stdout)
    assert st["mode"] == "distributed" and st["queues"] == [] and st["workers"] == []
    assert "Redis at redis://127.0.0.1:9/0 is unavailable" in st["queue_error"]
    assert "b1" in [b["name"] for b in st["batches"]]  # the catalog still answers


def test_every_page_and_document_decision_is_logged_with_its_context(archive):
    """The skewed PNG was deskewed: its page JSON says so and why, and the log line names the
    document and page it is about; each document's category is logged with its reasons."""
    home = archive["home"]
    (doc_id,) = catalog_rows(home, "select id from documents where filename = 'report.png'")[0]
    page = json.loads((home / "docs" / doc_id / "page-00001.json").read_text())
    assert any(s.startswith("deskew: tilted") for s in page["steps"]), page["steps"]
    log = (home / "logs" / "kho.log").read_text()
    line = next(x for x in log.splitlines() if f"[doc={doc_id[:12]} page=1]: page read" in x)
    assert "deskew: tilted" in line and "confidence" in line
    assert f"[doc={doc_id[:12]}]: indexed: 1 pages, category" in log
