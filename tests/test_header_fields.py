"""Header fields with their Decree 30 Annex VI names, read as written, each with a confidence;
what OCR could not read goes to `kho review` (the real CLI), not into the catalog as sure."""

from __future__ import annotations

import importlib.util
import json
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kho.classify.metadata import extract_metadata
from kho.core.settings import OcrOptions
from kho.core.types import PageText, Region
from kho.ocr.read import read_image
from kho.synth.pages import DEJAVU_SERIF, write_png

from .conftest import run_kho

DPI = 300
MARGIN = 180
RIGHT = 1150  # where the right header column starts, in pixels
LINE = 62


def test_numbers_are_kept_as_written_and_split_from_the_notation():
    head = "BỘ TƯ LỆNH QUÂN KHU 7\n{}\nTây Ninh, ngày 04 tháng 02 năm 2025\nCHỈ THỊ\nVề việc thử\n"
    meta = extract_metadata(head.format("Số: 05/CT-BTL"))
    assert (meta.number, meta.symbol, meta.date) == ("05", "CT-BTL", "2025-02-04")
    meta = extract_metadata(head.format("Số 12-KH/ĐTN").replace("CHỈ THỊ", "KẾ HOẠCH"))
    assert (meta.number, meta.symbol) == ("12", "KH/ĐTN")
    meta = extract_metadata(
        head.format("Số: 574 /UBND-KTTH").replace("ngày 04 tháng 02 năm", "04/02/")
    )
    assert (meta.number, meta.symbol) == ("574", "UBND-KTTH")
    annex = meta.to_json()["annex_vi"]
    assert (annex["CodeNumber"], annex["CodeNotation"]) == ("574", "UBND-KTTH")


def test_two_level_issuer_signer_priority_and_recipients():
    text = "\n".join(
        [
            "UBND TỈNH BÌNH ĐỊNH       CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "BAN AN TOÀN GIAO THÔNG       Độc lập - Tự do - Hạnh phúc",
            "Số: 07/KH-BATGT       Bình Định, ngày 09 tháng 3 năm 2024",
            "HỎA TỐC",
            "KẾ HOẠCH",
            "Tuyên truyền an toàn giao thông dịp lễ",
            "Kính gửi: Sở Giao thông vận tải",
            "Ban An toàn giao thông tỉnh ban hành kế hoạch như sau.",
            "Nơi nhận:       KT. TRƯỞNG BAN",
            "- Như trên;       PHÓ TRƯỞNG BAN",
            "- Công an tỉnh;",
            "- Lưu: VT.",
            "       Lê Văn Tám",
        ]
    )
    meta = extract_metadata(text)
    assert (meta.issuer, meta.parent_organ) == ("BAN AN TOÀN GIAO THÔNG", "UBND TỈNH BÌNH ĐỊNH")
    assert (meta.signer_position, meta.signer_name) == (
        "KT. TRƯỞNG BAN / PHÓ TRƯỞNG BAN",
        "Lê Văn Tám",
    )
    assert meta.urgency == "HỎA TỐC"
    assert meta.recipients == ("Sở Giao thông vận tải", "Như trên", "Công an tỉnh")
    annex = meta.to_json()["annex_vi"]
    assert annex["OrganInCharge"] == "UBND TỈNH BÌNH ĐỊNH"
    assert annex["SignerInfo.Position"] == "KT. TRƯỞNG BAN / PHÓ TRƯỞNG BAN"
    assert annex["Priority"] == "HỎA TỐC" and annex["To"][0] == "Sở Giao thông vận tải"
    # "ỦY BAN NHÂN DÂN" / "TỈNH ..." is one name on two lines; "ĐIỆN LỰC" stays as printed
    one = extract_metadata(
        "ỦY BAN NHÂN DÂN\nTỈNH QUẢNG NGÃI\nSố: 51/QĐ-UBND\nQUYẾT ĐỊNH\nVề việc thử"
    )
    assert (one.issuer, one.parent_organ) == ("ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI", "")
    epu = extract_metadata(
        "BỘ CÔNG THƯƠNG\nTRƯỜNG ĐẠI HỌC ĐIỆN LỰC\nSố: 899/TB-ĐHĐL\nTHÔNG BÁO\nVề"
    )
    assert (epu.issuer, epu.parent_organ) == ("TRƯỜNG ĐẠI HỌC ĐIỆN LỰC", "BỘ CÔNG THƯƠNG")


# a rendered page: a two-column header, the number slot filled in by hand ----------------
def _face(size_pt: float = 11) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(DEJAVU_SERIF), round(size_pt * DPI / 72))


def _scribble(draw: ImageDraw.ImageDraw, left: int, top: int, seed: int) -> None:
    """Three hand-drawn 'digits': loose irregular strokes, not a font."""
    rng = random.Random(seed)
    for k in range(3):
        x0 = left + k * 34
        points = [(x0 + rng.randint(-6, 26), top + rng.randint(-8, 44)) for _ in range(7)]
        draw.line(points, fill=0, width=4, joint="curve")


