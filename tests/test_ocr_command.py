"""`kho ocr` on real files (a scan, a born-digital PDF, a corrupt file) and `kho reocr`."""

from __future__ import annotations

import json
import sqlite3
import unicodedata

import pdfplumber
import pytest
from click.testing import CliRunner
from lxml import etree

from kho.commands.ocr import ocr, reocr
from kho.core.errors import ExitCode, KhoError
from kho.core.settings import load_settings
from kho.synth.pages import degrade, render_page, write_born_digital_pdf, write_png

from .conftest import run_kho

SCAN_TEXT = (
    "QUYẾT ĐỊNH về việc kiện toàn chi bộ và Đảng ủy Trung đoàn 9.\n"
    "Đồng chí bí thư chịu trách nhiệm tổ chức thực hiện quyết định này."
)
PDF_PAGES = [
    "THÔNG BÁO kết luận kiểm tra của Ủy ban Kiểm tra Đảng ủy Quân khu 7.",
    "Yêu cầu các tổ chức đảng khắc phục khuyết điểm trong thời hạn quy định.",
]


def words(text: str) -> list[str]:
    return unicodedata.normalize("NFC", text).split()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("loose")
    page = render_page(SCAN_TEXT, height_in=3.0)
    write_png(root / "quyet-dinh.png", degrade(page.image, seed=3, skew=2.5, noise=4.0), page.dpi)
    write_born_digital_pdf(root / "thong-bao.pdf", PDF_PAGES)
    (root / "hong.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
    names = {"scan": "quyet-dinh.png", "pdf": "thong-bao.pdf", "bad": "hong.png"}
    return {**{k: root / v for k, v in names.items()}, "truth": page.text}


def invoke(args: list[str], home, command=ocr) -> tuple[int, str, str]:
    """`kho ocr ...` (or `reocr`) through the real command line when the `kho` group has it,
    else the click command itself (same code, same settings from the environment)."""
    from kho.cli import main

    if command.name in main.commands:
        proc = run_kho(command.name, *args, home=home, check=None)
        return proc.returncode, proc.stdout, proc.stderr
    settings = load_settings({"KHO_HOME": str(home)})
    result = CliRunner().invoke(command, args, obj={"settings": settings})
    if isinstance(result.exception, KhoError):  # what `kho`'s entry point maps to exit codes
        return int(result.exception.exit_code), result.stdout, str(result.exception)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ocr_prints_every_file_and_reports_the_bad_one(files, tmp_path):
    code, out, err = invoke([str(files["scan"]), str(files["bad"]), str(files["pdf"])], tmp_path)
    assert code == 1  # a file failed; the others were read all the same
    bad_lines = [line for line in err.splitlines() if "hong.png" in line]
    assert len(bad_lines) == 1 and "failed" in bad_lines[0]
    scan_part, pdf_part = out.split("==> ")[1:]  # a header per file read
    got, want = words(scan_part.split("<==", 1)[1]), words(files["truth"])
    assert sum(a == b for a, b in zip(got, want, strict=False)) >= len(want) - 2
    for text in PDF_PAGES:  # the text layer, exactly
        assert text in " ".join(pdf_part.split())
    assert "\f" in pdf_part  # a form feed between the PDF's two pages


def test_ocr_writes_json_hocr_alto_and_pdf_files(files, tmp_path):
    out_dir = tmp_path / "out"
    for fmt in ("json", "hocr", "alto", "pdf"):
        code, _, err = invoke([str(files["scan"]), str(files["pdf"]), "--format", fmt,
                               "--out", str(out_dir)], tmp_path)  # fmt: skip
        assert code == 0, err
    data = json.loads((out_dir / "quyet-dinh.json").read_text(encoding="utf-8"))
    (page,) = data["pages"]
    assert set(page) >= {"page", "text", "confidence", "rotation", "skew"}
    assert page["source"] == "ocr" and page["confidence"] > 80
    assert page["skew"] == pytest.approx(2.5, abs=0.5)
    layer = json.loads((out_dir / "thong-bao.json").read_text(encoding="utf-8"))["pages"]
    assert [p["source"] for p in layer] == ["text-layer", "text-layer"]
    hocr = etree.parse(str(out_dir / "quyet-dinh.hocr"))
    hocr_words = [w.text for w in hocr.iter("{*}span") if w.get("class") == "ocrx_word"]
    assert hocr_words == words(page["text"])
    alto = etree.parse(str(out_dir / "thong-bao.xml"))
    assert len(alto.findall(".//{*}Page")) == 2
    assert " ".join(s.get("CONTENT") for s in alto.iter("{*}String")) == " ".join(PDF_PAGES)
    with pdfplumber.open(out_dir / "quyet-dinh.pdf") as pdf:
        assert words(pdf.pages[0].extract_text()) == words(page["text"])


def test_pdf_output_is_whole_files_only_and_a_bad_file_leaves_nothing(files, tmp_path):
    out_dir = tmp_path / "out"
    bad_pdf = tmp_path / "cut.pdf"  # two good pages, then cut short: read fails past them
    data = (files["pdf"]).read_bytes()
    bad_pdf.write_bytes(data[: len(data) // 2])
    args = [str(files["pdf"]), str(bad_pdf), str(files["bad"]), "--format", "pdf"]
    code, _, err = invoke([*args, "--out", str(out_dir)], tmp_path)
    assert code == 1, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["thong-bao.pdf"]  # no partial file
    assert "wrote" in err and "(2 pages)" in err
    with pdfplumber.open(out_dir / "thong-bao.pdf") as pdf:
        assert [words(p.extract_text()) for p in pdf.pages] == [words(t) for t in PDF_PAGES]


def test_ocr_options_change_the_reading(files, tmp_path):
    code, out, _ = invoke([str(files["scan"]), "--no-clean", "--format", "json"], tmp_path)
    assert code == 0
    raw = json.loads(out)["pages"][0]
    assert (raw["rotation"], raw["skew"]) == (0, 0.0)  # nothing straightened
    code, _, err = invoke([str(files["scan"]), "--format", "pdf"], tmp_path)
    assert code != 0 and "--out" in err


@pytest.mark.slow
def test_reocr_replaces_page_text_in_catalog_storage_and_index(files, tmp_path):
    home = tmp_path / "home"
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "quyet-dinh.png").write_bytes(files["scan"].read_bytes())
    run_kho("ingest", str(scans), "--batch", "b1", "-j", "1", home=home)
    db = sqlite3.connect(home / "catalog.sqlite")
    ((doc_id, skew_before, attempts),) = db.execute("SELECT doc_id, skew, attempts FROM pages")
    assert skew_before == pytest.approx(2.5, abs=0.5)
    # read again without cleanup: the catalog, the page file and the index all follow
    code, out, err = invoke([doc_id[:10], "--no-clean"], home, reocr)
    assert code == 0, err
    assert "1/1 pages re-read" in out
    stored = json.loads((home / "docs" / doc_id / "page-00001.json").read_text(encoding="utf-8"))
    assert (stored["rotation"], stored["skew"]) == (0, 0.0)
    ((conf, skew, attempts_after, status),) = db.execute(
        "SELECT confidence, skew, attempts, status FROM pages"
    )
    assert (skew, status, attempts_after) == (0.0, "done", attempts + 1)
    assert conf == pytest.approx(stored["confidence"])
    word = max(stored["text"].split(), key=len)
    hits = json.loads(run_kho("search", word, "--json", home=home).stdout)
    assert any(h["doc_id"] == doc_id for h in hits)
    # a batch's pages below a confidence: none are below 1
    code, out, _ = invoke(["--batch", "b1", "--below", "1"], home, reocr)
    assert code == 0 and "nothing to re-read" in out
    code, _, err = invoke(["--batch", "no-such-batch"], home, reocr)
    assert code == ExitCode.not_found and "no-such-batch" in err
    code, _, err = invoke(["0000000000"], home, reocr)
    assert code == ExitCode.not_found
