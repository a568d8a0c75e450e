"""Header fields (Decree 30/2020 Annex VI) read from real and generated pages.

    python bench/header_fields.py [--realpages /work/shared/realpages] [--generated 6]
                                  [--threshold 0.5] [--ocr-cache DIR]

Truth: `bench/realpages_fields.json`, the fields of the 10 real pages read by hand (an empty
value: the page has no such field). Each page is read three ways in the same run:
  text       its hand transcription, through extract_metadata (plain text: always sure)
  ocr-plain  kho's OCR of the image (read_image, lang vie), its text only: the baseline,
             what kho stored before fields carried a confidence
  ocr        the same OCR as a PageText: word confidences and value shapes give each field
             a confidence; one below --threshold is flagged (stored empty, sent to review)
Per field: accuracy of the value read, and of the wrong ones how many were flagged unsure
and how many would be stored as sure; "ok-flagged" are right values sent to review anyway.
--generated N adds N generated two-column documents per category (synth.admin) as text and
rendered at the clean and medium damage levels (synth.pages) and OCR'd.
OCR is slow on a shared machine: --ocr-cache keeps each page's PageText JSON to reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

import cv2
from PIL import Image

from kho.classify.metadata import ANNEX_VI, extract_metadata
from kho.core.settings import OcrOptions
from kho.core.types import PageText
from kho.ocr.read import read_image

HERE = Path(__file__).resolve().parent
FIELDS = (
    "TypeName", "CodeNumber", "CodeNotation", "IssuedDate", "PromulgationInfo.Place",
    "OrganName", "OrganInCharge", "Subject", "SignerInfo.Position", "SignerInfo.FullName",
)  # fmt: skip
OURS = {tag: name for name, tag in ANNEX_VI.items()}


def norm(value) -> str:
    return " ".join(unicodedata.normalize("NFC", str(value or "")).split())


def score(rows: dict, truth: dict, meta, threshold: float, use_conf: bool) -> None:
    """Add one page's outcome per field to `rows`."""
    got = meta.to_json()["annex_vi"]
    for tag in FIELDS:
        if tag not in truth:
            continue
        conf = meta.confidence.get(OURS[tag], 1.0) if use_conf else 1.0
        flagged = conf < threshold or (use_conf and OURS[tag] in meta.reads)
        right = norm(got.get(tag)) == norm(truth[tag])
        r = rows[tag]
        r["n"] += 1
        r["ok"] += right
        r["wrong-flagged"] += (not right) and flagged
        r["wrong-sure"] += (not right) and not flagged
        r["ok-flagged"] += right and flagged


def table(title: str, rows: dict) -> None:
    print(f"\n{title}")
    print(f"{'field':24} {'n':>3} {'acc':>6} {'wrong-sure':>10} {'wrong-flag':>10} {'ok-flag':>8}")
    total = defaultdict(int)
    for tag in FIELDS:
        r = rows.get(tag)
        if not r or not r["n"]:
            continue
        for k, v in r.items():
            total[k] += v
        print(
            f"{tag:24} {r['n']:3d} {r['ok'] / r['n']:6.2f} {r['wrong-sure']:10d}"
            f" {r['wrong-flagged']:10d} {r['ok-flagged']:8d}"
        )
    if total["n"]:
        print(
            f"{'all':24} {total['n']:3d} {total['ok'] / total['n']:6.2f} "
            f"{total['wrong-sure']:10d} {total['wrong-flagged']:10d} {total['ok-flagged']:8d}"
        )


def new_rows() -> dict:
    return defaultdict(lambda: defaultdict(int))


def ocr_page(image, dpi: int, cache: Path | None, name: str) -> PageText:
    if cache is not None and (cache / f"{name}.json").exists():
        return PageText.from_json(json.loads((cache / f"{name}.json").read_text("utf-8")))
    page, _ = read_image(image, OcrOptions(lang="vie"), timeout=300, dpi=dpi)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        (cache / f"{name}.json").write_text(json.dumps(page.to_json(), ensure_ascii=False))
    return page


def real_pages(root: Path, threshold: float, cache: Path | None) -> None:
    truth = json.loads((HERE / "realpages_fields.json").read_text("utf-8"))
    truth.pop("_about", None)
    text_rows, plain_rows, ocr_rows = new_rows(), new_rows(), new_rows()
    for name, fields in sorted(truth.items()):
        text = (root / "truth" / f"{name}.txt").read_text("utf-8")
        score(text_rows, fields, extract_metadata(text), threshold, use_conf=False)
        path = root / "images" / f"{name}.png"
        dpi = round(Image.open(path).info.get("dpi", (300, 300))[0])
        page = ocr_page(cv2.imread(str(path), cv2.IMREAD_COLOR), dpi, cache, name)
        score(plain_rows, fields, extract_metadata(page.text), threshold, use_conf=False)
        meta = extract_metadata(page)
        score(ocr_rows, fields, meta, threshold, use_conf=True)
        wrong = [
            f"{t}={meta.to_json()['annex_vi'].get(t)!r} ({meta.confidence.get(OURS[t], 1):.2f})"
            for t in FIELDS
            if norm(meta.to_json()["annex_vi"].get(t)) != norm(fields[t])
        ]
        print(f"{name}: ocr misses {'; '.join(wrong) or 'none'}", file=sys.stderr)
    table("real pages, hand transcription (text path)", text_rows)
    table("real pages, kho OCR, text only (baseline: no confidences)", plain_rows)
    table(f"real pages, kho OCR as PageText (flagged below {threshold})", ocr_rows)


def generated(n: int, threshold: float) -> None:
    from kho.synth.admin import generate_corpus
    from kho.synth.pages import degraded_page

    docs = generate_corpus(n, seed=7)
    names = {"doc_type": "TypeName", "number": "CodeNumber", "symbol": "CodeNotation"}
    names |= {"date": "IssuedDate", "issuer": "OrganName", "subject": "Subject"}
    text_rows = new_rows()
    levels = {"clean": new_rows(), "medium": new_rows()}
    for i, doc in enumerate(docs):
        fields = {names[k]: v for k, v in doc.fields.items() if k in names}
        score(text_rows, fields, extract_metadata(doc.text), threshold, use_conf=False)
        for level, rows in levels.items():
            image, _ = degraded_page(doc.text, level, seed=i)
            page, _ = read_image(image, OcrOptions(lang="vie"), timeout=300, dpi=300)
            score(rows, fields, extract_metadata(page), threshold, use_conf=True)
    table(f"generated two-column headers ({len(docs)}), text", text_rows)
    for level, rows in levels.items():
        table(f"generated, rendered {level} and OCR'd (flagged below {threshold})", rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--realpages", type=Path, default=Path("/work/shared/realpages"))
    ap.add_argument("--generated", type=int, default=0, help="documents per category")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--ocr-cache", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if args.realpages.is_dir():
        real_pages(args.realpages, args.threshold, args.ocr_cache)
    else:
        print(f"no real pages at {args.realpages}: skipped", file=sys.stderr)
    if args.generated:
        generated(args.generated, args.threshold)


if __name__ == "__main__":
    main()
