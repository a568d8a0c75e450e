"""Real-page modes of bench/ocr_quality.py: scanned pages with hand-made truth.

`--real DIR`: every page of DIR (a `manifest.csv` of id,file,truth,dpi, as in
/work/shared/realpages) read by plain tesseract, OCRmyPDF and kho, scored by CER and BoW.
`--profiles`: kho with each model profile (and the old default languages) on the same pages,
with accuracy and seconds per page; `--synth N` adds N generated Vietnamese pages with an
English sentence at each of the clean and medium levels.

CER = Levenshtein(truth, output) / len(truth) on NFC text with whitespace runs collapsed
(order-sensitive); BoW = 1 - F1 of the multisets of whitespace-separated words (order-free).
"""

from __future__ import annotations

import csv
import os
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from rapidfuzz.distance import Levenshtein

from kho.core.settings import DEFAULT_LANG, DEFAULT_PROFILE, OCR_PROFILES, OcrOptions
from kho.ingest.formats import to_array
from kho.ocr.read import read_image
from kho.ocr.tesseract import library_api
from kho.synth.admin import generate_document
from kho.synth.pages import degraded_page
from kho.synth.text import CATEGORIES, english_paragraph

TIMEOUT = 300.0
OLD_DEFAULT = ("standard", "vie+eng")  # kho's languages before vie alone
NO_TONES = "notones"  # a configuration with OcrOptions.tone_marks off
SYNTH_LEVELS = ("clean", "medium")


@dataclass(frozen=True)
class RealPage:
    id: str
    image: Path
    truth: str
    dpi: int


def norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def cer(truth: str, got: str) -> float:
    t = norm(truth)
    return Levenshtein.distance(t, norm(got)) / max(1, len(t))


def bow(truth: str, got: str) -> float:
    t, g = Counter(norm(truth).split()), Counter(norm(got).split())
    common = sum((t & g).values())
    if not common:
        return 1.0
    p, r = common / sum(g.values()), common / sum(t.values())
    return 1 - 2 * p * r / (p + r)


def real_pages(folder: Path) -> list[RealPage]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        RealPage(r["id"], folder / r["file"], (folder / r["truth"]).read_text("utf-8"),
                 int(r["dpi"]))
        for r in rows
    ]  # fmt: skip


def load(page: RealPage) -> np.ndarray:
    """The page as kho's ingest gives it (gray or BGR)."""
    with Image.open(page.image) as img:
        return to_array(img)


# --- the engines -------------------------------------------------------------------------
def run_tesseract(page: RealPage, lang: str = "vie") -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    cmd = ["tesseract", str(page.image), "-", "-l", lang]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout


def run_ocrmypdf(page: RealPage, exe: str, args: list[str], output: list[str]) -> str:
    import img2pdf

    with tempfile.TemporaryDirectory(prefix="kho-bench-") as tmp:
        pdf = Path(tmp) / "in.pdf"
        pdf.write_bytes(img2pdf.convert(str(page.image)))  # at the dpi of the PNG's pHYs
        sidecar = Path(tmp) / "out.txt"
        cmd = [exe, *args, *output, "--sidecar", str(sidecar), str(pdf), str(Path(tmp) / "o.pdf")]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ocrmypdf failed ({done.returncode}): {done.stderr[-300:]}")
        return sidecar.read_text(encoding="utf-8")


def run_kho(image: np.ndarray, dpi: int, opts: OcrOptions) -> str:
    page, _ = read_image(image, opts, timeout=TIMEOUT, dpi=dpi)
    return page.text


def timed(func, *args) -> tuple[str, float]:
    t0 = time.perf_counter()
    text = func(*args)
    return text, time.perf_counter() - t0


# --- --real ------------------------------------------------------------------------------
def real_run(
    folder: Path, ocrmypdf: tuple[str, list[str], list[str]] | None, out: Path | None = None
) -> dict:
    """Each page by tesseract, OCRmyPDF (if runnable) and kho, scored; the texts written to
    `out`/ENGINE/ID.txt if given (what score.py reads)."""
    engines = ["tesseract", *(["ocrmypdf"] if ocrmypdf else []), "kho"]
    rows = []
    for page in real_pages(folder):
        image = load(page)
        texts, secs = {}, {}
        texts["tesseract"], secs["tesseract"] = timed(run_tesseract, page)
        if ocrmypdf:
            texts["ocrmypdf"], secs["ocrmypdf"] = timed(run_ocrmypdf, page, *ocrmypdf)
        texts["kho"], secs["kho"] = timed(run_kho, image, page.dpi, OcrOptions())
        for engine, text in texts.items() if out else ():
            (out / engine).mkdir(parents=True, exist_ok=True)
            (out / engine / f"{page.id}.txt").write_text(text, encoding="utf-8")
        rows.append({
            "id": page.id,
            "cer": {e: cer(page.truth, texts[e]) for e in engines},
            "bow": {e: bow(page.truth, texts[e]) for e in engines},
            "secs": secs,
        })  # fmt: skip
    return {"engines": engines, "pages": rows}


