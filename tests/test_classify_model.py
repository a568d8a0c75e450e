"""The trainable classifier, its files, evaluation, training data and the review rules."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from kho.classify.model import (
    classify_document,
    evaluate,
    format_report,
    latest_model,
    load_model,
    load_training_dir,
    train,
    word_terms,
)
from kho.classify.review import (
    ACCEPTED,
    PENDING,
    RELABELED,
    accept,
    classification_values,
    relabel,
    review_queue,
    training_examples,
)
from kho.classify.rules import classify_text
from kho.classify.taxonomy import load_taxonomy, parse_taxonomy
from kho.core.errors import ConfigError, NotFoundError, UsageError
from kho.core.settings import OcrOptions
from kho.core.types import Classification
from kho.index.text import fold
from kho.ocr.read import read_image
from kho.synth.admin import generate_corpus
from kho.synth.pages import render_page

from .conftest import run_kho

VNTC = Path("/work/shared/vntc-dev")


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def model(taxonomy):
    docs = generate_corpus(25, seed=1)  # 275 documents: trains in a few seconds
    return train([d.text for d in docs], [d.category for d in docs], taxonomy)


@pytest.fixture(scope="module")
def held_out():
    docs = generate_corpus(8, seed=2)
    return [d.text for d in docs], [d.category for d in docs]


def test_learns_the_generated_corpus(model, held_out):
    texts, labels = held_out
    report = evaluate(model, texts, labels)
    assert report.macro_f1 >= 0.9, format_report(report)
    assert report.n == len(texts) == sum(map(sum, report.confusion))
    assert set(report.labels) == set(labels)


def test_text_without_diacritics_still_mostly_right(model, held_out):
    texts, labels = held_out
    report = evaluate(model, [fold(t) for t in texts], labels)
    assert report.accuracy >= 0.85, format_report(report)


def test_prediction_has_probabilities_alternatives_and_real_reasons(model, held_out):
    texts, labels = held_out
    for text in texts[:11]:
        probs = model.probabilities(text)
        assert set(probs) == set(model.classes)
        assert sum(probs.values()) == pytest.approx(1.0)
        result = model.predict(text)
        assert result.confidence == pytest.approx(max(probs.values()), abs=1e-4)
        assert len(result.alternatives) == 3
        assert all(c != result.category and p <= result.confidence for c, p in result.alternatives)
        words = [r for r in result.reasons if not r.startswith("~")]
        assert words, result
        # each reason is a term of the text itself
        for term in words:
            assert term in " ".join(word_terms(text)), (term, result)


def test_save_and_load_give_the_same_predictions(model, held_out, tmp_path, taxonomy):
    texts, _ = held_out
    from kho.core.permissions import PRIVATE

    first = model.save(tmp_path / "models", PRIVATE)
    second = model.save(tmp_path / "models", PRIVATE)
    assert (first.name, second.name) == ("classifier-v1.joblib", "classifier-v2.joblib")
    assert latest_model(tmp_path / "models") == second
    # written like every stored file: the policy's mode
    assert second.stat().st_mode & 0o777 == PRIVATE.file_mode
    sidecar = json.loads(second.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["version"] == 2
    assert sidecar["taxonomy_ids"] == list(taxonomy.ids)
    assert sum(sidecar["n_per_class"].values()) == sidecar["n"] == 275
    assert sidecar["metrics"]["n"] == 55 and sidecar["metrics"]["macro_f1"] >= 0.85
    loaded = load_model(tmp_path / "models")  # a folder: its latest model
    assert loaded.info["version"] == 2
    assert loaded.predict_many(texts) == model.predict_many(texts)
    assert load_model(first).predict(texts[0]) == model.predict(texts[0])


def test_missing_or_broken_model_files(tmp_path):
    assert latest_model(tmp_path / "nowhere") is None
    with pytest.raises(NotFoundError):
        load_model(tmp_path)
    broken = tmp_path / "classifier-v1.joblib"
    broken.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="train a new one"):
        load_model(broken)


def test_labels_outside_the_taxonomy_are_refused(taxonomy):
    with pytest.raises(ConfigError, match="not_a_category"):
        train(["một văn bản", "văn bản khác"], ["can_bo", "not_a_category"], taxonomy)
    with pytest.raises(UsageError, match="two categories"):
        train(["một văn bản", "văn bản khác"], ["can_bo", "can_bo"], taxonomy)


def test_classify_document_falls_back_to_rules(model, taxonomy, held_out):
    texts, _ = held_out
    assert classify_document(texts[0], taxonomy, None) == classify_text(texts[0], taxonomy)
    assert classify_document(texts[0], taxonomy, model) == model.predict(texts[0])
    empty = classify_document("   ", taxonomy, model)
    assert (empty.category, empty.confidence) == (taxonomy.fallback, 0.0)


def test_a_model_of_another_taxonomy_defers_to_the_rules(taxonomy):
    other = parse_taxonomy(
        "fallback: a\ncategories:\n"
        "  - {id: a, label: A, keywords: {alpha: 1}}\n"
        "  - {id: b, label: B, keywords: {beta: 1}}\n"
    )
    m = train(["alpha alpha văn bản", "alpha tài liệu", "beta văn bản", "beta beta tài liệu"],
              ["a", "a", "b", "b"], other)  # fmt: skip
    text = "Chi bộ tổ chức kết nạp đảng viên, chuyển đảng chính thức. alpha"
    assert m.predict(text).category == "a"
    assert classify_document(text, taxonomy, m) == classify_text(text, taxonomy)


def test_report_formats(model, held_out):
    texts, labels = held_out
    report = evaluate(model, texts[:20], labels[:20])
    table = format_report(report)
    assert "macro F1" in table and "confusion" in table
    data = json.loads(json.dumps(report.to_json()))
    assert data["n"] == 20 and len(data["confusion"]) == len(data["labels"])
    rules = evaluate(lambda t: Classification("can_bo", 1.0), texts[:20], labels[:20])
    assert rules.per_class["can_bo"].recall == 1.0


def test_training_folder(tmp_path, taxonomy):
    docs = generate_corpus(2, seed=5)
    for i, doc in enumerate(docs):
        folder = tmp_path / doc.category
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.txt").write_text(doc.text, encoding="utf-8")
    (tmp_path / "can_bo" / "notes.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "can_bo" / "latin1.txt").write_bytes("Quân đội".encode("utf-16"))
    (tmp_path / "README.txt").write_text("read me", encoding="utf-8")
    page = render_page("QUYẾT ĐỊNH\nVề việc bổ nhiệm chức vụ\nĐiều động sĩ quan, nâng lương.")
    cv2.imwrite(str(tmp_path / "can_bo" / "scan.png"), page.image)

    texts, labels, skipped = load_training_dir(tmp_path, taxonomy)
    assert len(texts) == len(docs) and sorted(labels) == sorted(d.category for d in docs)
    assert len(skipped) == 4  # the scan without OCR, the .docx, the non-UTF-8 file, README
    assert any("scan.png" in s and "OCR" in s for s in skipped)

    def ocr_file(path):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        return read_image(np.asarray(image), OcrOptions(), timeout=120)[0].text

    texts, labels, skipped = load_training_dir(tmp_path, taxonomy, ocr_file=ocr_file)
    assert len(texts) == len(docs) + 1 and len(skipped) == 3
    assert "bổ nhiệm" in texts[labels.index("can_bo") + 2]  # sorted: 0.txt, 11.txt, scan.png

    (tmp_path / "khong_co").mkdir()
    with pytest.raises(ConfigError, match="khong_co"):
        load_training_dir(tmp_path, taxonomy)


@dataclass
class Doc:
    id: str
    category: str = ""
    confidence: float = 0.0
    review: str = ""
    meta: dict = field(default_factory=dict)


def test_review_rules(taxonomy):
    unsure = Classification("can_bo", 0.3)
    sure = Classification("can_bo", 0.9)
    assert classification_values(Doc("a"), unsure, 0.5)["review"] == PENDING
    assert classification_values(Doc("a"), sure, 0.5) == {
        "category": "can_bo", "confidence": 0.9, "review": "",
    }  # fmt: skip
    # a person's decision is never overwritten by a later run
    assert classification_values(Doc("a", "dan_van", 1.0, RELABELED), sure, 0.5) == {}
    assert accept(Doc("a", "can_bo", 0.3, PENDING)) == {"review": ACCEPTED}
    with pytest.raises(UsageError):
        accept(Doc("a"))
    values = relabel(Doc("a", "can_bo", 0.3, PENDING), "dan_van", taxonomy)
    assert values["review"] == RELABELED and values["category"] == "dan_van"
    assert values["meta"]["predicted"] == {"category": "can_bo", "confidence": 0.3}
    with pytest.raises(UsageError):
        relabel(Doc("a", "can_bo"), "nope", taxonomy)
    docs = [Doc("a", "can_bo", 0.4, PENDING), Doc("b", "can_bo", 0.2, PENDING),
            Doc("c", "can_bo", 0.9, ""), Doc("d", "dan_van", 1.0, RELABELED),
            Doc("e", "can_bo", 0.3, ACCEPTED), Doc("f", "", 0.0, ACCEPTED)]  # fmt: skip
    assert [d.id for d in review_queue(docs)] == ["b", "a"]
    texts, labels = training_examples(docs, lambda doc_id: f"text of {doc_id}")
    # only what people decided trains the model; never the model's own guesses
    assert (texts, labels) == (["text of d", "text of e"], ["dan_van", "can_bo"])


def _keywordless(taxonomy) -> str:
    """The taxonomy's categories as YAML with no keywords at all: the model alone decides."""
    lines = [f"fallback: {taxonomy.fallback}", "categories:"]
    lines += [f"  - {{id: {c.id}, label: {json.dumps(c.label, ensure_ascii=False)}}}"
              for c in taxonomy.categories]  # fmt: skip
    return "\n".join(lines) + "\n"


