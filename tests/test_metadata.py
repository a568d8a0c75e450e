"""Metadata extraction on generated Decree 30 documents, clean, noisy and OCR'd."""

from __future__ import annotations

import re
import unicodedata

import pytest

from kho.classify.metadata import DocMeta, extract_metadata
from kho.core.settings import OcrOptions
from kho.ocr.read import read_image
from kho.synth.admin import generate_corpus, generate_document
from kho.synth.pages import degraded_page
from kho.synth.text import paragraphs

FIELDS = ("doc_type", "number", "symbol", "place", "date", "issuer", "subject", "mark")


def strip_marks(text: str) -> str:
    """Text as typed without Telex or OCR'd without diacritics, case kept."""
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return bare.replace("đ", "d").replace("Đ", "D")


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(6, seed=11)  # 66 documents, every category and layout


def test_every_field_of_generated_documents(corpus):
    assert len(corpus) >= 50
    for doc in corpus:
        meta = extract_metadata(doc.text).to_json()
        assert {f: meta[f] for f in FIELDS} == doc.fields, doc.text[:400]


def test_layouts_are_varied(corpus):
    fields = [d.fields for d in corpus]
    assert len({f["doc_type"] for f in fields}) >= 8
    assert {f["mark"] for f in fields} == {0, 1, 2, 3}
    assert any("/" in f["symbol"] for f in fields) and any("-" in f["symbol"] for f in fields)


@pytest.mark.parametrize(
    "noise",
    [
        strip_marks,
        lambda t: t.replace("Số", "S6", 1),
        lambda t: t.replace("Số", "Sô", 1),
        # OCR reads the two header columns as one line
        lambda t: re.sub(r" {3,}", " ", t),
        # lines broken inside the number and the date
        lambda t: re.sub(r"(\d+)([/-])", r"\1\2\n", t, count=1).replace(" tháng ", " tháng\n", 1),
        # spaces around the separators: "125 / QĐ-CT"
        lambda t: re.sub(r"(Số:? \d+)([/-])", r"\1 \2 ", t, count=1),
    ],
    ids=["no-diacritics", "S6", "So-hat", "merged-columns", "broken-lines", "spaced-symbol"],
)
def test_ocr_noise_keeps_number_date_and_type(corpus, noise):
    for doc in corpus:
        meta = extract_metadata(noise(doc.text))
        want = doc.fields
        assert (meta.number, meta.date, meta.doc_type) == (
            want["number"], want["date"], want["doc_type"],
        ), noise(doc.text)[:400]  # fmt: skip


def test_diacritics_are_restored_for_known_names(corpus):
    for doc in corpus:
        meta = extract_metadata(strip_marks(doc.text))
        assert meta.symbol == doc.fields["symbol"]
        assert meta.mark == doc.fields["mark"]
    # a body and place the extractor knows come back with their marks
    doc = next(d for d in corpus if d.fields["issuer"] == "ĐẢNG ỦY SƯ ĐOÀN 5")
    meta = extract_metadata(strip_marks(doc.text))
    assert (meta.issuer, meta.place) == ("ĐẢNG ỦY SƯ ĐOÀN 5", "Tây Ninh")


def test_date_forms():
    header = "ĐẢNG ỦY SƯ ĐOÀN 5\n*\nSố 12-NQ/ĐU\nTây Ninh, {}\n\nNGHỊ QUYẾT\nVề việc thử"
    for form in ("ngày 5 tháng 3 năm 2025", "ngày 05 tháng 03 năm 2025", "ngày 05/3/2025",
                 "ngay 05 thang 3 nam 2025", "ngày 05 - 3 - 2025"):  # fmt: skip
        meta = extract_metadata(header.format(form))
        assert (meta.date, meta.place) == ("2025-03-05", "Tây Ninh"), form
    assert extract_metadata(header.format("ngày 31 tháng 2 năm 2025")).date == ""


def test_marks_are_levels_and_only_alone_on_a_header_line():
    head = "BỘ TƯ LỆNH QUÂN KHU 7\nSố: 5/KH-BTL\n{}\nKẾ HOẠCH\nBảo vệ chính trị nội bộ\n"
    assert extract_metadata(head.format("MẬT")).mark == 1
    assert extract_metadata(head.format("TỐI MẬT")).mark == 2
    assert extract_metadata(head.format("TUYỆT MẬT")).mark == 3
    assert extract_metadata(head.format("KHẨN")).mark == 0
    body = (
        "Làm tốt công tác giữ bí mật.\nTài liệu bí mật nhà nước được quản lý chặt chẽ.\n"
        "Bí mật\nMẬT\nTuyệt đối giữ bí mật quân sự."
    )
    # "bí mật" in sentences, and MẬT below the title, are not the document's mark
    assert extract_metadata(head.format("") + body).mark == 0


def test_generated_bodies_about_secrecy_have_no_mark():
    docs = [generate_document("bao_ve_an_ninh", seed) for seed in range(40)]
    unmarked = [d for d in docs if d.fields["mark"] == 0 and "bí mật" in d.text]
    assert len(unmarked) >= 5
    for doc in unmarked:
        assert extract_metadata(doc.text).mark == 0


def test_text_without_a_header_gives_empty_fields():
    text = "\n".join(paragraphs("to_chuc_dang", 3, seed=2))
    text += "\nCăn cứ Quyết định số 12/QĐ-BQP ngày 5 tháng 3 năm 2024 của Bộ Quốc phòng."
    assert extract_metadata(text) == DocMeta()
    assert extract_metadata("") == DocMeta()
    empty = DocMeta().to_json()
    assert {f: empty[f] for f in FIELDS} == dict.fromkeys(FIELDS, "") | {"mark": 0}
    assert all(v in ("", []) for v in empty["annex_vi"].values())


def test_real_ocr_of_a_degraded_page():
    doc = generate_document("can_bo", seed=4)
    image, _ = degraded_page(doc.text, "medium", seed=4)
    page, _ = read_image(image, OcrOptions(), timeout=120, dpi=300)
    meta = extract_metadata(page.text)
    want = doc.fields
    assert (meta.number, meta.date, meta.doc_type, meta.mark) == (
        want["number"], want["date"], want["doc_type"], want["mark"],
    ), page.text[:500]  # fmt: skip
