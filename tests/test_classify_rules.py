"""Keyword-rule classification and taxonomy loading."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from kho.classify.rules import classify_text
from kho.classify.taxonomy import load_taxonomy
from kho.core.errors import ConfigError
from kho.synth.text import CATEGORIES, document_text, english_paragraph

TAXONOMY = load_taxonomy()


def strip_diacritics(text: str) -> str:
    """What OCR without a Vietnamese model, or typing without Telex, produces."""
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return bare.replace("đ", "d").replace("Đ", "D")


def test_default_taxonomy() -> None:
    assert TAXONOMY.ids == CATEGORIES
    assert TAXONOMY.fallback == "hanh_chinh"
    assert 0 < TAXONOMY.review_threshold < 1
    assert TAXONOMY.category("dan_van").label == "Công tác dân vận"
    for category in TAXONOMY.categories:
        assert 15 <= len(category.keywords) <= 30, category.id
        assert category.description
        for term, weight in category.keywords:
            assert term == unicodedata.normalize("NFC", term).lower() and weight > 0


def test_generated_documents_classify_to_their_category() -> None:
    wrong = []
    for category in CATEGORIES:
        for seed in range(10):
            result = classify_text(document_text(category, seed), TAXONOMY)
            if result.category != category:
                wrong.append((category, seed, result))
            assert 0 <= result.confidence <= 1
    accuracy = 1 - len(wrong) / (len(CATEGORIES) * 10)
    assert accuracy >= 0.9, wrong


def test_text_without_diacritics_still_classifies_with_less_confidence() -> None:
    right = 0
    for category in CATEGORIES:
        for seed in range(10):
            doc = document_text(category, seed)
            exact = classify_text(doc, TAXONOMY)
            folded = classify_text(strip_diacritics(doc), TAXONOMY)
            right += folded.category == category
            if folded.category == exact.category:
                assert folded.confidence <= exact.confidence
                assert any(r.startswith("~") for r in folded.reasons)
    assert right / (len(CATEGORIES) * 10) >= 0.8


def test_no_evidence_falls_back_below_threshold() -> None:
    irrelevant = [
        "",
        "   \n\t ",
        "Hôm nay trời nắng đẹp, cả nhà đi chợ mua rau và cá về nấu canh.",
        english_paragraph(0),
        "12345 67890 ... --- ///",
    ]
    for text in irrelevant:
        result = classify_text(text, TAXONOMY)
        assert result.category == TAXONOMY.fallback, (text, result)
        assert result.confidence < TAXONOMY.review_threshold


def test_confidence_is_honest() -> None:
    # One weak keyword: a guess, not a decision.
    weak = classify_text("Chi bộ họp vào thứ Hai.", TAXONOMY)
    assert weak.category == "to_chuc_dang" and weak.confidence < 0.3
    # Two categories with equal evidence: below the review threshold.
    tie = classify_text("Khen thưởng. Kỷ luật.", TAXONOMY)
    assert tie.confidence < TAXONOMY.review_threshold
    assert {tie.category, tie.alternatives[0][0]} == {"thi_dua_khen_thuong", "kiem_tra_ky_luat"}
    # A page of one category: close to 1.
    strong = classify_text(" ".join(document_text("dan_van", s) for s in range(3)), TAXONOMY)
    assert strong.category == "dan_van" and strong.confidence > 0.9
    assert all(conf < strong.confidence for _, conf in strong.alternatives)


def test_reasons_alternatives_and_repeats() -> None:
    text = "Sinh hoạt chi bộ. Chi bộ. Chi bộ. Chi bộ. Đảng viên dự bị. Bằng khen."
    result = classify_text(text, TAXONOMY)
    assert result.category == "to_chuc_dang"
    assert "chi bộ×3" in result.reasons and "đảng viên dự bị×1" in result.reasons
    assert result.alternatives[0][0] == "thi_dua_khen_thuong"
    assert len(classify_text(document_text("can_bo", 0), TAXONOMY).alternatives) <= 3
    # Repeats have diminishing returns: ten weak mentions do not beat three strong terms.
    many = classify_text("Chi bộ. " * 10 + "Bằng khen, giấy khen, cờ thi đua.", TAXONOMY)
    assert many.category == "thi_dua_khen_thuong"


def test_whole_words_only_and_normalisation(tmp_path: Path) -> None:
    # A keyword matches whole words: "thi" inside "thiết" does not count.
    path = tmp_path / "taxonomy.yaml"
    path.write_text(
        "review_threshold: 0.4\nfallback: other\ncategories:\n"
        "  - {id: exam, label: Thi, keywords: {thi: 3}}\n"
        "  - {id: other, label: Khác, keywords: {khác: 1}}\n",
        encoding="utf-8",
    )
    custom = load_taxonomy(path)
    assert classify_text("thiết bị thông tin", custom).category == "other"
    assert classify_text("kỳ thi cuối năm", custom).category == "exam"
    # NFD input (as some systems produce) and the other tone placement match like NFC.
    nfd = unicodedata.normalize("NFD", "Ủy ban Kiểm tra thi hành kỷ luật")
    assert (
        classify_text(nfd, TAXONOMY).reasons
        == classify_text("Ủy ban Kiểm tra thi hành kỷ luật", TAXONOMY).reasons
    )
    old_style = classify_text("Uỷ ban Kiểm tra", TAXONOMY)
    assert old_style.reasons == ("ủy ban kiểm tra×1",)
    # A phrase broken across lines by OCR still matches.
    assert classify_text("đề nghị kết nạp\nđảng viên", TAXONOMY).reasons[0] == "kết nạp đảng viên×1"


def test_custom_taxonomy_loads(tmp_path: Path) -> None:
    path = tmp_path / "don_vi.yaml"
    path.write_text(
        "version: 1\nreview_threshold: 0.6\nfallback: khac\ncategories:\n"
        "  - id: hau_can\n    label: Hậu cần\n    description: Quân nhu, doanh trại\n"
        "    keywords:\n      quân nhu: 3\n      doanh trại: 2\n"
        "  - id: khac\n    label: Khác\n    keywords:\n      văn bản: 0.5\n",
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(path)
    assert taxonomy.ids == ("hau_can", "khac") and taxonomy.review_threshold == 0.6
    assert taxonomy.source == str(path)
    result = classify_text("Bảo đảm quân nhu và sửa chữa doanh trại.", taxonomy)
    assert result.category == "hau_can" and result.reasons == ("quân nhu×1", "doanh trại×1")
    assert classify_text("quan nhu", taxonomy).reasons == ("~quân nhu×1",)


_GOOD_CATEGORY = "  - id: a\n    label: A\n    keywords: {chi bộ: 1}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"fallback: zzz\ncategories:\n{_GOOD_CATEGORY}", "fallback 'zzz'"),
        (
            f"fallback: a\ncategories:\n{_GOOD_CATEGORY}{_GOOD_CATEGORY}",
            "duplicate category id 'a'",
        ),
        ("fallback: a\ncategories:\n  - {id: a, label: A, keywords: [x]}\n", "(a): 'keywords'"),
        ("fallback: a\ncategories:\n  - {id: a, label: A, keywords: {x: -1}}\n", "'x' weight"),
        ("fallback: a\ncategories:\n  - {id: a, label: A, keywords: {x: nhiều}}\n", "'x' weight"),
        ("fallback: a\ncategories:\n  - {id: a, label: A, keywords: {x: yes}}\n", "'x' weight"),
        ("fallback: a\ncategories:\n  - {id: a, label: A, keywords: {x: 1, x: 2}}\n", "key 'x'"),
        ("fallback: a\ncategories:\n  - {id: A-1, label: A, keywords: {x: 1}}\n", "'A-1'"),
        (f"fallback: a\nthreshold: 1\ncategories:\n{_GOOD_CATEGORY}", "unknown keys threshold"),
        (f"fallback: a\nreview_threshold: 2\ncategories:\n{_GOOD_CATEGORY}", "review_threshold"),
        ("fallback: a\ncategories: []\n", "'categories'"),
        ("fallback: [a\n", "not valid YAML"),
    ],
)
def test_taxonomy_validation_names_the_problem(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "bad_taxonomy.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    message = str(info.value)
    assert str(path) in message and expected in message, message
    assert "\n" not in message.split(":", 1)[0]


def test_missing_taxonomy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "nope.yaml")
