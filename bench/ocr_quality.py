"""OCR quality benchmark: kho's cleanup + OCR against raw tesseract and OCRmyPDF.

    python bench/ocr_quality.py [--pages 20] [--ablation] [--json] [--engines raw,kho,ocrmypdf]
    python bench/ocr_quality.py --real [DIR] [--out OUT]    real scans with truth (ocr_real.py)
    python bench/ocr_quality.py --profiles [DIR] [--synth N] [--langs eng+vie]

The modes (one of --synthetic, the default, --real, --profiles) are described below and in
bench/ocr_real.py.

A deterministic corpus from the page generator (Vietnamese official text, A4 at 300 dpi, one
short document per page, ~7-20 lines) at the clean, medium and hard damage levels, plus a
low-dpi group (medium pages scanned at 150 dpi). Every page is read, in the same run, by
  raw       pytesseract.image_to_string(img, lang=DEFAULT_LANG), psm 3, on the image as it is
  kho       kho.ocr.read.read_image with default OcrOptions (cleanup + tesseract)
  ocrmypdf  ocrmypdf --deskew --clean --rotate-pages --force-ocr -l DEFAULT_LANG on a lossless
            PDF of the image at its dpi; its text is the --sidecar file (what it recognised)
and scored on whole-page text, NFC with whitespace collapsed: CER and WER are edit
distances over the whole level divided by the truth's length. Also measured: orientation
on every rotated page (hard pages, plus clean and medium pages turned 90/180/270 and run
through cleanup only), and kho's errors split into diacritic-only and base-letter errors.

Timing: pages run on 2 worker processes, one tesseract each (OMP_THREAD_LIMIT=1). In a
worker the three engines read the same page one after the other, in an order that rotates
with the page, so every engine meets the same load from the other worker; each engine's
seconds are wall time around its call only (writing its input file included, generating
the page not). OCRmyPDF's seconds include starting its process (~1 s of Python imports).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import fields, replace
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

os.environ["OMP_THREAD_LIMIT"] = "1"  # before tesseract is ever started, here and in workers

import pytesseract  # noqa: E402
from PIL import Image  # noqa: E402

from kho.core.settings import DEFAULT_LANG, OcrOptions  # noqa: E402
from kho.ocr.cleanup import Steps, clean_page  # noqa: E402
from kho.ocr.read import read_image  # noqa: E402
from kho.synth.pages import degraded_page  # noqa: E402
from kho.synth.text import CATEGORIES, document_text  # noqa: E402

try:
    from rapidfuzz.distance import Levenshtein
except ImportError:  # pragma: no cover - the bench says what to install
    sys.exit("the OCR benchmark needs rapidfuzz: pip install rapidfuzz")

LEVELS = ("clean", "medium", "hard", "low-dpi")
ENGINES = ("raw", "kho", "ocrmypdf")
LOW_DPI = 150
TIMEOUT = 300.0
OCRMYPDF_ARGS = ["--deskew", "--clean", "--rotate-pages", "--force-ocr", "-l", DEFAULT_LANG]
REAL_OCRMYPDF_ARGS = ["--deskew", "--clean", "--rotate-pages"]  # + -l vie, as the real pages
REALPAGES = "/work/shared/realpages"  # default --real DIR
# what only changes how OCRmyPDF writes its output, not what it reads: no PDF/A conversion
# through Ghostscript, one page so one job, text also as a plain file
OCRMYPDF_OUTPUT = ["--output-type", "pdf", "--jobs", "1", "--quiet"]


# --- corpus ----------------------------------------------------------------------------------
def make_page(level: str, seed: int) -> tuple[np.ndarray, dict]:
    """The page image (gray, or RGB with a seal) and its parameters, truth in 'text'."""
    text = document_text(CATEGORIES[seed % len(CATEGORIES)], seed)
    if level != "low-dpi":
        return degraded_page(text, level, seed)
    image, params = degraded_page(text, "medium", seed)
    factor = LOW_DPI / params["dpi"]
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return small, {**params, "dpi": LOW_DPI}


def to_bgr(image: np.ndarray) -> np.ndarray:
    """kho takes OpenCV's channel order; the generator gives RGB."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# --- engines ---------------------------------------------------------------------------------
