"""Attacks on the printed-mark raise, through the real CLI: marks off the first header line,
in other cases and spellings, drawn as images, or unreadable; and prose that is no mark."""

from __future__ import annotations

import json
from pathlib import Path

from kho.synth.pages import DEJAVU_SANS, render_page, write_born_digital_pdf, write_png

from ..conftest import run_kho
from .test_ingest_access import archive, documents

HEAD = "BỘ CHỈ HUY QUÂN SỰ TỈNH\nSố: 12/KH-BCH\nKẾ HOẠCH\nBảo vệ chính trị nội bộ năm 2025\n"
BODY = "Các cơ quan, đơn vị tổ chức quán triệt và thực hiện nghiêm các nội dung sau đây."
PAGES = {  # file -> (pages, level it must get)
    "page2.pdf": ([HEAD + BODY, BODY + "\nTỐI MẬT"], 2),
    "after-title.pdf": ([HEAD + "MẬT\n" + BODY], 1),
    "bottom.pdf": ([HEAD + BODY + "\n" + BODY + "\nTUYỆT MẬT"], 3),
    "mixed-case.pdf": ([HEAD + "Tối mật\n" + BODY], 2),
    "label.pdf": ([HEAD + "Độ mật: TỐI MẬT\n" + BODY], 2),
    "spaced.pdf": ([HEAD + "T Ố I  M Ậ T\n" + BODY], 2),
    "no-diacritics.pdf": ([HEAD + "TOI MAT\n" + BODY], 2),
    "ocr-accent.pdf": ([HEAD + "MÁT\n" + BODY], 1),
    "prose.pdf": (
        [
            HEAD + "Làm tốt công tác bảo mật thông tin và giữ bí mật nhà nước; giữ mối quan hệ "
            "mật thiết với nhân dân; không dùng chung mật khẩu. Mặt trận Tổ quốc phối hợp."
        ],
        0,
    ),
}


def image_pdf(path: Path, text: str, mark: str) -> None:
    """A born-digital page whose text layer says `text` and whose mark is only an image."""
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU_SANS)))
    stamp = render_page(mark, width_in=3, height_in=1, margin_in=0.1, font_size_pt=28)
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    lines = pdf.beginText(72, A4[1] - 200)
    lines.setFont("DejaVuSans", 12)
    for line in text.split("\n"):
        lines.textLine(line)
    pdf.drawText(lines)
    pdf.drawImage(ImageReader(Image.fromarray(stamp.image)), 330, A4[1] - 130, 216, 72)
    pdf.showPage()
    pdf.save()


def test_marks_are_found_on_every_page_in_any_spelling_and_in_images(tmp_path):
    home, env = archive(tmp_path)
    scans = tmp_path / "scans"
    scans.mkdir()
    for name, (pages, _) in PAGES.items():
        write_born_digital_pdf(scans / name, pages)
    image_pdf(scans / "image-mark.pdf", HEAD + BODY, "TỐI MẬT")
    scan = render_page(
        "Báo cáo công tác đảng quý ba.\n" + BODY + "\nTUYỆT MẬT", height_in=3, margin_in=0.5
    )
    assert scan.text.endswith("TUYỆT MẬT")  # the mark is on the page, at its foot
    write_png(scans / "scan-bottom.png", scan.image, scan.dpi)

    run_kho("ingest", str(scans), "--batch", "marks", "-q", home=home, env=env)

    docs = documents(home)
    want = {name: level for name, (_, level) in PAGES.items()}
    want |= {"image-mark.pdf": 2, "scan-bottom.png": 3}
    assert {name: docs[name].level for name in want} == want
    assert docs["page2.pdf"].meta["mark_found"] == "page 2: 'TỐI MẬT'"
    assert docs["page2.pdf"].meta["level_raised_from"] == 0
    assert all("mark_review" not in d.meta for d in docs.values())  # none was unsure
    log = (home / "logs" / "kho.log").read_text(encoding="utf-8")
    assert f"doc {docs['label.pdf'].id[:12]}: marked level 2" in log


def test_an_unreadable_mark_holds_the_document_at_level_3_until_a_person_decides(tmp_path):
    home, env = archive(tmp_path)
    scans = tmp_path / "scans"
    scans.mkdir()
    write_born_digital_pdf(scans / "unsure.pdf", [HEAD + "M?T\n" + BODY])
    write_born_digital_pdf(scans / "word.pdf", [HEAD + BODY + " Tài liệu MẬT này lưu tại ban."])

    run_kho("ingest", str(scans), "--batch", "unsure", "-q", home=home, env=env)

    docs = documents(home)
    for name in ("unsure.pdf", "word.pdf"):
        assert docs[name].level == 3 and docs[name].meta["mark_review"]["status"] == "pending"
    doc = docs["unsure.pdf"]
    assert doc.meta["mark_review"]["found"] == ["page 1: 'M?T'"]
    # the review queue shows it to whoever may see level 3, and only to them
    listed = run_kho("review", "list", "--json", "--as", "admin", home=home, env=env)
    held = {d["doc_id"]: d["mark"] for d in json.loads(listed.stdout)}
    assert held[doc.id] == ["page 1: 'M?T'"]
    hidden = run_kho("review", "list", "--json", "--as", "clerk", home=home, env=env)
    assert json.loads(hidden.stdout) == []
    refused = run_kho("review", "mark", doc.id, "1", "--as", "clerk", home=home, env=env, check=3)
    assert "no document" in refused.stderr

    run_kho("review", "mark", doc.id, "1", "--as", "admin", home=home, env=env)
    doc = documents(home)["unsure.pdf"]
    assert doc.level == 1 and doc.meta["mark_review"]["status"] == "decided"
    found = run_kho("search", "chinh tri noi bo", "--json", "--as", "admin", home=home, env=env)
    levels = {h["filename"]: h.get("level") for h in json.loads(found.stdout)}
    assert "unsure.pdf" in levels
    # the decision stands when the archive is classified again
    run_kho("classify", "apply", home=home, env=env)
    assert documents(home)["unsure.pdf"].level == 1
    assert documents(home)["word.pdf"].level == 3
