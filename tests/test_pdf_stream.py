"""Searchable PDFs and PDF/A masters are written page by page: a 1,000-page document is
written in about the memory of a 100-page one, opens with 1,000 pages and its text reads
back from its first and last pages; the PDF syntax written is what readers take."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest

from kho.core.pdfstream import Name, PdfWriter, serialize
from kho.synth import longdoc
from kho.synth.longdoc import scan_jpeg

FOOTER = "Bản sao sử dụng — cấp cho Trần Thị Thu, 01/12/2026 09:30 — không thay bản gốc lưu trữ"
SLACK_KIB = 16 * 1024  # allocator noise between two runs of one process


def peak_kib(kind: str, pages: int, jpeg: Path, out: Path) -> int:
    """Peak RSS (KiB) of a fresh process writing the `pages`-page document of `kind`."""
    proc = subprocess.run(
        [sys.executable, "-m", "kho.synth.longdoc", kind, str(pages), str(jpeg), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.split()[0])


def page_text(pdf: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["searchable", "master", "dossier"])
def test_a_thousand_pages_are_written_in_the_memory_of_a_hundred(tmp_path, kind):
    jpeg = tmp_path / "scan.jpg"
    jpeg.write_bytes(scan_jpeg(dpi=100))  # colour, ~240 KB: 1,000 held would be ~240 MB
    small = peak_kib(kind, 100, jpeg, tmp_path / "100.pdf")
    big = peak_kib(kind, 1000, jpeg, tmp_path / "1000.pdf")
    assert big < 1.2 * small + SLACK_KIB, (small, big)
    with pikepdf.open(tmp_path / "1000.pdf") as pdf:
        assert len(pdf.pages) == 1000
        last = pdf.pages[-1]
        image = next(iter(last.Resources.XObject.values()))
        assert image.Filter == "/DCTDecode" and image.read_raw_bytes() == jpeg.read_bytes()
        if kind == "master":
            assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
            assert pdf.open_metadata()["pdfaid:part"] == "2"
    for number in (1, 1000):  # every word back, diacritics and all, in reading order
        words = [w.text for w in longdoc.page_text(number, 827, 1169, 100).words]
        read = page_text(tmp_path / "1000.pdf", number).split()
        assert read == (words + FOOTER.split() if kind == "dossier" else words)
        assert words[:2] == ["Trang", str(number)]


def test_objects_written_one_by_one_read_back_as_given():
    out = io.BytesIO()
    pdf = PdfWriter(out)
    late = pdf.reserve()  # pointed to before it is written
    values = {
        "Text": "Đảng ủy (quân sự) \\ 100%",
        "Plain": "a (b) \\ c",
        "Odd name": Name("A b#c/d"),
        "Numbers": [1, -2, 0.5, -0.0, 1e-7, 3.14159, True, False, None],
        "Bytes": b"\x00\xff",
        "Late": late,
    }
    first = pdf.add(values)
    data = b"\x00binary\nendstream inside\r\n" * 10
    stream = pdf.add_stream(data, {"Kind": Name("Test")}, compress=True)
    pdf.add({"Type": Name("Pages"), "Kids": [], "Count": 0}, late)
    root = pdf.add({"Type": Name("Catalog"), "Pages": late, "First": first, "S": stream})
    pdf.finish(root)
    with pikepdf.open(io.BytesIO(out.getvalue())) as back:
        got = back.Root.First
        assert str(got.Text) == values["Text"] and str(got.Plain) == values["Plain"]
        assert got.get("/Odd name") == pikepdf.Name("/A b#c/d")
        assert [float(v) for v in list(got.Numbers)[:6]] == [1, -2, 0.5, 0, 0, 3.1416]
        assert list(got.Numbers)[6:] == [True, False, None]
        assert bytes(got.Bytes) == b"\x00\xff"
        assert got.Late.Type == "/Pages"
        assert back.Root.S.read_bytes() == data and back.Root.S.Kind == "/Test"
        assert len(back.trailer.ID) == 2
    assert serialize(True) == b"true" and serialize(None) == b"null"


def test_an_object_reserved_and_never_written_is_an_error():
    pdf = PdfWriter(io.BytesIO())
    pdf.reserve()
    root = pdf.add({"Type": Name("Catalog")})
    with pytest.raises(ValueError, match="never written"):
        pdf.finish(root)
