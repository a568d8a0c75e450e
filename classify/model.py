"""The trainable category classifier: TF-IDF on three views of the text and a linear SVM.

Words and word pairs (Vietnamese words are mostly two syllables, so a syllable pair is the
word) are read on the exact view (NFC, lowercase, diacritics kept: "bàn" and "bán" differ);
character 2-5-grams within words are read on the exact view too, and again on the folded
view (no diacritics), so a page whose OCR lost or garbled its marks still shares most
features with clean text. A linear SVM, its C chosen and its scores calibrated (one
temperature) by cross-validation inside the training data (`kho.classify.linear`), gives
honest probabilities over the categories seen in training; the reasons are the terms that
pushed the winner up most (coef x tf-idf). Models are versioned files under `<home>/models/`:
`classifier-v<N>.joblib` and a JSON sidecar (version, created, taxonomy ids, examples per
class, the chosen C and temperature, held-out metrics). Without a trained model the keyword
rules decide (`classify_document`).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from kho.core.errors import ConfigError, NotFoundError, UsageError
from kho.core.permissions import FilePolicy
from kho.core.storage import atomic_write_bytes
from kho.core.types import Classification

from .linear import CalibratedSVC
from .rules import classify_text
from .taxonomy import Taxonomy
from .textnorm import exact_view, folded_view

MODEL_RE = re.compile(r"^classifier-v(\d+)\.joblib$")
MAX_ALTERNATIVES = 3
MAX_REASONS = 8
CHAR_WEIGHT = 1.0  # weight of each character view against the word view
MAX_CHAR_FEATURES = 300_000  # per character view: bounds the model file
MIN_PER_CLASS = 5  # examples of every category needed to hold some out for metrics


_PHRASE_BREAK = re.compile(r"[^\w\s]|\d")  # punctuation and numbers end a phrase
_WORD = re.compile(r"[^\W\d_]+")


def word_terms(text: str) -> list[str]:
    """Words and word pairs of the exact view; a pair never spans punctuation or a number."""
    terms: list[str] = []
    for phrase in _PHRASE_BREAK.split(exact_view(text)):
        words = _WORD.findall(phrase)
        terms += words
        terms += [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return terms


def _chars(view: Callable[[str], str]) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        preprocessor=view,
        ngram_range=(2, 5),
        min_df=2,
        sublinear_tf=True,
        max_features=MAX_CHAR_FEATURES,
    )


def _pipeline(seed: int) -> Pipeline:
    # Saved models refer to `word_terms`, `exact_view` and `folded_view` by import path:
    # renaming them makes older model files unloadable (load_model then asks for a retrain).
    union = FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer=word_terms, min_df=2, sublinear_tf=True)),
            ("char", _chars(exact_view)),
            ("fold", _chars(folded_view)),
        ],
        transformer_weights={"word": 1.0, "char": CHAR_WEIGHT, "fold": CHAR_WEIGHT},
    )
    return Pipeline([("features", union), ("clf", CalibratedSVC(seed=seed))])


@dataclass
class Model:
    """A trained classifier and what it was trained on."""

    pipeline: Pipeline
    fallback: str  # the taxonomy's fallback, for texts with nothing to read
    info: dict = field(default_factory=dict)  # the sidecar: version, created, ids, counts...
    _names: np.ndarray | None = field(default=None, repr=False)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.pipeline.classes_)

    def predict(self, text: str) -> Classification:
        """The most probable category, runners-up, and the terms that decided it."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[Classification]:
        """`predict` for many texts at once (one feature matrix: much faster)."""
        if not texts:
            return []
        features = self.pipeline.named_steps["features"].transform(list(texts))
        clf = self.pipeline.named_steps["clf"]
        probs = clf.predict_proba(features)
        out = []
        for row, p, text in zip(features, probs, texts, strict=True):
            if row.nnz == 0 or not text.strip():  # nothing the model knows: no evidence
                out.append(Classification(category=self.fallback, confidence=0.0))
                continue
            order = np.argsort(-p, kind="stable")
            win = int(order[0])
            out.append(
                Classification(
                    category=self.classes[win],
                    confidence=round(float(p[win]), 4),
                    alternatives=tuple(
                        (self.classes[i], round(float(p[i]), 4))
                        for i in order[1 : 1 + MAX_ALTERNATIVES]
                    ),
                    reasons=self._reasons(row, win),
                )
            )
        return out

    def probabilities(self, text: str) -> dict[str, float]:
        """Every class's probability for `text` (they sum to 1)."""
        p = self.pipeline.predict_proba([text])[0]
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}

    def _reasons(self, row, win: int) -> tuple[str, ...]:
        """Word terms (then character grams) whose weight x tf-idf favours the winner most."""
        if self._names is None:
            self._names = self.pipeline.named_steps["features"].get_feature_names_out()
        coef = self.pipeline.named_steps["clf"].coef_
        # against the mean class, so a term common to every class explains nothing
        lift = coef[win, row.indices] - coef[:, row.indices].mean(axis=0)
        contrib = lift * row.data
        words: dict[str, float] = {}
        grams: dict[str, float] = {}  # a gram of both character views counts once
        for i in np.flatnonzero(contrib > 0):
            view, _, term = str(self._names[row.indices[i]]).partition("__")
            if view == "word":
                words[term] = float(contrib[i])
            elif gram := term.strip():
                grams[gram] = max(grams.get(gram, 0.0), float(contrib[i]))
        # Vietnamese words are mostly two syllables: a bigram scores with its syllables, so
        # "kiểm tra" reads before "kiểm" and "tra"; an overlapping weaker term adds nothing.
        scored = sorted(
            ((v + sum(words.get(s, 0.0) for s in t.split()) if " " in t else v, t)
             for t, v in words.items()),
            key=lambda item: (-item[0], item[1]),
        )  # fmt: skip
        chosen: list[str] = []
        for _, term in scored:
            if not any(set(term.split()) & set(c.split()) for c in chosen):
                chosen.append(term)
            if len(chosen) == MAX_REASONS:
                break
        ranked = sorted(grams.items(), key=lambda item: (-item[1], item[0]))
        return tuple((chosen + [f"~{g}" for g, _ in ranked])[:MAX_REASONS])

    def save(self, models_dir: Path | str, policy: FilePolicy) -> Path:
        """Write the next version `classifier-v<N>.joblib` and its JSON sidecar (with the
        storage's file policy); return the path."""
        models_dir = Path(models_dir)
        policy.make_dirs(models_dir)
        latest = latest_model(models_dir)
        version = int(MODEL_RE.match(latest.name)[1]) + 1 if latest else 1
        path = models_dir / f"classifier-v{version}.joblib"
        self.info = {**self.info, "version": version, "file": path.name}
        buf = io.BytesIO()
        joblib.dump({"pipeline": self.pipeline, "fallback": self.fallback, "info": self.info}, buf)
        # the sidecar first: a model file never exists without its description; both written
        # like every stored file (atomic, with the policy's mode)
        sidecar = json.dumps(self.info, ensure_ascii=False, indent=2).encode("utf-8")
        atomic_write_bytes(path.with_suffix(".json"), sidecar, policy)
        atomic_write_bytes(path, buf.getvalue(), policy)
        return path


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    taxonomy: Taxonomy,
    *,
    seed: int = 0,
    holdout: float = 0.2,
) -> Model:
    """Fit a model on labelled texts. Raises ConfigError for labels not in the taxonomy.

    With `holdout` > 0 and at least MIN_PER_CLASS examples of every category, a stratified
    share is held out first and scored, so the sidecar's metrics are honest; the model kept
    is then refitted on everything.
    """
    if len(texts) != len(labels):
        raise UsageError(f"{len(texts)} texts but {len(labels)} labels: give one label each")
    unknown = sorted(set(labels) - set(taxonomy.ids))
    if unknown:
        raise ConfigError(
            f"labels not in the taxonomy ({taxonomy.source}): {', '.join(unknown)}; "
            f"use one of {', '.join(taxonomy.ids)} or add them to the taxonomy"
        )
    counts = Counter(labels)
    if len(counts) < 2:
        raise UsageError("training needs examples of at least two categories")
    metrics: dict = {"skipped": f"fewer than {MIN_PER_CLASS} examples of some category"}
    if holdout > 0 and min(counts.values()) >= MIN_PER_CLASS:
        fit_x, test_x, fit_y, test_y = train_test_split(
            list(texts), list(labels), test_size=holdout, stratify=list(labels), random_state=seed
        )
        trial = Model(_fit(fit_x, fit_y, seed), taxonomy.fallback)
        metrics = {"holdout": holdout, **evaluate(trial, test_x, test_y).to_json()}
    info = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "taxonomy": taxonomy.source,
        "taxonomy_ids": list(taxonomy.ids),
        "classes": sorted(counts),
        "n_per_class": dict(sorted(counts.items())),
        "n": len(labels),
        "sklearn": sklearn.__version__,
        "metrics": metrics,
    }
    pipeline = _fit(list(texts), list(labels), seed)
    info["calibration"] = _calibration(pipeline.named_steps["clf"])
    return Model(pipeline, taxonomy.fallback, info)