def _write_folders(root: Path, docs) -> None:
    for i, doc in enumerate(docs):
        (root / doc.category).mkdir(parents=True, exist_ok=True)
        (root / doc.category / f"{i}.txt").write_text(doc.text, encoding="utf-8")


def test_a_taxonomy_without_keywords_trains_and_classifies_through_the_cli(tmp_path, taxonomy):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(_keywordless(taxonomy), encoding="utf-8")
    bare = load_taxonomy(path)
    assert all(c.keywords == () for c in bare.categories)
    # without a model there is no evidence at all: the fallback, with no confidence
    assert classify_text("Chi bộ kết nạp đảng viên", bare) == Classification(bare.fallback, 0.0)
    _write_folders(tmp_path / "train", generate_corpus(6, seed=1))
    held_out = generate_corpus(3, seed=2)
    _write_folders(tmp_path / "test", held_out)
    home = tmp_path / "home"
    trained = run_kho("classify", "train", str(tmp_path / "train"), "--taxonomy", str(path),
                      "--no-reviews", home=home)  # fmt: skip
    assert "trained on 66 documents" in trained.stdout and "ECE" in trained.stdout
    evaluated = run_kho("classify", "eval", str(tmp_path / "test"), "--taxonomy", str(path),
                        home=home)  # fmt: skip
    lines = {line.split()[0]: line.split()[1] for line in evaluated.stdout.splitlines() if line}
    assert float(lines["accuracy"]) >= 0.8, evaluated.stdout
    # the expected calibration error, printed beside accuracy and macro-F1
    as_json = run_kho("classify", "eval", str(tmp_path / "test"), "--taxonomy", str(path),
                      "--json", home=home)  # fmt: skip
    report = json.loads(as_json.stdout)
    assert 0.0 <= report["calibration_error"] < 0.3
    assert float(lines["ECE"]) == pytest.approx(report["calibration_error"], abs=1e-3)
    doc = held_out[0]
    sample = tmp_path / "one.txt"
    sample.write_text(doc.text, encoding="utf-8")
    predicted = run_kho("classify", "predict", str(sample), "--taxonomy", str(path), "--json",
                        home=home)  # fmt: skip
    row = json.loads(predicted.stdout)[0]
    assert row["category"] == doc.category and row["probability"] > 0.3, row
    assert row["why"], row


