"""Searchable PDFs carry exact Vietnamese text where the words are; text layers read back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pdfplumber
import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from kho.core.errors import BadInputError
from kho.core.permissions import PRIVATE
from kho.core.storage import atomic_file
from kho.core.types import PageText, Word
from kho.ocr import searchable_pdf
from kho.ocr.textlayer import has_text_layer, read_text_layer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = [
    "Quyết định của Đảng ủy",
    "đồng chí Nguyễn Văn Hùng",
    "ĐẢNG ỦY QUÂN SỰ – Hạnh phúc",
]


def write_searchable_pdf(pages, out: Path) -> None:
    """The PDF written through the storage's writer, as the pipeline writes it."""
    with atomic_file(out, PRIVATE) as f:
        searchable_pdf.write_searchable_pdf(pages, f)


def scan(path: Path, lines: list[str], dpi: int = 300, mode: str = "RGB") -> PageText:
    """Render lines to a JPEG and return the PageText OCR would give, with exact word boxes."""
    size = 40 * dpi // 300
    img = Image.new(mode, (1654 * dpi // 300, 900 * dpi // 300), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, size)
    words = []
    for n, line in enumerate(lines):
        x, y = 100 * dpi // 300, (100 + n * 90) * dpi // 300
        for token in line.split():
            left, top, right, bottom = (round(v) for v in draw.textbbox((x, y), token, font=font))
            draw.text((x, y), token, font=font, fill="black")
            words.append(Word(token, 91.5, left, top, right - left, bottom - top))
            x = right + round(font.getlength(" "))
    img.save(path, quality=85)
    return PageText("\n".join(lines), 91.5, tuple(words), img.width, img.height, "ocr", dpi=dpi)


@pytest.fixture
def one_page(tmp_path):
    image = tmp_path / "page-00001.jpg"
    text = scan(image, LINES)
    out = tmp_path / "doc" / "searchable.pdf"
    write_searchable_pdf([(image, text)], out)
    return out, image, text


def test_vietnamese_text_extracts_exactly(one_page):
    out, _, text = one_page
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 1
        extracted = pdf.pages[0].extract_text()
        words = [w["text"] for w in pdf.pages[0].extract_words()]
    assert extracted.splitlines() == LINES
    for phrase in ("Quyết định", "đồng chí", "Đảng ủy", "ĐẢNG ỦY"):
        assert phrase in extracted
    assert words == [w.text for w in text.words]


def test_other_extractors_read_it_too(one_page):
    out, _, _ = one_page
    doc = pdfium.PdfDocument(str(out))
    try:
        text = doc[0].get_textpage().get_text_range()
    finally:
        doc.close()
    assert all(line in text for line in LINES)
    if shutil.which("pdftotext"):  # poppler, when installed
        result = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True)
        assert "Quyết định của Đảng ủy" in result.stdout


def test_words_sit_on_their_boxes(one_page):
    out, _, text = one_page
    k = 300 / 72  # points to pixels
    with pdfplumber.open(out) as pdf:
        found = pdf.pages[0].extract_words()
    assert len(found) == len(text.words)
    for got, want in zip(found, text.words, strict=True):
        assert got["x0"] * k == pytest.approx(want.left, abs=2)
        assert got["x1"] * k == pytest.approx(want.left + want.width, abs=2)
        # each word spans its line's band, which holds the word's own box
        assert got["top"] * k <= want.top + 1
        assert got["bottom"] * k >= want.top + want.height - 1
        assert (got["bottom"] - got["top"]) * k < 2 * 40  # a line band, under two font sizes


def test_image_is_embedded_untouched_and_text_invisible(one_page):
    out, image, text = one_page
    with pikepdf.open(out) as pdf:
        page = pdf.pages[0]
        im = page.Resources.XObject.Im0
        assert im.Filter == pikepdf.Name.DCTDecode
        assert im.read_raw_bytes() == image.read_bytes()
        assert [float(v) for v in page.MediaBox] == pytest.approx(
            [0, 0, text.width * 72 / 300, text.height * 72 / 300], abs=0.01
        )
        assert b"3 Tr" in page.Contents.read_bytes()  # render mode 3: neither fill nor stroke
    doc = pdfium.PdfDocument(str(out))
    try:
        shown = doc[0].render(scale=300 / 72).to_pil().convert("L")
    finally:
        doc.close()
    original = Image.open(image).convert("L")
    # PDFium may round a page edge up by one pixel (216 pt * 300/72 = 900.0000001)
    assert shown.width - original.width in (0, 1) and shown.height - original.height in (0, 1)
    shown = shown.crop((0, 0, *original.size))
    diff = np.abs(np.asarray(shown, np.int16) - np.asarray(original, np.int16))
    assert diff.mean() < 2.0


def test_multi_page_document_of_mixed_images(tmp_path):
    pages = [
        (tmp_path / "1.jpg", scan(tmp_path / "1.jpg", LINES[:1])),
        (tmp_path / "2.jpg", scan(tmp_path / "2.jpg", LINES[1:2], mode="L")),
        (tmp_path / "3.jpg", scan(tmp_path / "3.jpg", LINES[2:], dpi=150)),
    ]
    out = tmp_path / "three.pdf"
    write_searchable_pdf(pages, out)
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 3
        assert [p.extract_text() for p in pdf.pages] == LINES
        for p, (_, text) in zip(pdf.pages, pages, strict=True):
            assert p.width == pytest.approx(text.width * 72 / text.dpi, abs=0.01)
            first = p.extract_words()[0]
            assert first["x0"] * text.dpi / 72 == pytest.approx(text.words[0].left, abs=2)
    with pikepdf.open(out) as pdf:
        assert pdf.pages[1].Resources.XObject.Im0.ColorSpace == pikepdf.Name.DeviceGray


def test_any_unicode_survives(tmp_path):
    # Hán-Nôm characters lie outside the Basic Multilingual Plane; NFD text has combining marks
    lines = ["chữ Nôm 𠀧 𡨸 và №5 ½", "Tiếng Việt đ Đ ơ ư", "Vie\u0323\u0302t Nam"]
    image = tmp_path / "p.jpg"
    out = tmp_path / "u.pdf"
    write_searchable_pdf([(image, scan(image, lines))], out)
    with pdfplumber.open(out) as pdf:
        assert pdf.pages[0].extract_text().splitlines() == lines


def test_write_is_atomic_and_replaces(tmp_path, one_page):
    out, image, text = one_page
    write_searchable_pdf([(image, text), (image, text)], out)
    with pdfplumber.open(out) as pdf:
        assert len(pdf.pages) == 2
    before = out.read_bytes()
    png = tmp_path / "page.png"
    Image.new("L", (100, 100), 255).save(png)
    with pytest.raises(BadInputError, match="JPEG"):
        write_searchable_pdf([(image, text), (png, text)], out)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no .part left behind
    with pytest.raises(BadInputError, match="cannot read page image"):
        write_searchable_pdf([(tmp_path / "missing.jpg", text)], out)


def test_text_layer_of_searchable_pdf_reads_back_the_words(one_page):
    out, _, text = one_page
    layer = read_text_layer(out, 0)
    assert layer is not None
    assert layer.source == "text-layer" and layer.confidence == 100.0
    assert (layer.width, layer.height) == (text.width, text.height)
    assert layer.text.splitlines() == LINES
    assert [w.text for w in layer.words] == [w.text for w in text.words]
    for got, want in zip(layer.words, text.words, strict=True):
        assert abs(got.left - want.left) <= 2 and abs(got.width - want.width) <= 3


def born_digital(path: Path, lines: list[str], font: str = "DejaVu", rotate: int = 0) -> Path:
    """A PDF typeset from text (as a word processor would export it), A4 portrait."""
    if font == "DejaVu" and "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    c = canvas.Canvas(str(path), pagesize=(595.0, 842.0))
    c.setFont(font, 12)
    for n, line in enumerate(lines):
        c.drawString(72, 842 - 100 - 20 * n, line)
    c.showPage()
    c.save()
    if rotate:
        with pikepdf.open(path, allow_overwriting_input=True) as pdf:
            pdf.pages[0].Rotate = rotate
            pdf.save(path)
    return path


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_born_digital_text_layer(tmp_path, rotate):
    pdf = born_digital(tmp_path / "born.pdf", LINES, rotate=rotate)
    layer = read_text_layer(pdf, 0, dpi=300)
    assert layer is not None and has_text_layer(pdf, 0)
    assert layer.text.splitlines() == LINES  # in reading order even on a page shown sideways
    size = (2480, 3509) if rotate in (0, 180) else (3509, 2480)  # as PDFium renders it
    assert (layer.width, layer.height) == size
    if rotate == 0:
        first = layer.words[0]
        assert first.text == "Quyết"
        assert first.left == 300  # 72 pt from the left edge at 300 dpi
        assert 360 <= first.top < 417 < first.top + first.height <= 440  # baseline 100 pt down


def test_text_layer_boxes_follow_the_crop_box(tmp_path):
    pdf = born_digital(tmp_path / "born.pdf", LINES)
    with pikepdf.open(pdf, allow_overwriting_input=True) as doc:
        doc.pages[0].CropBox = [36, 36, 559, 806]  # half an inch off every side
        doc.save(pdf)
    layer = read_text_layer(pdf, 0, dpi=300)
    assert (layer.width, layer.height) == (2180, 3209)  # 523 x 770 pt, as PDFium renders it
    assert layer.words[0].left == 150  # 72 - 36 pt


def test_pages_without_real_text_have_no_layer(tmp_path):
    image = tmp_path / "p.jpg"
    blank = scan(image, LINES)
    scanned = tmp_path / "scanned.pdf"
    write_searchable_pdf(
        [(image, PageText("", 0.0, (), blank.width, blank.height, "ocr"))], scanned
    )
    assert read_text_layer(scanned, 0) is None
    assert not has_text_layer(scanned, 0)
    label = born_digital(tmp_path / "label.pdf", ["Trang 12"])
    assert read_text_layer(label, 0) is None


def test_text_in_a_legacy_vietnamese_font_is_not_a_text_layer(tmp_path):
    # "Quyết định của Đảng ủy về công tác cán bộ" typed in a TCVN3 font: the bytes come out
    # as Latin-1 letters and symbols; OCR of the rendered page reads it properly
    tcvn3 = ["QuyÕt ®Þnh cña §¶ng ñy vÒ c«ng t¸c c¸n bé", "®ång chÝ NguyÔn V¨n Hïng"]
    pdf = born_digital(tmp_path / "tcvn3.pdf", tcvn3, font="Helvetica")
    assert read_text_layer(pdf, 0) is None


def test_unreadable_pdfs_are_bad_input(tmp_path):
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.4 this is not really a PDF")
    with pytest.raises(BadInputError, match="cannot open PDF junk.pdf"):
        read_text_layer(junk, 0)
    good = born_digital(tmp_path / "good.pdf", LINES)
    with pytest.raises(BadInputError, match="has 1 pages, no page 4"):
        read_text_layer(good, 3)
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(good) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(BadInputError, match="qpdf --decrypt"):
        read_text_layer(locked, 0)