LEFT_HEAD = ["ỦY BAN NHÂN DÂN", "TỈNH QUẢNG NGÃI", "Số:          /UBND-KTTH", "V/v báo cáo kết quả"]
RIGHT_HEAD = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "",
    "Quảng Ngãi, ngày 04 tháng 02 năm 2025",
]
BODY = [
    "Kính gửi: Sở Tài chính",
    "Ủy ban nhân dân tỉnh đề nghị Sở Tài chính tổng hợp kết quả thực hiện",
    "dự toán năm 2024 và báo cáo trước ngày 20 tháng 02 năm 2025.",
]
FOOT_LEFT = ["Nơi nhận:", "- Như trên;", "- Lưu: VT."]
FOOT_RIGHT = ["CHỦ TỊCH", "", "Nguyễn Văn An"]


def render_header_page(scribbled: bool = True) -> tuple[np.ndarray, dict[str, tuple]]:
    """The page image and each block's box (left, top, right, bottom) in pixels."""
    width, height = round(8.27 * DPI), round(11.69 * DPI)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    face = _face()
    for i, (left, right) in enumerate(zip(LEFT_HEAD, RIGHT_HEAD, strict=True)):
        draw.text((MARGIN, MARGIN + i * LINE), left, font=face, fill=0)
        draw.text((RIGHT, MARGIN + i * LINE), right, font=face, fill=0)
    if scribbled:
        _scribble(draw, MARGIN + round(face.getlength("Số: ")) + 8, MARGIN + 2 * LINE, seed=5)
    top = MARGIN + 6 * LINE
    for i, line in enumerate(BODY):
        draw.text((MARGIN, top + i * LINE), line, font=face, fill=0)
    foot = top + 5 * LINE
    for i, line in enumerate(FOOT_LEFT):
        draw.text((MARGIN, foot + i * LINE), line, font=face, fill=0)
    for i, line in enumerate(FOOT_RIGHT):
        draw.text((RIGHT + 250, foot + i * LINE), line, font=face, fill=0)
    boxes = {
        "header-left": (0, 0, RIGHT - 20, top - 10),
        "header-right": (RIGHT - 20, 0, width, top - 10),
        "body": (0, top - 10, width, foot - 10),
        "recipients": (0, foot - 10, RIGHT - 20, height),
        "signature": (RIGHT - 20, foot - 10, width, height),
    }
    return np.asarray(image).copy(), boxes


def with_regions(page: PageText, boxes: dict[str, tuple]) -> PageText:
    """The page's OCR words stored region by region, regions cut by the test's own boxes
    (what the layout code does; built here by hand from where the test drew each block)."""
    words, regions = [], []
    for kind, (left, top, right, bottom) in boxes.items():
        inside = [
            w
            for w in page.words
            if left <= w.left + w.width / 2 < right and top <= w.top + w.height / 2 < bottom
        ]
        if inside:
            regions.append(
                Region(kind, left, top, right - left, bottom - top, len(words), len(inside))
            )
            words += inside
    return PageText(
        text=page.text,
        confidence=page.confidence,
        words=tuple(words),
        width=page.width,
        height=page.height,
        source=page.source,
        regions=tuple(regions),
    )


@pytest.fixture(scope="module")
def scribbled_ocr():
    image, boxes = render_header_page()
    page, _ = read_image(image, OcrOptions(lang="vie"), timeout=120, dpi=DPI)
    return image, boxes, page


def test_a_handwritten_number_is_not_read_as_sure(scribbled_ocr):
    _, boxes, page = scribbled_ocr
    for source in (page, with_regions(page, boxes)):
        meta = extract_metadata(source)
        assert meta.symbol == "UBND-KTTH", page.text[:300]
        assert meta.confidence["number"] < 0.5, (meta.number, meta.reads, page.text[:300])
        assert meta.date == "2025-02-04" and meta.confidence["date"] >= 0.5
    regional = extract_metadata(with_regions(page, boxes))
    assert regional.issuer == "ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI"
    assert (regional.signer_position, regional.signer_name) == ("CHỦ TỊCH", "Nguyễn Văn An")
    assert regional.recipients == ("Sở Tài chính", "Như trên")
    assert regional.confidence["signer_name"] >= 0.5


