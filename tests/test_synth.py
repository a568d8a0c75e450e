"""The synthetic generator: text, rendered pages with ground truth, degradations, files."""

from __future__ import annotations

import hashlib
import struct
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pdfplumber
import pikepdf
import pypdfium2 as pdfium
import pytesseract
import pytest
from PIL import Image

from kho.synth import pages, text
from kho.synth.badfiles import BOMB_SIDE, write_bad_inputs


def _digest(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _squash(s: str) -> str:
    return " ".join(unicodedata.normalize("NFC", s).split())


# --- text ---------------------------------------------------------------------------------


def test_text_is_deterministic_by_seed() -> None:
    for category in text.CATEGORIES:
        assert text.document_text(category, 3) == text.document_text(category, 3)
        assert text.document_text(category, 3) != text.document_text(category, 4)
        assert text.paragraphs(category, 3, 1) == text.paragraphs(category, 3, 1)
        assert text.paragraphs(category, 3, 1) != text.paragraphs(category, 3, 2)
    assert text.english_paragraph(5) == text.english_paragraph(5)
    assert text.english_paragraph(5) != text.english_paragraph(6)


def test_document_shape_and_vietnamese_characters() -> None:
    corpus = []
    for category in text.CATEGORIES:
        for seed in range(30):
            doc = text.document_text(category, seed)
            assert doc == unicodedata.normalize("NFC", doc)
            title, *blocks = doc.split("\n")
            assert title.split(" Về việc ")[0] in text.DOC_TYPES
            sentences = [s for b in blocks for s in b.split(". ") if s]
            assert 4 <= len(sentences) <= 10, doc
            assert "{" not in doc and "}" not in doc
            corpus.append(doc)
    words = set(" ".join(corpus).replace(",", " ").replace(".", " ").split())
    # Words that differ only by tone, and the stroked d, must be exercised by OCR and search.
    assert {"má", "mà", "mã", "ma", "mạ"} <= words
    assert any("đ" in w for w in words) and any("Đ" in w for w in words)


def test_paragraphs_and_english() -> None:
    paras = text.paragraphs("dan_van", 4, 0)
    assert len(paras) == 4 and all(len(p) > 40 for p in paras)
    english = text.english_paragraph(0)
    assert english.isascii() and english.count(".") >= 3
    with pytest.raises(ValueError, match="unknown category"):
        text.document_text("khong_co", 0)


# --- rendering and degradation --------------------------------------------------------------


def test_render_is_deterministic_and_lays_out_the_text() -> None:
    doc = text.document_text("can_bo", 1)
    page = pages.render_page(doc)
    again = pages.render_page(doc)
    assert page.image.dtype == np.uint8 and page.image.shape == (3507, 2481)
    assert _digest(page.image) == _digest(again.image)
    assert _squash(page.text) == _squash(doc)  # a short document fits whole
    # Paragraphs are blocks: the title is alone before the first blank line.
    assert page.text.split("\n\n")[0] == doc.split("\n")[0]
    other = pages.render_page(text.document_text("can_bo", 2))
    assert _digest(other.image) != _digest(page.image)


def test_long_text_is_truncated_to_what_was_drawn() -> None:
    long_text = "\n".join(text.paragraphs("chinh_sach", 40, 0))
    page = pages.render_page(long_text, font_size_pt=14)
    drawn = page.text.split()
    assert drawn == long_text.split()[: len(drawn)]
    assert len(drawn) < len(long_text.split())
    face = pages._font(str(pages.DEJAVU_SERIF), round(14 * 300 / 72))
    assert max(face.getlength(line) for line in page.text.split("\n")) <= 2481 - 2 * 300
    # Nothing is drawn in the bottom margin.
    assert page.image[-300:].min() == 255


def test_clean_page_reads_back_as_ground_truth() -> None:
    page = pages.render_page(text.document_text("to_chuc_dang", 3))
    read = pytesseract.image_to_string(page.image, lang="vie")
    truth = _squash(page.text)
    cer = _edit_distance(_squash(read), truth) / len(truth)
    assert cer < 0.03, f"CER {cer:.3f}\n{read}"


def test_rotation_convention_and_correction() -> None:
    img = pages.render_page("Đảng ủy Sư đoàn 5", dpi=100).image
    h, w = img.shape
    turned = pages.degrade(img, seed=0, rotate=90)
    assert turned.shape == (w, h)
    # Clockwise: the page's top edge (where the text is) ends up on the right.
    assert turned[:, w // 2 :].min() == 0 and turned[:, : h // 4].min() == 255
    for rotate in (0, 90, 180, 270):
        out = pages.degrade(img, seed=0, rotate=rotate)
        fix = pages.correction_for(rotate)
        assert (rotate + fix) % 360 == 0
        assert np.array_equal(np.rot90(out, k=-(fix // 90)), img)  # clockwise by `fix`
    with pytest.raises(ValueError):
        pages.correction_for(45)


def test_degradations_do_what_they_say() -> None:
    img = pages.render_page(text.document_text("dan_van", 0), dpi=150).image
    skewed = pages.degrade(img, seed=1, skew=5.0)
    assert skewed.shape[0] > img.shape[0] and skewed.shape[1] > img.shape[1]
    assert skewed[0, 0] == 255  # white fill, not black corners
    bordered = pages.degrade(img, seed=1, border=40)
    assert bordered.shape == (img.shape[0] + 80, img.shape[1] + 80)
    assert bordered[:40].max() < 80 and bordered[:, -40:].max() < 80
    noisy = pages.degrade(img, seed=1, noise=8.0)
    assert 4 < float(np.std(noisy[:100, :100].astype(float))) < 12
    peppered = pages.degrade(img, seed=1, salt_pepper=0.01)
    assert 0.004 < np.mean(peppered[:150] == 0) < 0.006  # half the 1% are black, in the margin
    lit = pages.degrade(img, seed=1, illumination=0.6)
    corners = [lit[5, 5], lit[5, -5], lit[-5, 5], lit[-5, -5]]
    assert min(corners) < 150 and max(corners) > 230
    stamped = pages.degrade(img, seed=1, stamp=True)
    assert stamped.ndim == 3 and stamped.shape[:2] == img.shape
    red = (stamped[..., 0] > 150) & (stamped[..., 1] < 100)
    assert red.sum() > 1000
    assert not np.array_equal(pages.degrade(img, seed=1, jpeg_quality=30), img)
    blurred = pages.degrade(img, seed=1, blur=2.0)
    mid_gray = [np.mean((i > 30) & (i < 225)) for i in (img, blurred)]
    assert mid_gray[1] > 1.5 * mid_gray[0]  # edges spread into gray


@pytest.mark.parametrize("level", ["clean", "medium", "hard"])
def test_degraded_page_levels(level: str) -> None:
    doc = text.document_text("thi_dua_khen_thuong", 7)
    img, params = pages.degraded_page(doc, level, seed=11)
    again, _ = pages.degraded_page(doc, level, seed=11)
    other, _ = pages.degraded_page(doc, level, seed=12)
    assert _digest(img) == _digest(again)
    assert _squash(params["text"]) == _squash(doc)
    ranges = pages.LEVELS[level]
    for name, spec in ranges.items():
        value = abs(params[name]) if name == "skew" else params[name]
        assert value in spec if isinstance(spec, list) else spec[0] <= value <= spec[1]
    if level == "clean":
        assert img.shape == (3507, 2481) and _digest(img) == _digest(other)
    else:
        assert _digest(img) != _digest(other)
    if level == "hard":
        assert params["rotate"] in (90, 180, 270)
        assert params["correction"] == pages.correction_for(params["rotate"])
        portrait = img.shape[0] > img.shape[1]
        assert portrait == (params["rotate"] == 180)


# --- writers --------------------------------------------------------------------------------


def test_png_and_tiff_writers(tmp_path: Path) -> None:
    imgs = [pages.render_page(text.document_text("hanh_chinh", s), dpi=150).image for s in range(3)]
    pages.write_png(tmp_path / "p.png", imgs[0], 150)
    with Image.open(tmp_path / "p.png") as im:
        assert np.array_equal(np.asarray(im), imgs[0])
        assert round(im.info["dpi"][0]) == 150
    pages.write_multipage_tiff(tmp_path / "gray.tif", imgs, 150)
    bilevel = [np.where(i < 128, 0, 255).astype(np.uint8) for i in imgs]
    pages.write_multipage_tiff(tmp_path / "bw.tif", bilevel, 150)
    for name, compression in (("gray.tif", "tiff_lzw"), ("bw.tif", "group4")):
        with Image.open(tmp_path / name) as im:
            assert im.n_frames == 3
            assert im.info["compression"] == compression
            im.seek(2)
            expected = imgs[2] if name == "gray.tif" else bilevel[2]
            assert np.array_equal(np.asarray(im.convert("L")), expected)
    assert (tmp_path / "bw.tif").stat().st_size < (tmp_path / "gray.tif").stat().st_size


def test_born_digital_pdf_has_the_text(tmp_path: Path) -> None:
    docs = [text.document_text("kiem_tra_ky_luat", 0), text.document_text("bao_ve_an_ninh", 1)]
    laid_out = pages.write_born_digital_pdf(tmp_path / "born.pdf", docs)
    again = pages.write_born_digital_pdf(tmp_path / "again.pdf", docs)
    assert laid_out == again
    assert (tmp_path / "born.pdf").read_bytes() == (tmp_path / "again.pdf").read_bytes()
    with pdfplumber.open(tmp_path / "born.pdf") as pdf:
        assert len(pdf.pages) == 2
        for page, doc, expected in zip(pdf.pages, docs, laid_out, strict=True):
            extracted = unicodedata.normalize("NFC", page.extract_text())
            assert _squash(extracted) == _squash(doc) == _squash(expected)
    assert "Ủy ban Kiểm tra" in docs[0] or "kỷ luật" in docs[0]
    with pytest.raises(ValueError, match="lines"):
        pages.write_born_digital_pdf(tmp_path / "long.pdf", ["\n".join(["dòng"] * 200)])


def test_scanned_pdf_has_pages_and_no_text(tmp_path: Path) -> None:
    imgs = [pages.render_page(text.document_text("tuyen_truyen", s), dpi=100).image for s in (0, 1)]
    pages.write_scanned_pdf(tmp_path / "scan.pdf", imgs, 100)
    with pdfplumber.open(tmp_path / "scan.pdf") as pdf:
        assert len(pdf.pages) == 2
        assert all(not (p.extract_text() or "").strip() for p in pdf.pages)
        assert all(len(p.images) == 1 for p in pdf.pages)
    doc = pdfium.PdfDocument(tmp_path / "scan.pdf")
    try:
        width, height = doc[0].get_size()
        assert (round(width), round(height)) == (round(827 * 0.72), round(1169 * 0.72))
    finally:
        doc.close()


# --- bad inputs -----------------------------------------------------------------------------


def test_bad_inputs_are_what_they_claim(tmp_path: Path) -> None:
    expected = write_bad_inputs(tmp_path)
    assert len(expected) == 9
    assert all(v == v.lower() and v for v in expected.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    assert (tmp_path / "empty.png").stat().st_size == 0
    with Image.open(tmp_path / "truncated.png") as im, pytest.raises(OSError):
        im.load()
    with Image.open(tmp_path / "truncated.jpg") as im, pytest.raises(OSError):
        im.load()
    assert not (tmp_path / "text-named.jpg").read_bytes().startswith(b"\xff\xd8")
    with pytest.raises(pikepdf.PdfError):
        pikepdf.open(tmp_path / "corrupt.pdf")
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(tmp_path / "encrypted.pdf")
    with pikepdf.open(tmp_path / "encrypted.pdf", password="mat-khau") as pdf:
        assert len(pdf.pages) == 1
    with pikepdf.open(tmp_path / "no-pages.pdf") as pdf:
        assert len(pdf.pages) == 0
    # PDFium refuses a document without pages outright (error code 0, "Success").
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(tmp_path / "no-pages.pdf")
    bomb = (tmp_path / "bomb.png").read_bytes()
    assert bomb.startswith(b"\x89PNG") and len(bomb) < 1_000_000
    assert struct.unpack(">II", bomb[16:24]) == (BOMB_SIDE, BOMB_SIDE)
    with zipfile.ZipFile(tmp_path / "report.docx") as zf:
        assert "word/document.xml" in zf.namelist()