def run_raw(image: np.ndarray, dpi: int) -> str:
    return pytesseract.image_to_string(image, lang=DEFAULT_LANG)


def run_kho(image: np.ndarray, dpi: int, steps: Steps | None = None) -> tuple[str, int, float]:
    page, _ = read_image(to_bgr(image), OcrOptions(), timeout=TIMEOUT, dpi=dpi, steps=steps)
    return page.text, page.rotation, page.confidence


def ocrmypdf_available() -> str:
    """'' if OCRmyPDF and unpaper run here, else why not."""
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
    if not Path(exe).exists():
        return "OCRmyPDF is not installed (pip install ocrmypdf)"
    if not shutil.which("unpaper"):
        return "unpaper is not installed (apt-get install unpaper), needed by --clean"
    try:
        subprocess.run([exe, "--version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return f"OCRmyPDF does not run: {err}"
    return ""


def pdf_of(image: np.ndarray, dpi: int, folder: Path) -> Path:
    """A one-page PDF holding the image losslessly at its physical size."""
    import img2pdf

    png = folder / "page.png"
    Image.fromarray(image).save(png, dpi=(dpi, dpi), compress_level=1)
    pdf = folder / "in.pdf"
    pdf.write_bytes(img2pdf.convert(str(png)))
    return pdf


def run_ocrmypdf(pdf: Path) -> str:
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
    sidecar = pdf.with_suffix(".txt")
    cmd = [exe, *OCRMYPDF_ARGS, *OCRMYPDF_OUTPUT, "--sidecar", str(sidecar)]
    done = subprocess.run(
        [*cmd, str(pdf), str(pdf.with_name("out.pdf"))], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"ocrmypdf failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return sidecar.read_text(encoding="utf-8")


# --- one page in a worker --------------------------------------------------------------------
def read_page(job: tuple[str, int, tuple[str, ...]]) -> dict:
    """Read one page with each engine; return the texts, seconds and orientation."""
    level, seed, engines = job
    image, params = make_page(level, seed)
    dpi = params["dpi"]
    out: dict = {"level": level, "seed": seed, "truth": params["text"], "texts": {}, "secs": {}}
    out["correction"] = params["correction"]
    order = list(engines)
    k = seed % len(order)
    for engine in order[k:] + order[:k]:
        with tempfile.TemporaryDirectory(prefix="kho-bench-") as tmp:
            pdf = pdf_of(image, dpi, Path(tmp)) if engine == "ocrmypdf" else None
            t0 = time.perf_counter()
            if engine == "raw":
                text = run_raw(image, dpi)
            elif engine == "kho":
                text, out["rotation"], out["confidence"] = run_kho(image, dpi)
            else:
                text = run_ocrmypdf(pdf)
            out["secs"][engine] = time.perf_counter() - t0
        out["texts"][engine] = text
    return out


def read_variant(job: tuple[str, int, str, Steps]) -> dict:
    """Ablation: kho alone, with one set of cleanup steps."""
    level, seed, name, steps = job
    image, params = make_page(level, seed)
    t0 = time.perf_counter()
    text, _, _ = run_kho(image, params["dpi"], steps)
    secs = time.perf_counter() - t0
    return {"level": level, "seed": seed, "variant": name, "truth": params["text"], "text": text,
            "secs": secs}  # fmt: skip


def turned_orientation(job: tuple[str, int]) -> dict:
    """Turn an upright page 90/180/270 and check that cleanup turns it back."""
    level, seed = job
    image, params = make_page(level, seed)
    turn = (90, 180, 270)[seed % 3]
    turned = np.ascontiguousarray(np.rot90(image, k=-(turn // 90)))
    want = (params["correction"] - turn) % 360  # the clockwise turn back
    got = clean_page(to_bgr(turned), OcrOptions(), timeout=TIMEOUT, dpi=params["dpi"]).rotation
    return {"level": level, "seed": seed, "want": want, "got": got}


# --- scoring ---------------------------------------------------------------------------------
def score(pairs: list[tuple[str, str]]) -> dict:
    """CER and WER over all (truth, output) pairs: summed edits over summed truth length."""
    chars = words = char_edits = word_edits = 0
    for truth, got in pairs:
        t, g = normalize(truth), normalize(got)
        chars += len(t)
        words += len(t.split())
        char_edits += Levenshtein.distance(t, g)
        word_edits += Levenshtein.distance(t.split(), g.split())
    return {"cer": char_edits / max(chars, 1), "wer": word_edits / max(words, 1), "chars": chars}


def is_d_pair(a: str, b: str) -> bool:
    return {a.lower(), b.lower()} == {"d", "đ"}


def diacritic_breakdown(pairs: list[tuple[str, str]]) -> dict:
    """Split edits on decomposed text (NFD) into diacritic-only, base-letter and other.

    In NFD every tone and vowel mark is its own combining character, so an edit touching one
    is a diacritic error; d/đ, which does not decompose, counts as one too.
    """
    kinds: Counter[str] = Counter()
    confusions: Counter[tuple[str, str]] = Counter()
    chars = 0
    for truth, got in pairs:
        t, g = (unicodedata.normalize("NFD", normalize(s)) for s in (truth, got))
        chars += len(normalize(truth))
        for op, i, j in Levenshtein.editops(t, g):
            a = t[i] if op != "insert" else ""
            b = g[j] if op != "delete" else ""
            if any(unicodedata.combining(c) for c in a + b) or is_d_pair(a, b):
                kinds["diacritic"] += 1
            elif (a + b).isalpha():
                kinds["base letter"] += 1
            else:
                kinds["space/punct/digit"] += 1
        nt, ng = normalize(truth), normalize(got)
        for op, i, j in Levenshtein.editops(nt, ng):
            a = nt[i] if op != "insert" else "∅"
            b = ng[j] if op != "delete" else "∅"
            confusions[(a, b)] += 1
    return {"chars": chars, "kinds": dict(kinds), "top": confusions.most_common(12)}


# --- running and printing --------------------------------------------------------------------
def ablation_variants() -> dict[str, Steps]:
    """The default steps, then each step switched off, and each gated step forced on."""
    base = Steps()
    out = {"default": base}
    for f in fields(Steps):
        mode = getattr(base, f.name)
        if mode != "off":
            out[f"{f.name} off"] = replace(base, **{f.name: "off"})
        if mode != "on" and f.name not in ("borders", "deskew", "orientation", "crop"):
            out[f"{f.name} on"] = replace(base, **{f.name: "on"})
    return out


def run(args: argparse.Namespace) -> dict:
    engines = [e for e in args.engines.split(",") if e]
    note = ""
    if "ocrmypdf" in engines and (note := ocrmypdf_available()):
        engines.remove("ocrmypdf")
    jobs = [(level, seed, tuple(engines)) for level in args.levels for seed in range(args.pages)]
    with Pool(args.workers) as pool:
        t0 = time.perf_counter()
        pages = pool.map(read_page, jobs, chunksize=1)
        turned = pool.map(
            turned_orientation,
            [(lv, s) for lv in ("clean", "medium") if lv in args.levels for s in range(args.pages)],
        )
        variants = ablation_variants() if args.ablation else {}
        ablation = pool.map(
            read_variant,
            [
                (lv, s, name, st)
                for name, st in variants.items()
                if name != "default"
                for lv in args.levels
                for s in range(args.pages)
            ],
            chunksize=1,
        )
        wall = time.perf_counter() - t0
    result: dict = {"pages_per_level": args.pages, "engines": engines, "note": note, "levels": {}}
    for level in args.levels:
        mine = [p for p in pages if p["level"] == level]
        row = {}
        for e in engines:
            row[e] = score([(p["truth"], p["texts"][e]) for p in mine])
            row[e]["secs"] = float(np.mean([p["secs"][e] for p in mine]))
        if "kho" in engines:
            row["kho"]["diacritics"] = diacritic_breakdown(
                [(p["truth"], p["texts"]["kho"]) for p in mine]
            )
            row["kho"]["confidence"] = float(np.mean([p["confidence"] for p in mine]))
        result["levels"][level] = row
    rotated = [(p["correction"], p.get("rotation")) for p in pages if p["correction"]]
    rotated += [(t["want"], t["got"]) for t in turned]
    if "kho" not in engines:
        rotated = [(t["want"], t["got"]) for t in turned]
    result["orientation"] = {
        "pages": len(rotated),
        "right": sum(w == g for w, g in rotated),
        "wrong": [(p["level"], p["seed"], p["correction"], p.get("rotation")) for p in pages
                  if p["correction"] and p.get("rotation") != p["correction"]]
        + [(t["level"], t["seed"], t["want"], t["got"]) for t in turned if t["want"] != t["got"]],
    }  # fmt: skip
    if variants:
        table = {}
        for name in variants:
            table[name] = {}
            for level in args.levels:
                if name == "default":
                    mine = [(p["truth"], p["texts"]["kho"], p["secs"]["kho"]) for p in pages
                            if p["level"] == level]  # fmt: skip
                else:
                    mine = [(a["truth"], a["text"], a["secs"]) for a in ablation
                            if a["variant"] == name and a["level"] == level]  # fmt: skip
                cell = score([(t, g) for t, g, _ in mine])
                cell["secs"] = float(np.mean([s for _, _, s in mine]))
                table[name][level] = cell
        result["ablation"] = table
    result["wall_seconds"] = wall
    return result


def print_report(result: dict) -> None:
    levels = result["levels"]
    engines = result["engines"]
    n = result["pages_per_level"]
    if result["note"]:
        print(f"NOTE: OCRmyPDF left out: {result['note']}")
    print(f"OCR quality, {n} pages per level (CER/WER: lower is better; s/page: wall time)\n")
    head = f"{'level':<9}" + "".join(f"{e + ' CER':>14}{'WER':>8}{'s/page':>8}" for e in engines)
    print(head)
    for level, row in levels.items():
        cells = "".join(
            f"{row[e]['cer']:>14.4f}{row[e]['wer']:>8.4f}{row[e]['secs']:>8.2f}" for e in engines
        )
        print(f"{level:<9}{cells}")
    if {"raw", "kho"} <= set(engines):
        print("\nkho against the others (CER ratio, lower is better; time ratio to raw)")
        for level, row in levels.items():
            parts = [f"CER kho/raw {row['kho']['cer'] / max(row['raw']['cer'], 1e-9):6.3f}"]
            if "ocrmypdf" in engines:
                ratio = row["kho"]["cer"] / max(row["ocrmypdf"]["cer"], 1e-9)
                parts.append(f"kho/ocrmypdf {ratio:6.3f}")
            parts.append(f"time kho/raw {row['kho']['secs'] / row['raw']['secs']:5.2f}")
            print(f"  {level:<9}" + "   ".join(parts))
    o = result["orientation"]
    if o["pages"]:
        print(f"\norientation: {o['right']}/{o['pages']} rotated pages turned upright "
              f"({100 * o['right'] / o['pages']:.1f}%)")  # fmt: skip
        for level, seed, want, got in o["wrong"]:
            print(f"  wrong: {level} seed {seed}: needed {want}, got {got}")
    if "kho" in engines:
        print("\nkho's errors per 1000 characters: diacritic only / base letter / other; "
              "mean confidence; most frequent edits (truth>output)")  # fmt: skip
        for level, row in levels.items():
            d = row["kho"]["diacritics"]
            per = {k: 1000 * v / max(d["chars"], 1) for k, v in d["kinds"].items()}
            top = " ".join(f"{a}>{b}:{c}" for (a, b), c in d["top"][:8])
            print(f"  {level:<9}{per.get('diacritic', 0):6.2f} /{per.get('base letter', 0):6.2f}"
                  f" /{per.get('space/punct/digit', 0):6.2f}  conf {row['kho']['confidence']:5.1f}"
                  f"  {top}")  # fmt: skip
    if "ablation" in result:
        print("\nablation: kho's CER (s/page) with one cleanup step changed")
        names = list(result["levels"])
        print(f"{'steps':<18}" + "".join(f"{lv:>18}" for lv in names))
        for name, row in result["ablation"].items():
            cells = "".join(f"{row[lv]['cer']:>11.4f} ({row[lv]['secs']:.2f})" for lv in names)
            print(f"{name:<18}{cells}")
    print(f"\nwall time {result['wall_seconds']:.0f} s")


def real_modes(args: argparse.Namespace) -> None:
    """--real and --profiles: scanned pages with hand-made truth (bench/ocr_real.py)."""
    import ocr_real  # beside this file; needs the pages, so only imported for these modes

    folder = Path(args.real or args.profiles)
    if not (folder / "manifest.csv").is_file():
        sys.exit(f"no manifest.csv in {folder}: give a DIR with id,file,truth,dpi rows")
    if args.mode == "profiles":
        langs = [lang for lang in args.langs.split(",") if lang]
        result = ocr_real.profiles_run(folder, langs, args.synth)
        show = ocr_real.print_profiles
    else:
        note = ocrmypdf_available()
        exe = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
        args_real = [*REAL_OCRMYPDF_ARGS, "-l", "vie"]
        ocrmypdf = None if note else (exe, args_real, OCRMYPDF_OUTPUT)
        result = ocr_real.real_run(folder, ocrmypdf, args.out)
        result["note"] = note
        show = ocr_real.print_real
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
        return
    if result.get("note"):
        print(f"NOTE: OCRmyPDF left out: {result['note']}")
    show(result)


def main() -> None:
    if "--matrix" in sys.argv[1:]:  # the independent degradation matrix: bench/ocr_matrix.py
        from ocr_matrix import main as matrix_main

        return matrix_main([a for a in sys.argv[1:] if a != "--matrix"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--synthetic", dest="mode", action="store_const", const="synthetic",
                      help="generated pages at each damage level (the default mode)")  # fmt: skip
    mode.add_argument("--real", nargs="?", const=REALPAGES, metavar="DIR",
                      help=f"real scanned pages with truth (default DIR {REALPAGES})")  # fmt: skip
    mode.add_argument("--profiles", nargs="?", const=REALPAGES, metavar="DIR",
                      help="kho per model profile and languages on DIR's pages")  # fmt: skip
    parser.set_defaults(mode="synthetic")
    parser.add_argument("--pages", type=int, default=20, help="pages per level (default 20)")
    parser.add_argument("--levels", default=",".join(LEVELS), help="comma-separated levels")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines")
    parser.add_argument("--ablation", action="store_true", help="also switch each step on/off")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--langs", default="", help="--profiles: more languages to compare")
    parser.add_argument("--synth", type=int, default=0,
                        help="--profiles: also N generated pages per level")  # fmt: skip
    parser.add_argument("--out", type=Path, help="--real: write OUT/<engine>/<id>.txt")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    if args.real or args.profiles:
        args.mode = "real" if args.real else "profiles"
    if args.mode in ("real", "profiles"):
        real_modes(args)
        return
    args.levels = [lv for lv in args.levels.split(",") if lv]
    unknown = set(args.levels) - set(LEVELS) or set(args.engines.split(",")) - set(ENGINES)
    if unknown:
        parser.error(f"unknown level or engine: {', '.join(sorted(unknown))}")
    result = run(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
