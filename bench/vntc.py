"""The classifier on labelled Vietnamese news (VNTC sample), against a plain linear SVM.

    python bench/classify_bench.py --vntc [DIR] [--ocr-per-topic 5] [--ocr-levels hard,fax]

DIR holds one folder of UTF-8 `.txt` articles per category and its `taxonomy.yaml` (the
layout `kho classify train` reads). Three measurements, kho and the baseline in the same run:

- fixed split: in each category (sorted by name), the files sorted by name are shuffled by
  one `random.Random(0)` drawn in category order; the first 30 train, the next 20 test;
- 5-fold stratified cross-validation over every article (`StratifiedKFold(5, shuffle=True,
  random_state=0)`): mean and spread of the folds;
- OCR: the first `--ocr-per-topic` test articles of each category, their first 1500
  characters rendered as a page and degraded, at each of `--ocr-levels`: `medium` and `hard`
  are `kho.synth.pages.degraded_page`'s levels (300 dpi), `fax` is a 75 dpi page, noisy,
  blurred, skewed and JPEG'd, where OCR gets about 60% of the words right and garbles marks.
  Each page is read back with `read_image(OcrOptions(lang="vie"))`, one at a time, and
  classified by both models trained on the clean fixed-split training articles.

The baseline is TF-IDF word 1-2-grams + character 2-5-grams of the raw text with a LinearSVC
at its default C: no tuning, no normalisation. kho tunes only inside its training data.
"""

from __future__ import annotations

import io
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.svm import LinearSVC

from kho.classify.model import Model, evaluate, train
from kho.classify.taxonomy import load_taxonomy
from kho.classify.textnorm import exact_view
from kho.core.settings import OcrOptions
from kho.ocr.read import read_image
from kho.synth.pages import degrade, degraded_page, render_page

VNTC_DIR = "/work/shared/vntc-dev"
TRAIN_PER_TOPIC, TEST_PER_TOPIC = 30, 20
FOLDS = 5
OCR_CHARS = 1500  # first characters of an article put on its page (one page holds more)
OCR_LEVELS = ("medium", "hard", "fax")
FAX_SCALE = 0.25  # of the 300 dpi render: 75 dpi
FAX = {"blur": 0.8, "noise": 16.0, "jpeg_quality": 35, "skew": 2.5, "salt_pepper": 0.002}


def degraded(text: str, level: str, seed: int) -> tuple[np.ndarray, str, int]:
    """A page of `text` degraded at `level`: (image, the text as drawn, its dpi)."""
    if level != "fax":
        image, info = degraded_page(text, level, seed)
        return image, info["text"], info["dpi"]
    page = render_page(text)
    small = cv2.resize(page.image, None, fx=FAX_SCALE, fy=FAX_SCALE, interpolation=cv2.INTER_AREA)
    return degrade(small, seed=seed, **FAX), page.text, round(page.dpi * FAX_SCALE)


def baseline() -> Pipeline:
    """The plain reference: TF-IDF word(1-2) + char(2-5) n-grams, LinearSVC(C=1)."""
    words = TfidfVectorizer(ngram_range=(1, 2))
    chars = TfidfVectorizer(analyzer="char", ngram_range=(2, 5))
    return make_pipeline(make_union(words, chars), LinearSVC())


def load_split(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list]:
    """(train, test, all) as (text, category) pairs: the fixed split described above."""
    rng = random.Random(0)
    fit, test, every = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.txt"))
        rng.shuffle(files)
        docs = [(f.read_text(encoding="utf-8"), folder.name) for f in files]
        fit += docs[:TRAIN_PER_TOPIC]
        test += docs[TRAIN_PER_TOPIC : TRAIN_PER_TOPIC + TEST_PER_TOPIC]
        every += docs
    return fit, test, every


def _size(obj) -> int:
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return len(buf.getvalue())


def _score(truth, predicted) -> dict:
    return {"macro_f1": f1_score(truth, predicted, average="macro"),
            "accuracy": accuracy_score(truth, predicted)}  # fmt: skip


def _both(taxonomy, fit, texts: list[str], truth: list[str]) -> tuple[dict, dict, Model, Pipeline]:
    """Train kho and the baseline on `fit`, score both on `texts`; with times and sizes."""
    x, y = [t for t, _ in fit], [c for _, c in fit]
    start = time.perf_counter()
    model = train(x, y, taxonomy, holdout=0)
    kho_train = time.perf_counter() - start
    start = time.perf_counter()
    report = evaluate(model, texts, truth)
    kho_predict = time.perf_counter() - start
    start = time.perf_counter()
    svm = baseline().fit(x, y)
    svm_train = time.perf_counter() - start
    start = time.perf_counter()
    svm_out = svm.predict(texts)
    svm_predict = time.perf_counter() - start
    kho = {"macro_f1": report.macro_f1, "accuracy": report.accuracy,
           "ece": report.calibration_error, "mean_confidence": report.mean_confidence,
           "train_s": kho_train, "predict_ms": 1000 * kho_predict / len(texts)}  # fmt: skip
    base = {**_score(truth, svm_out), "train_s": svm_train,
            "predict_ms": 1000 * svm_predict / len(texts)}  # fmt: skip
    return kho, base, model, svm


def _cross_validate(taxonomy, every) -> dict:
    texts = np.array([t for t, _ in every], dtype=object)
    labels = np.array([c for _, c in every])
    folds = {"kho": [], "svm": []}
    cv = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    for fit_idx, test_idx in cv.split(texts, labels):
        fit = list(zip(texts[fit_idx], labels[fit_idx], strict=True))
        kho, base, _, _ = _both(taxonomy, fit, list(texts[test_idx]), list(labels[test_idx]))
        folds["kho"].append(kho)
        folds["svm"].append(base)
    return folds