def test_ingest_sends_the_unread_number_to_review(scribbled_ocr, tmp_path):
    image, _, _ = scribbled_ocr
    scans = tmp_path / "scans"
    scans.mkdir()
    write_png(scans / "cong-van.png", image, DPI)
    home = tmp_path / "home"
    run_kho("ingest", str(scans), "--batch", "b1", "--lang", "vie", home=home)
    queue = json.loads(run_kho("review", "list", "--json", home=home).stdout)
    assert len(queue) == 1, queue
    doc_id = queue[0]["doc_id"]
    (reason,) = [r for r in queue[0]["fields"] if r.startswith("số/ký hiệu (number)")]
    assert "độ tin cậy 0." in reason, reason
    shown = run_kho("review", "list", home=home).stdout
    assert "số/ký hiệu" in shown and "kho review field" in shown
    out = tmp_path / "doc.json"
    run_kho("export", doc_id, "--format", "json", "--out", str(out), home=home)
    meta = json.loads(out.read_text("utf-8"))["meta"]
    assert meta["number"] == "" and meta["annex_vi"]["CodeNumber"] == ""  # not stored as sure
    assert meta["field_review"]["status"] == "pending"
    assert meta["annex_vi"]["CodeNotation"] == "UBND-KTTH"
    assert meta["annex_vi"]["IssuedDate"] == "2025-02-04"
    # a number is digits as printed: anything else is refused and nothing changes
    bad = run_kho("review", "field", doc_id, "number", "57S", home=home, check=2)
    assert "digits as printed" in bad.stderr + bad.stdout
    shown = run_kho("show", doc_id, home=home).stdout
    assert "UBND-KTTH" in shown and "2025-02-04" in shown, shown  # the fields read
    assert "CodeNumber" in shown and "review" in shown.split("CodeNumber")[1], shown  # held
    # the category confirmed while the number waits: the document stays in the queue
    run_kho("review", "accept", doc_id, home=home)
    queue = json.loads(run_kho("review", "list", "--json", home=home).stdout)
    assert [d["doc_id"] for d in queue] == [doc_id], queue
    run_kho("classify", "apply", home=home)  # a later run neither drops nor redoes it
    run_kho("export", doc_id, "--format", "json", "--out", str(out), home=home)
    held = json.loads(out.read_text("utf-8"))["meta"]["field_review"]
    assert (held["status"], held["review_before"]) == ("pending", "accepted"), held
    assert [
        d["doc_id"] for d in json.loads(run_kho("review", "list", "--json", home=home).stdout)
    ] == [doc_id]
    run_kho("review", "field", doc_id, "CodeNumber", "0575", home=home)
    run_kho("export", doc_id, "--format", "json", "--out", str(out), home=home)
    meta = json.loads(out.read_text("utf-8"))["meta"]
    assert (meta["number"], meta["annex_vi"]["CodeNumber"]) == ("0575", "0575")
    assert meta["field_review"]["decided"]["number"]["value"] == "0575"
    fields = json.loads(run_kho("doc", "show", doc_id, "--json", home=home).stdout)
    assert (fields["fields"]["code_number"], fields["state"]["code_number"]) == (
        "0575",
        "confirmed",
    )
    assert not any(
        d["doc_id"] == doc_id and d["fields"]
        for d in json.loads(run_kho("review", "list", "--json", home=home).stdout)
    )
    assert json.loads(run_kho("review", "list", "--json", home=home).stdout) == []
    shown = run_kho("show", doc_id, home=home).stdout
    assert "needs review" not in shown and "0575" in shown, shown
    lines = run_kho("audit", "--json", "--limit", "50", home=home).stdout.splitlines()
    audit = [json.loads(line) for line in lines]
    (row,) = [a for a in audit if a["action"] == "review-field"]
    assert row["detail"]["field"] == "number" and row["detail"]["value"] == "0575"
    # a later automatic run keeps what the person set
    run_kho("classify", "apply", home=home)
    run_kho("export", doc_id, "--format", "json", "--out", str(out), home=home)
    assert json.loads(out.read_text("utf-8"))["meta"]["number"] == "0575"


@pytest.mark.skipif(
    importlib.util.find_spec("kho.ocr.layout") is None,
    reason="kho.ocr.layout (the page layout that fills PageText.regions) is not there yet",
)
def test_layout_regions_of_a_rendered_page_give_the_fields():
    image, _ = render_header_page(scribbled=False)
    page, _ = read_image(image, OcrOptions(lang="vie"), timeout=120, dpi=DPI)
    assert page.regions, "the layout found no regions on a two-column page"
    meta = extract_metadata(page)
    assert (meta.issuer, meta.symbol, meta.date) == (
        "ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI", "UBND-KTTH", "2025-02-04",
    )  # fmt: skip
    assert (meta.signer_position, meta.signer_name) == ("CHỦ TỊCH", "Nguyễn Văn An")


def test_plain_text_and_text_layers_are_sure():
    meta = extract_metadata("BỘ TƯ LỆNH QUÂN KHU 7\nSố: 05/CT-BTL\nCHỈ THỊ\nVề việc thử")
    assert meta.confidence["number"] == 1.0 and meta.confidence["symbol"] == 1.0
    # a number slot holding no digits is read, kept aside, and not taken
    meta = extract_metadata("BỘ TƯ LỆNH QUÂN KHU 7\nSố: 9B/CT-BTL\nCHỈ THỊ\nVề việc thử")
    assert (meta.number, meta.reads["number"]) == ("", "9B")
    assert meta.confidence["number"] < 0.5
