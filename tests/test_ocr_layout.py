"""Reading order of administrative pages: header columns, title, body, ruled tables, foot.

Pages are rendered with DejaVu fonts (scans through real tesseract, born-digital PDFs through
pdfplumber) and, when the development set is present, a real scanned page is read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from PIL import Image, ImageDraw, ImageFont
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from kho.core.settings import Limits, OcrOptions
from kho.core.types import PageText
from kho.ingest.formats import ImageFile
from kho.ocr.export import to_alto, to_hocr
from kho.ocr.read import read_image
from kho.ocr.textlayer import read_text_layer

FONTS = Path("/usr/share/fonts/truetype/dejavu")
REALPAGES = Path(os.environ.get("KHO_REALPAGES", "/work/shared/realpages"))
DPI = 300
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
XHTML = "{http://www.w3.org/1999/xhtml}"
WIDTH = 2480  # A4 at 300 dpi

LEFT_CENTRE, RIGHT_CENTRE, MARGIN = 640, 1720, 300
HEADER = [  # (y, left column, right column)
    (150, "BỘ TƯ LỆNH QUÂN KHU 7", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
    (215, "SƯ ĐOÀN 9", "Độc lập - Tự do - Hạnh phúc"),
    (320, "Số: 05/KH-BTL", "Đồng Nai, ngày 12 tháng 3 năm 2025"),
]
TITLE = [(470, "KẾ HOẠCH"), (535, "Huấn luyện chiến sĩ mới năm 2025")]
BODY = [
    "Thực hiện kế hoạch công tác năm 2025 của Bộ Tư lệnh Quân khu, Sư đoàn",
    "xây dựng kế hoạch huấn luyện chiến sĩ mới như sau:",
    "Các trung đoàn tổ chức huấn luyện theo đúng chương trình, bảo đảm an",
    "toàn tuyệt đối về người và vũ khí trang bị trong suốt quá trình huấn luyện.",
]
RECIPIENTS = ["Nơi nhận:", "- Bộ Tư lệnh Quân khu 7;", "- Các trung đoàn;", "- Lưu: Văn thư."]
SIGNATURE = [(1190, "TL. TƯ LỆNH"), (1255, "THAM MƯU TRƯỞNG"), (1560, "Nguyễn Văn An")]


def font(name: str, pt: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), round(pt * DPI / 72))


def draw_centred(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, face) -> None:
    draw.text((x - face.getlength(text) / 2, y), text, font=face, fill=0)


def admin_scan() -> np.ndarray:
    """A Decree 30 page: two header columns, title, body, "Nơi nhận" left, signer right."""
    img = Image.new("L", (WIDTH, 1700), 255)
    draw = ImageDraw.Draw(img)
    bold, regular, italic = (
        font("DejaVuSerif-Bold.ttf", 11),
        font("DejaVuSerif.ttf", 12),
        font("DejaVuSerif-Italic.ttf", 12),
    )
    for y, left, right in HEADER:
        is_date = "ngày" in right
        draw_centred(draw, LEFT_CENTRE, y, left, regular if left.startswith("Số") else bold)
        draw_centred(draw, RIGHT_CENTRE, y, right, italic if is_date else bold)
    for y, line in TITLE:
        draw_centred(draw, WIDTH // 2, y, line, font("DejaVuSerif-Bold.ttf", 12))
    for n, line in enumerate(BODY):
        draw.text((MARGIN + (120 if n % 2 == 0 else 0), 680 + 70 * n), line, font=regular, fill=0)
    small = font("DejaVuSerif.ttf", 11)
    for n, line in enumerate(RECIPIENTS):
        face = font("DejaVuSerif-BoldItalic.ttf", 11) if n == 0 else small
        draw.text((MARGIN, 1190 + 55 * n), line, font=face, fill=0)
    for y, line in SIGNATURE:
        draw_centred(draw, RIGHT_CENTRE, y, line, bold)
    return np.array(img)


def texts_of(page: PageText, kind: str) -> list[str]:
    return [" ".join(w.text for w in page.region_words(r)) for r in page.regions_of(kind)]


def assert_in_order(text: str, pieces: list[str]) -> None:
    flat = " ".join(text.split())
    positions = [flat.find(p) for p in pieces]
    assert -1 not in positions, [p for p, at in zip(pieces, positions, strict=True) if at < 0]
    assert positions == sorted(positions), flat


def assert_words_follow_regions(page: PageText) -> None:
    """The text splits into the words, and the regions (but tables, which hold their cells)
    take the words in turn, each once."""
    assert page.text.split() == [w.text for w in page.words]
    taken = 0
    for r in page.regions:
        if r.kind == "table":
            continue
        assert r.first == taken
        taken += r.count
    assert taken == len(page.words)


@pytest.fixture(scope="module")
def admin_page() -> PageText:
    page, _ = read_image(admin_scan(), OcrOptions(lang="vie"), timeout=120, dpi=DPI)
    return page


def test_header_columns_title_and_foot_are_found(admin_page):
    left = " ".join(texts_of(admin_page, "header-left"))
    right = " ".join(texts_of(admin_page, "header-right"))
    assert "SƯ ĐOÀN 9" in left and "Số: 05/KH-BTL" in left
    assert "ngày" not in left and "CỘNG" not in left
    assert "Hạnh phúc" in right and "ngày 12 tháng 3 năm 2025" in right
    assert "Số" not in right and "ĐOÀN" not in right
    assert " ".join(texts_of(admin_page, "title")).startswith("KẾ HOẠCH Huấn luyện")
    recipients = " ".join(texts_of(admin_page, "recipients"))
    signature = " ".join(texts_of(admin_page, "signature"))
    assert recipients.startswith("Nơi nhận:") and recipients.endswith("Lưu: Văn thư.")
    assert "TƯỞNG" not in recipients and "Nguyễn" not in recipients
    assert signature == "TL. TƯ LỆNH THAM MƯU TRƯỞNG Nguyễn Văn An"
    assert any("chiến sĩ mới như sau" in t for t in texts_of(admin_page, "body"))


def test_header_and_foot_are_read_column_by_column(admin_page):
    assert_in_order(
        admin_page.text,
        [
            "BỘ TƯ LỆNH QUÂN KHU 7 SƯ ĐOÀN 9",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc",
            "Số: 05/KH-BTL",
            "Đồng Nai, ngày 12 tháng 3 năm 2025",
            "KẾ HOẠCH",
            "Thực hiện kế hoạch",
            "trong suốt quá trình huấn luyện.",
            "Nơi nhận: - Bộ Tư lệnh Quân khu 7; - Các trung đoàn; - Lưu: Văn thư.",
            "TL. TƯ LỆNH THAM MƯU TRƯỞNG Nguyễn Văn An",
        ],
    )
    assert_words_follow_regions(admin_page)


# --- a ruled table ----------------------------------------------------------------------------
COLS = (300, 620, 1500, 2180)
ROWS = (300, 400, 620, 840)
CELLS = {  # (row, col) -> lines; (1, 0) spans rows 1 and 2
    (0, 0): ["STT"],
    (0, 1): ["Nội dung công việc"],
    (0, 2): ["Thời gian"],
    (1, 0): ["Đợt", "đầu"],
    (1, 1): ["Kiểm tra quân số", "và trang bị"],
    (1, 2): ["Sáng thứ Hai", "hàng tuần"],
    (2, 1): ["Huấn luyện bắn súng", "tại thao trường"],
    (2, 2): ["Chiều thứ Năm"],
}


def table_scan() -> np.ndarray:
    img = Image.new("L", (WIDTH, 1000), 255)
    draw = ImageDraw.Draw(img)
    face = font("DejaVuSerif.ttf", 12)
    draw.text((MARGIN, 180), "Bảng phân công nhiệm vụ huấn luyện:", font=face, fill=0)
    for x in COLS:
        draw.line([(x, ROWS[0]), (x, ROWS[-1])], fill=0, width=3)
    for n, y in enumerate(ROWS):
        start = COLS[1] if n == 2 else COLS[0]  # no rule across the merged cell
        draw.line([(start, y), (COLS[-1], y)], fill=0, width=3)
    for (row, col), lines in CELLS.items():
        for k, line in enumerate(lines):
            draw.text((COLS[col] + 30, ROWS[row] + 25 + 70 * k), line, font=face, fill=0)
    draw.text((MARGIN, 900), "Các đơn vị thực hiện nghiêm túc kế hoạch này.", font=face, fill=0)
    return np.array(img)


@pytest.fixture(scope="module")
def table_page() -> PageText:
    page, _ = read_image(table_scan(), OcrOptions(lang="vie"), timeout=120, dpi=DPI)
    return page


def test_ruled_table_is_read_cell_by_cell_row_by_row(table_page):
    page = table_page
    kinds = [r.kind for r in page.regions]
    assert kinds == ["body", "table", *["cell"] * len(CELLS), "body"]
    cells = page.regions_of("cell")
    assert [(c.row, c.col) for c in cells] == list(CELLS)  # the merged cell once, at row 1
    assert texts_of(page, "cell") == [" ".join(lines) for lines in CELLS.values()]
    table = page.regions_of("table")[0]
    assert table.first == cells[0].first and table.count == sum(c.count for c in cells)
    assert_in_order(
        page.text,
        ["nhiệm vụ huấn luyện:", "Kiểm tra quân số và trang bị Sáng thứ Hai hàng tuần", "Năm"],
    )
    assert_words_follow_regions(page)


# --- rulings read as characters -----------------------------------------------------------
TIGHT_COLS = (300, 520, 1300, 2180)
TIGHT_ROWS = (300, 400, 500, 600)
TIGHT = [
    ("1", "Lớp D12 và D13", "Thứ Hai"),
    ("2", "Lớp D14 và LT", "Thứ Ba"),
    ("3", "Lớp D15", "Thứ Tư"),
]
TIGHT_NOTE = "Ghi chú: lớp 1 và lớp I học tại phòng 11."


def tight_table_scan() -> np.ndarray:
    """A ruled table whose middle column starts a hair after its ruling, as tesseract then
    reads the ruling into the word ("|Lớp", "l|Lớp"); "1", "I" and "11" away from rulings."""
    img = Image.new("L", (WIDTH, 900), 255)
    draw = ImageDraw.Draw(img)
    face = font("DejaVuSerif.ttf", 12)
    draw.text((MARGIN, 150), "Bảng 1: các lớp học kỳ I", font=face, fill=0)
    for x in TIGHT_COLS:
        draw.line([(x, TIGHT_ROWS[0]), (x, TIGHT_ROWS[-1])], fill=0, width=3)
    for y in TIGHT_ROWS:
        draw.line([(TIGHT_COLS[0], y), (TIGHT_COLS[-1], y)], fill=0, width=3)
    for row, texts in enumerate(TIGHT):
        y = TIGHT_ROWS[row] + 22
        draw.text((TIGHT_COLS[0] + 90, y), texts[0], font=face, fill=0)  # the number: centred
        draw.text((TIGHT_COLS[1] + 6, y), texts[1], font=face, fill=0)
        draw.text((TIGHT_COLS[3] - 6 - face.getlength(texts[2]), y), texts[2], font=face, fill=0)
    draw.text((MARGIN, 700), TIGHT_NOTE, font=face, fill=0)
    return np.array(img)


def test_rulings_read_as_characters_are_left_out_and_digits_kept():
    page, _ = read_image(tight_table_scan(), OcrOptions(lang="vie"), timeout=120, dpi=DPI)
    assert [r.kind for r in page.regions] == ["body", "table", *["cell"] * 9, "body"]
    assert texts_of(page, "cell") == [t for row in TIGHT for t in row]
    assert texts_of(page, "body") == ["Bảng 1: các lớp học kỳ I", TIGHT_NOTE]
    assert not any(c in w.text for w in page.words for c in "|¦")
    for word in page.words:  # each box stays inside the cell its word is in, off the ruling
        if word.text.startswith("Lớp"):
            assert word.left > TIGHT_COLS[1] + 1
    assert_words_follow_regions(page)


# --- exports --------------------------------------------------------------------------------
def test_exports_have_a_block_per_region_named_by_its_kind(admin_page, table_page):
    pages = [admin_page, table_page]
    leaves = [r for p in pages for r in p.regions if r.kind != "table"]
    hocr = etree.fromstring(to_hocr(pages, title="kế hoạch").encode("utf-8"))
    careas = hocr.findall(f".//{XHTML}div[@class='ocr_carea']")
    assert [re.search(r"x_region ([a-z-]+)", a.get("title")).group(1) for a in careas] == [
        r.kind for r in leaves
    ]
    table = hocr.find(f".//{XHTML}div[@class='ocr_table']")
    cells = table.findall(f"{XHTML}div[@class='ocr_carea']")
    assert [re.search(r"x_cell (\d+) (\d+)", c.get("title")).groups() for c in cells] == [
        (str(r), str(c)) for r, c in CELLS
    ]
    words = [w.text for w in hocr.iter(f"{XHTML}span") if w.get("class") == "ocrx_word"]
    assert words == [w.text for p in pages for w in p.words]

    alto = etree.fromstring(to_alto(pages, filename="kh.png").encode("utf-8"))
    labels = {t.get("ID"): t.get("LABEL") for t in alto.iter(f"{ALTO}LayoutTag")}
    blocks = list(alto.iter(f"{ALTO}TextBlock"))
    assert [labels[b.get("TAGREFS")] for b in blocks] == [r.kind for r in leaves]
    composed = alto.find(f".//{ALTO}ComposedBlock")
    assert composed.get("TYPE") == "table" and labels[composed.get("TAGREFS")] == "table"
    assert len(composed.findall(f"{ALTO}TextBlock")) == len(CELLS)
    assert [s.get("CONTENT") for s in alto.iter(f"{ALTO}String")] == words
    children = [c.tag for c in alto]
    assert children.index(f"{ALTO}Tags") == children.index(f"{ALTO}Layout") - 1


# --- a born-digital PDF -----------------------------------------------------------------------
def admin_pdf(path: Path, header=HEADER, motto_rise: float = 0) -> Path:
    """The same header, a ruled 2x2 table and the foot, typeset as a word processor would;
    the right column `motto_rise` points higher than the left."""
    for name in ("DejaVuSerif", "DejaVuSerif-Bold"):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(FONTS / f"{name}.ttf")))
    c = canvas.Canvas(str(path), pagesize=(595.0, 842.0), invariant=1)
    top = 842 - 60
    for n, (_, left, right) in enumerate(header):
        c.setFont("DejaVuSerif-Bold", 11)
        c.drawCentredString(155, top - 16 * n - (10 if n == 2 else 0), left)
        c.drawCentredString(410, top - 16 * n - (10 if n == 2 else 0) + motto_rise, right)
    c.setFont("DejaVuSerif-Bold", 12)
    c.drawCentredString(297, top - 90, "KẾ HOẠCH")
    c.setFont("DejaVuSerif", 12)
    for n, line in enumerate(BODY):
        c.drawString(72, top - 130 - 18 * n, line[:60])
    grid_top, xs = top - 220, (72, 200, 520)
    for y in (grid_top, grid_top - 40, grid_top - 80):
        c.line(xs[0], y, xs[-1], y)
    for x in xs:
        c.line(x, grid_top, x, grid_top - 80)
    cells = [("Thời gian", ["Sáng thứ Hai", "hàng tuần"]), ("Địa điểm", ["Thao trường", "Sư đoàn"])]
    for row, (label, lines) in enumerate(cells):
        c.drawString(80, grid_top - 18 - 40 * row, label)
        for k, line in enumerate(lines):
            c.drawString(208, grid_top - 16 - 40 * row - 14 * k, line)
    foot = grid_top - 130
    for n, line in enumerate(RECIPIENTS):
        c.drawString(72, foot - 14 * n, line)
    for n, (_, line) in enumerate(SIGNATURE):
        c.drawCentredString(410, foot - 16 * n - (60 if n == 2 else 0), line)
    c.showPage()
    c.save()
    return path


def test_born_digital_page_is_read_in_the_same_order(tmp_path):
    page = read_text_layer(admin_pdf(tmp_path / "kh.pdf"), 0)
    assert page is not None and page.source == "text-layer"
    assert " ".join(texts_of(page, "header-right")).endswith("ngày 12 tháng 3 năm 2025")
    assert_in_order(
        page.text,
        [
            "BỘ TƯ LỆNH QUÂN KHU 7 SƯ ĐOÀN 9",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - Hạnh phúc",
            "Số: 05/KH-BTL",
            "Đồng Nai, ngày 12 tháng 3 năm 2025",
            "KẾ HOẠCH",
            "Thời gian Sáng thứ Hai hàng tuần Địa điểm Thao trường Sư đoàn",
            "Nơi nhận:",
            "Lưu: Văn thư.",
            "TL. TƯ LỆNH THAM MƯU TRƯỞNG Nguyễn Văn An",
        ],
    )
    assert [(c.row, c.col) for c in page.regions_of("cell")] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert_words_follow_regions(page)


def test_party_header_beside_a_two_level_issuer_is_read_by_column(tmp_path):
    header = [
        (0, "ĐẢNG BỘ QUÂN KHU 7", "ĐẢNG CỘNG SẢN VIỆT NAM"),
        (0, "ĐẢNG ỦY SƯ ĐOÀN 9", ""),
        (0, "Số 12-NQ/ĐU", "Đồng Nai, ngày 12 tháng 3 năm 2025"),
    ]
    page = read_text_layer(admin_pdf(tmp_path / "nq.pdf", header, motto_rise=7), 0)
    assert texts_of(page, "header-left")[0] == "ĐẢNG BỘ QUÂN KHU 7 ĐẢNG ỦY SƯ ĐOÀN 9"
    assert texts_of(page, "header-right")[0] == "ĐẢNG CỘNG SẢN VIỆT NAM"
    assert_in_order(
        page.text,
        ["ĐẢNG ỦY SƯ ĐOÀN 9", "ĐẢNG CỘNG SẢN VIỆT NAM", "Số 12-NQ/ĐU", "Đồng Nai, ngày 12"],
    )


# --- a real scan --------------------------------------------------------------------------------
def test_real_letter_reads_date_after_subject_and_recipients_before_signer():
    image = REALPAGES / "images" / "qn-574ub-p1.png"
    if not image.is_file():
        pytest.skip(f"{image} absent: the real development pages are not on this machine")
    with ImageFile(image, "png", Limits()) as source:
        img, dpi = source.render(0), source.dpi(0)
    page, _ = read_image(img, OcrOptions(lang="vie"), timeout=120, dpi=dpi)
    assert_in_order(
        page.text,
        ["TỈNH QUẢNG NGÃI", "Hạnh phúc", "tại kỳ họp thứ 31", "tháng 02 năm 2025", "Kính gửi"],
    )
    assert_in_order(page.text, ["quyết định./.", "Nơi nhận:", "KTTHa47", "CHỦ TỊCH"])
    assert "CHỦ TỊCH" in " ".join(texts_of(page, "signature"))
    assert "Nơi nhận" not in " ".join(texts_of(page, "signature"))