def _calibration(clf: CalibratedSVC) -> dict:
    """What cross-validation inside the training data chose, for the sidecar."""
    if not clf.folds_:
        return {"C": clf.C_, "skipped": "a category has a single example: probabilities raw"}
    return {"C": clf.C_, "temperature": round(clf.temperature_, 4), "folds": clf.folds_,
            "cv_macro_f1": round(float(clf.cv_macro_f1_), 4)}  # fmt: skip


def _fit(texts: list[str], labels: list[str], seed: int) -> Pipeline:
    pipeline = _pipeline(seed)
    try:
        pipeline.fit(texts, labels)
    except ValueError as err:  # e.g. an empty vocabulary: texts without letters
        raise UsageError(f"cannot train on these texts: {err}") from err
    return pipeline


def latest_model(models_dir: Path | str) -> Path | None:
    """The highest-numbered `classifier-v<N>.joblib` in the folder, or None."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return None
    found = [(int(m[1]), p) for p in models_dir.iterdir() if (m := MODEL_RE.match(p.name))]
    return max(found)[1] if found else None


def load_model(path: Path | str) -> Model:
    """Load a model file, or the latest one in a models folder.

    Model files are pickles: load only files this installation wrote under its home.
    """
    path = Path(path)
    if path.is_dir():
        found = latest_model(path)
        if found is None:
            raise NotFoundError(f"no trained model in {path}: train one first (kho train)")
        path = found
    if not path.is_file():
        raise NotFoundError(f"no model file {path}")
    try:
        data = joblib.load(path)
        model = Model(pipeline=data["pipeline"], fallback=data["fallback"], info=data["info"])
    except Exception as err:  # unpickling reports anything: a truncated file, another sklearn
        raise ConfigError(f"cannot load model {path}: {err}; train a new one (kho train)") from err
    return model


def classify_document(text: str, taxonomy: Taxonomy, model: Model | None = None) -> Classification:
    """The trained model's answer when there is one, else the taxonomy's keyword rules.

    A model trained on another taxonomy may name a category this one lacks: the rules decide
    then, as they do for a text the model has no features for.
    """
    if model is None:
        return classify_text(text, taxonomy)
    result = model.predict(text)
    if result.category not in taxonomy.ids or (result.confidence == 0.0 and not result.reasons):
        return classify_text(text, taxonomy)
    ids = set(taxonomy.ids)
    alternatives = tuple(a for a in result.alternatives if a[0] in ids)
    return Classification(result.category, result.confidence, alternatives, result.reasons)


Predictor = Model | Callable[[str], Classification]


def predict_all(predictor: Predictor, texts: Sequence[str]) -> list[Classification]:
    """Classify each text with a model or any text -> Classification function."""
    if isinstance(predictor, Model):
        return predictor.predict_many(texts)
    return [predictor(t) for t in texts]


def calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Expected calibration error: how far stated confidence is from accuracy, bin-weighted."""
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(conf[members].mean() - hit[members].mean())
    return float(total / len(conf))


