"""Classification benchmarks: generated administrative documents, or labelled public news.

    python bench/classify_bench.py [--per-class-ocr 4] [--json]
    python bench/classify_bench.py --vntc [DIR] [--ocr-per-topic 5] [--ocr-levels hard,fax]

The first mode trains the classifier on one generated corpus and scores it, with the keyword
rules as the baseline measured in the same run, on held-out text: clean, and after rendering,
scan degradation and OCR (first page) at the medium and hard levels. Then scores the metadata
extractor field by field on the same texts.

`--vntc` (bench/vntc.py) scores the classifier on real Vietnamese news (default
/work/shared/vntc-dev) against a plain TF-IDF + LinearSVC measured in the same run: a fixed
split, 5-fold cross-validation, and the test articles read back by OCR from degraded pages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from difflib import SequenceMatcher
from multiprocessing import Pool

from vntc import OCR_LEVELS as VNTC_OCR_LEVELS
from vntc import VNTC_DIR, print_vntc, run_vntc  # bench/vntc.py, beside this script

from kho.classify.metadata import extract_metadata
from kho.classify.model import evaluate, train
from kho.classify.rules import classify_text
from kho.classify.taxonomy import load_taxonomy
from kho.core.settings import OcrOptions
from kho.index.text import normalize
from kho.ocr.read import read_image
from kho.synth.admin import generate_corpus
from kho.synth.pages import degraded_page

FIELDS = ("doc_type", "number", "symbol", "place", "date", "issuer", "subject", "mark")
OCR_LEVELS = ("medium", "hard")
PUBLIC_CORPUS_NOTE = (
    "no labelled Vietnamese text-classification corpus is installable from PyPI here: "
    "sentivi, nlp-classifier and vietnamese-poem-classifier ship code only, and underthesea "
    "fetches its data sets (UTS2017_BANK, VNTC) from the network at run time"
)


def ocr_first_page(job: tuple[str, str, int]) -> str:
    """Render, degrade and OCR a document's first page (runs in a worker process)."""
    text, level, seed = job
    image, _ = degraded_page(text, level, seed)
    page, _ = read_image(image, OcrOptions(), timeout=300, dpi=300)
    return page.text


def same(field: str, want, got) -> bool:
    if field == "mark":
        return want == got
    return normalize(str(want)) == normalize(str(got))


def field_accuracy(texts: list[str], truths: list[dict]) -> dict[str, float]:
    """Share of documents whose extracted field equals the truth, per field and overall.

    "subject~" also counts a subject within 10% of its characters of the truth: OCR that
    misread one diacritic in a long line, which no extractor can restore.
    """
    hits = dict.fromkeys(FIELDS, 0)
    near = 0
    for text, truth in zip(texts, truths, strict=True):
        meta = extract_metadata(text).to_json()
        for f in FIELDS:
            hits[f] += same(f, truth[f], meta[f])
        ratio = SequenceMatcher(None, normalize(truth["subject"]), normalize(meta["subject"]))
        near += ratio.ratio() >= 0.9
    out = {f: hits[f] / len(texts) for f in FIELDS}
    out["all fields"] = sum(hits.values()) / (len(texts) * len(FIELDS))
    out["subject~"] = near / len(texts)
    return out