def _filler(rng: random.Random) -> str:
    words = ("cái này được đặt ở trong phòng khách của nhà tôi từ năm ngoái và mọi người "
             "đều thấy rất đẹp").split()  # fmt: skip
    return " ".join(rng.sample(words, 8))


def test_diacritics_tell_apart_words_that_fold_alike(taxonomy):
    """'bàn' (a table) and 'bán' (to sell) fold to the same letters: the marks decide, also
    where OCR glued a word to its neighbours so that no whole word matches."""
    pair = parse_taxonomy(
        "fallback: ban_ghe\ncategories:\n"
        "  - {id: ban_ghe, label: Bàn ghế, keywords: {bàn ghế: 1}}\n"
        "  - {id: mua_ban, label: Mua bán, keywords: {mua bán: 1}}\n"
    )
    rng = random.Random(4)
    texts, labels = [], []
    for _ in range(12):
        for word, label in (("bàn", "ban_ghe"), ("bán", "mua_ban")):
            texts.append(f"{_filler(rng)} {word} {_filler(rng)} {word}")
            labels.append(label)
    model = train(texts, labels, pair, holdout=0)
    for word, label in (("bàn", "ban_ghe"), ("bán", "mua_ban")):
        assert model.predict(f"{_filler(rng)} {word} {_filler(rng)}").category == label
        glued = f"{_filler(rng)} cái{word}này {_filler(rng)}"
        assert model.predict(glued).category == label, (glued, model.predict(glued))
    # without marks the two are the same text: the model cannot be sure of either
    folded = model.predict(fold(f"{_filler(rng)} bàn {_filler(rng)}"))
    assert folded.confidence < 0.8, folded


@pytest.mark.skipif(not VNTC.is_dir(), reason=f"no labelled news corpus at {VNTC}")
def test_news_articles_are_learned_well_above_chance():
    """10 topics, 10 articles a topic to learn from, 6 others each to score: chance is 0.1."""
    full = load_taxonomy(VNTC / "taxonomy.yaml")
    bare = parse_taxonomy(_keywordless(full), "vntc, no keywords")
    texts, labels, _ = load_training_dir(VNTC, bare)
    picked: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        picked.setdefault(label, []).append(re.sub(r"\s+", " ", text))
    fit = [(t, c) for c, ts in picked.items() for t in ts[:10]]
    test = [(t, c) for c, ts in picked.items() for t in ts[10:16]]
    model = train([t for t, _ in fit], [c for _, c in fit], bare, holdout=0)
    report = evaluate(model, [t for t, _ in test], [c for _, c in test])
    assert report.macro_f1 >= 0.55, format_report(report)
    assert report.calibration_error < 0.2, format_report(report)
    assert model.info["calibration"]["folds"] == 5