@dataclass(frozen=True)
class ClassReport:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    """How a predictor did on labelled texts: overall, per class, and what it confused."""

    n: int
    accuracy: float
    macro_f1: float
    mean_confidence: float
    calibration_error: float  # expected calibration error (10 bins): 0 is perfectly honest
    per_class: dict[str, ClassReport]
    labels: tuple[str, ...]  # row and column order of the confusion matrix
    confusion: tuple[tuple[int, ...], ...]  # confusion[true][predicted]

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "mean_confidence": round(self.mean_confidence, 4),
            "calibration_error": round(self.calibration_error, 4),
            "per_class": {
                k: {
                    "precision": round(v.precision, 4),
                    "recall": round(v.recall, 4),
                    "f1": round(v.f1, 4),
                    "support": v.support,
                }
                for k, v in self.per_class.items()
            },  # fmt: skip
            "labels": list(self.labels),
            "confusion": [list(row) for row in self.confusion],
        }


def evaluate(predictor: Predictor, texts: Sequence[str], labels: Sequence[str]) -> Report:
    """Score a model (or the rules, as a function) on texts with known categories."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    if not texts or len(texts) != len(labels):
        raise UsageError("evaluation needs as many labels as texts, and at least one")
    results = predict_all(predictor, texts)
    predicted = [r.category for r in results]
    correct = [a == b for a, b in zip(labels, predicted, strict=True)]
    confidences = [r.confidence for r in results]
    names = tuple(sorted(set(labels) | set(predicted)))
    p, r, f, s = precision_recall_fscore_support(
        labels, predicted, labels=list(names), zero_division=0
    )
    matrix = confusion_matrix(labels, predicted, labels=list(names))
    return Report(
        n=len(labels),
        accuracy=float(np.mean(correct)),
        macro_f1=float(np.mean(f)),
        mean_confidence=float(np.mean(confidences)),
        calibration_error=calibration_error(confidences, correct),
        per_class={
            name: ClassReport(float(p[i]), float(r[i]), float(f[i]), int(s[i]))
            for i, name in enumerate(names)
        },
        labels=names,
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
    )


def format_report(report: Report) -> str:
    """A plain-text table: per-class precision/recall/F1/support, totals, confusion matrix."""
    width = max(len(k) for k in report.labels)
    lines = [f"{'category':<{width}}  precision  recall     f1  support"]
    for name, c in report.per_class.items():
        lines.append(
            f"{name:<{width}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}  {c.support:7d}"
        )
    lines.append(f"{'accuracy':<{width}}  {report.accuracy:9.3f}  (n={report.n})")
    lines.append(f"{'macro F1':<{width}}  {report.macro_f1:9.3f}")
    lines.append(f"{'confidence':<{width}}  {report.mean_confidence:9.3f}  (mean)")
    lines.append(
        f"{'ECE':<{width}}  {report.calibration_error:9.3f}  (expected calibration error, 10 bins)"
    )
    lines.append("")
    lines.append("confusion (rows: true, columns: predicted, in the order above)")
    for name, row in zip(report.labels, report.confusion, strict=True):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:3d}" for v in row))
    return "\n".join(lines)


IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".pdf"}


def load_training_dir(
    root: Path | str,
    taxonomy: Taxonomy | None = None,
    ocr_file: Callable[[Path], str] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Texts and labels from ROOT/<category>/*.txt (and scans, read by `ocr_file`).

    Returns (texts, labels, skipped) where `skipped` says why each unused file was left out.
    A sub-folder that is not a category of `taxonomy` raises ConfigError.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotFoundError(f"no training folder {root}")
    texts: list[str] = []
    labels: list[str] = []
    skipped: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if taxonomy is not None and folder.name not in taxonomy.ids:
            raise ConfigError(
                f"training folder {folder} is not a category of {taxonomy.source}: "
                f"rename it to one of {', '.join(taxonomy.ids)}"
            )
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            suffix = path.suffix.lower()
            if suffix == ".txt":
                try:
                    text = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    skipped.append(f"{path}: not UTF-8 text (convert it with iconv)")
                    continue
            elif suffix in IMAGE_SUFFIXES and ocr_file is not None:
                text = ocr_file(path)
            elif suffix in IMAGE_SUFFIXES:
                skipped.append(f"{path}: a scan, and no OCR was given to read it")
                continue
            else:
                skipped.append(f"{path}: not a .txt file or a scan")
                continue
            if not text.strip():
                skipped.append(f"{path}: no text")
                continue
            texts.append(text)
            labels.append(folder.name)
    skipped += [f"{p}: outside a category folder" for p in sorted(root.iterdir()) if p.is_file()]
    return texts, labels, skipped