def words_kept(drawn: str, read: str) -> float:
    """Share of the drawn words (with their marks) that OCR gave back, in any order."""
    want, got = Counter(exact_view(drawn).split()), Counter(exact_view(read).split())
    return sum((want & got).values()) / max(1, sum(want.values()))


def _ocr(model: Model, svm: Pipeline, test, per_topic: int, level: str) -> dict:
    chosen, seen = [], {}
    for text, cat in test:
        if seen.get(cat, 0) < per_topic:
            seen[cat] = seen.get(cat, 0) + 1
            chosen.append((text[:OCR_CHARS], cat))
    opts = OcrOptions(lang="vie")
    start = time.perf_counter()
    read, kept = [], []
    for i, (text, _) in enumerate(chosen):
        image, drawn, dpi = degraded(text, level, seed=i)
        read.append(read_image(image, opts, timeout=300, dpi=dpi)[0].text)
        kept.append(words_kept(drawn, read[-1]))
    seconds = time.perf_counter() - start
    truth = [c for _, c in chosen]
    out = {"pages": len(chosen), "level": level, "ocr_s": seconds,
           "words_kept": float(np.mean(kept))}  # fmt: skip
    for name, texts in (("clean", [t for t, _ in chosen]), ("ocr", read)):
        report = evaluate(model, texts, truth)
        out[name] = {
            "kho": {
                "macro_f1": report.macro_f1,
                "accuracy": report.accuracy,
                "ece": report.calibration_error,
                "mean_confidence": report.mean_confidence,
            },
            "svm": _score(truth, svm.predict(texts)),
        }
    return out


def run_vntc(root: Path | str, ocr_per_topic: int, ocr_levels: Sequence[str]) -> dict:
    """Every measurement of the module docstring, as one JSON-able dict."""
    root = Path(root)
    taxonomy = load_taxonomy(root / "taxonomy.yaml")
    fit, test, every = load_split(root)
    kho, base, model, svm = _both(taxonomy, fit, [t for t, _ in test], [c for _, c in test])
    kho["model_bytes"], base["model_bytes"] = _size(model.pipeline), _size(svm)
    kho["calibration"] = model.info["calibration"]
    result = {
        "corpus": {"dir": str(root), "train": len(fit), "test": len(test), "all": len(every)},
        "fixed": {"kho": kho, "svm": base},
        "cv": _cross_validate(taxonomy, every),
    }
    if ocr_per_topic > 0:
        result["ocr"] = [_ocr(model, svm, test, ocr_per_topic, level) for level in ocr_levels]
    return result


HEAD = f"{'setting':<16} {'classifier':<10} {'macro-F1':>9} {'accuracy':>9} {'ECE':>6} {'conf':>6}"


def _row(setting: str, who: str, r: dict) -> str:
    """Scores of one classifier; ECE and mean confidence only where it states confidence."""
    honest = (f"{r['ece']:>6.3f} {r['mean_confidence']:>6.3f}" if "ece" in r
              else f"{'-':>6} {'-':>6}")  # fmt: skip
    return f"{setting:<16} {who:<10} {r['macro_f1']:>9.3f} {r['accuracy']:>9.3f} {honest}"


def _mean(folds: list[dict]) -> dict:
    return {k: float(np.mean([f[k] for f in folds])) for k in folds[0]}


def print_vntc(result: dict) -> None:
    c = result["corpus"]
    fixed = result["fixed"]
    print(f"{c['dir']}: fixed split {c['train']} train / {c['test']} test; "
          f"{FOLDS}-fold CV over {c['all']}")  # fmt: skip
    print(f"kho chose {fixed['kho']['calibration']}")
    print()
    print(HEAD + f" {'train s':>8} {'ms/doc':>7} {'model MB':>9}")
    for who in ("kho", "svm"):
        r = fixed[who]
        print(_row("fixed split", who, r) + f" {r['train_s']:>8.1f} {r['predict_ms']:>7.1f} "
              f"{r['model_bytes'] / 1e6:>9.1f}")  # fmt: skip
    for who in ("kho", "svm"):
        folds = result["cv"][who]
        f1 = " ".join(f"{f['macro_f1']:.3f}" for f in folds)
        print(_row(f"{FOLDS}-fold CV", who, _mean(folds)) + f"   (macro-F1 per fold {f1})")
    diffs = [k["macro_f1"] - s["macro_f1"] for k, s in zip(*result["cv"].values(), strict=True)]
    print(f"kho - svm macro-F1: fixed {fixed['kho']['macro_f1'] - fixed['svm']['macro_f1']:+.3f}, "
          f"CV mean {np.mean(diffs):+.3f} (kho ahead in {sum(d > 0 for d in diffs)} of "
          f"{len(diffs)} folds)")  # fmt: skip
    for o in result.get("ocr", []):
        print()
        print(f"OCR: {o['pages']} test articles (first {OCR_CHARS} characters), "
              f"{o['level']} degradation, read in {o['ocr_s']:.0f} s, "
              f"{o['words_kept']:.1%} of their words read right; models trained on clean "
              f"text")  # fmt: skip
        print(HEAD.replace("setting ", "text    "))
        for name in ("clean", f"ocr {o['level']}"):
            for who in ("kho", "svm"):
                print(_row(name, who, o[name.split()[0]][who]))