def print_real(result: dict) -> None:
    engines, rows = result["engines"], result["pages"]
    print("real pages: CER (order-sensitive) / BoW (order-free word error), lower is better\n")
    print(f"{'page':<16}" + "".join(f"{e + ' CER':>16}{'BoW':>8}" for e in engines))
    for r in rows:
        cells = "".join(f"{r['cer'][e]:>16.4f}{r['bow'][e]:>8.4f}" for e in engines)
        print(f"{r['id']:<16}{cells}")
    means = {
        m: {e: float(np.mean([r[m][e] for r in rows])) for e in engines} for m in ("cer", "bow")
    }
    print(
        f"{'mean':<16}"
        + "".join(f"{means['cer'][e]:>16.4f}{means['bow'][e]:>8.4f}" for e in engines)
    )
    secs = "  ".join(f"{e} {np.mean([r['secs'][e] for r in rows]):.2f}" for e in engines)
    print(f"\ns/page: {secs}")
    others = [e for e in engines if e != "kho"]
    wins = sum(all(r["bow"]["kho"] <= r["bow"][e] for e in others) for r in rows)
    print(f"pages where kho's word error (BoW) <= {' and '.join(others)}: {wins}/{len(rows)}")


# --- --profiles --------------------------------------------------------------------------
def configurations(langs: list[str]) -> list[str]:
    """Keys "PROFILE LANG [notones]": every profile with the default languages, the default
    without tone restoration, the old default, `langs`."""
    out = [f"{p} {DEFAULT_LANG}" for p in OCR_PROFILES]
    out += [f"{DEFAULT_PROFILE} {DEFAULT_LANG} {NO_TONES}", " ".join(OLD_DEFAULT)]
    out += [f"{DEFAULT_PROFILE} {lang}" for lang in langs]
    return list(dict.fromkeys(out))


def options(key: str) -> OcrOptions:
    profile, lang, *rest = key.split()
    return OcrOptions(profile=profile, lang=lang, engine="library", tone_marks=NO_TONES not in rest)


def synth_pages(n: int) -> list[tuple[str, np.ndarray, str, int]]:
    """Generated administrative pages with one English sentence: (id, image, truth, dpi)."""
    out = []
    for seed in range(n):
        doc = generate_document(CATEGORIES[seed % len(CATEGORIES)], seed)
        english = english_paragraph(seed).split(". ")[0].rstrip(".") + "."
        text = doc.text + "\n" + english
        for level in SYNTH_LEVELS:
            image, params = degraded_page(text, level, seed)
            if image.ndim == 3:
                image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            out.append((f"{level}-{seed}", image, params["text"], params["dpi"]))
    return out


def profiles_run(folder: Path, langs: list[str], synth: int) -> dict:
    """kho per configuration on the same pages, one process, engine=library; raw tesseract
    beside. Configurations take turns page by page so each meets the same machine load."""
    configs = configurations(langs)
    opts = {c: options(c) for c in configs}
    for o in opts.values():  # models loaded before timing, as in a warm worker
        library_api(o.lang, o.psm, o.oem, o.tessdata, o.tone_marks)
    pages = [(p.id, load(p), p.truth, p.dpi, p) for p in real_pages(folder)]
    pages += [(i, img, truth, dpi, None) for i, img, truth, dpi in synth_pages(synth)]
    rows = []
    for k, (pid, image, truth, dpi, real) in enumerate(pages):
        row: dict = {"id": pid, "real": real is not None, "cer": {}, "bow": {}, "secs": {}}
        order = configs[k % len(configs) :] + configs[: k % len(configs)]
        for c in order:
            text, row["secs"][c] = timed(run_kho, image, dpi, opts[c])
            row["cer"][c], row["bow"][c] = cer(truth, text), bow(truth, text)
        if real is not None:
            text, row["secs"]["tesseract"] = timed(run_tesseract, real)
            row["cer"]["tesseract"], row["bow"]["tesseract"] = cer(truth, text), bow(truth, text)
        rows.append(row)
    return {"configs": configs, "pages": rows}


def print_profiles(result: dict) -> None:
    configs = result["configs"]
    groups = {"real pages": [r for r in result["pages"] if r["real"]]}
    for level in SYNTH_LEVELS:
        mine = [r for r in result["pages"] if r["id"].startswith(level + "-")]
        if mine:
            groups[f"generated {level}"] = mine
    print("kho (read_image, engine library, one process, OMP_THREAD_LIMIT=1) per profile and "
          "languages: mean CER / BoW, s/page\n")  # fmt: skip
    for name, rows in groups.items():
        print(f"{name} ({len(rows)} pages)")
        keys = [*configs, *(["tesseract"] if rows[0]["real"] else [])]
        for key in keys:
            label = "plain tesseract -l vie" if key == "tesseract" else f"kho {key}"
            c, b, s = (float(np.mean([r[m][key] for r in rows])) for m in ("cer", "bow", "secs"))
            print(f"  {label:<28}CER {c:.4f}  BoW {b:.4f}  {s:5.2f} s/page")
        print()