def run(per_class_train: int, per_class_test: int, per_class_ocr: int) -> dict:
    taxonomy = load_taxonomy()
    train_docs = generate_corpus(per_class_train, seed=1)
    test_docs = generate_corpus(per_class_test, seed=2)
    ocr_docs = generate_corpus(per_class_ocr, seed=3)

    start = time.perf_counter()
    model = train([d.text for d in train_docs], [d.category for d in train_docs], taxonomy)
    train_s = time.perf_counter() - start

    start = time.perf_counter()
    jobs = [(d.text, level, i) for level in OCR_LEVELS for i, d in enumerate(ocr_docs)]
    with Pool(min(2, os.cpu_count() or 1)) as pool:
        ocr_texts = pool.map(ocr_first_page, jobs, chunksize=1)
    ocr_s = time.perf_counter() - start

    sets = {"clean": ([d.text for d in test_docs], test_docs)}
    for k, level in enumerate(OCR_LEVELS):
        chunk = ocr_texts[k * len(ocr_docs) : (k + 1) * len(ocr_docs)]
        sets[f"ocr {level}"] = (chunk, ocr_docs)

    def rules(text: str):
        return classify_text(text, taxonomy)

    classification = []
    for name, (texts, docs) in sets.items():
        labels = [d.category for d in docs]
        for who, predictor in (("model", model), ("rules", rules)):
            report = evaluate(predictor, texts, labels)
            classification.append(
                {"setting": name, "classifier": who, "n": report.n,
                 "accuracy": report.accuracy, "macro_f1": report.macro_f1,
                 "mean_confidence": report.mean_confidence, "ece": report.calibration_error}
            )  # fmt: skip
    metadata = {
        name: field_accuracy(texts, [d.fields for d in docs])
        for name, (texts, docs) in sets.items()
    }
    return {
        "train": {"n": len(train_docs), "seconds": round(train_s, 1)},
        "ocr": {
            "pages": len(jobs),
            "seconds": round(ocr_s, 1),
            # pages OCR read (almost) nothing from: no classifier or extractor can help there
            "empty_pages": sum(len(t.strip()) < 100 for t in ocr_texts),
        },
        "classification": classification,
        "metadata": metadata,
        "public_corpus": {"skipped": PUBLIC_CORPUS_NOTE},
    }


def print_tables(result: dict) -> None:
    train_info, ocr = result["train"], result["ocr"]
    print(f"trained on {train_info['n']} generated documents in {train_info['seconds']} s; "
          f"OCR of {ocr['pages']} first pages in {ocr['seconds']} s "
          f"({ocr['empty_pages']} came back (nearly) empty)")  # fmt: skip
    print()
    print(f"{'setting':<12} {'classifier':<10} {'n':>4} {'accuracy':>9} {'macro-F1':>9} "
          f"{'mean conf':>9} {'ECE':>6}")  # fmt: skip
    for row in result["classification"]:
        print(f"{row['setting']:<12} {row['classifier']:<10} {row['n']:>4} "
              f"{row['accuracy']:>9.3f} {row['macro_f1']:>9.3f} "
              f"{row['mean_confidence']:>9.3f} {row['ece']:>6.3f}")  # fmt: skip
    print()
    names = list(result["metadata"])
    print("metadata field accuracy")
    print(f"{'field':<12} " + " ".join(f"{n:>11}" for n in names))
    for f in (*FIELDS, "all fields", "subject~"):
        print(f"{f:<12} " + " ".join(f"{result['metadata'][n][f]:>11.3f}" for n in names))
    print()
    print("public Vietnamese corpus")
    print(f"  skipped: {result['public_corpus']['skipped']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class-train", type=int, default=80)
    parser.add_argument("--per-class-test", type=int, default=40)
    parser.add_argument("--per-class-ocr", type=int, default=4,
                        help="OCR'd documents per class and level (first page only)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--vntc", nargs="?", const=VNTC_DIR, metavar="DIR",
                        help=f"labelled news folders instead (default {VNTC_DIR})")  # fmt: skip
    parser.add_argument("--ocr-per-topic", type=int, default=5,
                        help="--vntc: test articles a topic to OCR (0: none)")  # fmt: skip
    parser.add_argument("--ocr-levels", default="hard,fax",
                        help=f"--vntc: some of {','.join(VNTC_OCR_LEVELS)}")  # fmt: skip
    args = parser.parse_args(argv)
    if args.vntc:
        levels = [v for v in args.ocr_levels.split(",") if v]
        unknown = sorted(set(levels) - set(VNTC_OCR_LEVELS))
        if unknown:
            parser.error(f"unknown --ocr-levels {', '.join(unknown)}: use {VNTC_OCR_LEVELS}")
        result = run_vntc(args.vntc, args.ocr_per_topic, levels)
        if args.json:
            json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
            print()
        else:
            print_vntc(result)
        return 0
    result = run(args.per_class_train, args.per_class_test, args.per_class_ocr)
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print_tables(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
