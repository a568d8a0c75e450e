"""Fixity and backup sets on an N-page dossier, against plain tools in the same run.

    nice -n 10 .venv/bin/python bench/archive_bench.py [--pages 200] [--doc-pages 10] [--json]

The dossier is rendered by `synth/` (administrative records in the Decree 30 layout, 300 dpi
A4 pages written as multi-page TIFF documents of `--doc-pages` pages: nothing real is
committed) and ingested with the CLI (`kho ingest`, SQLite catalog, embedded index) into a
scratch storage root. Then, each a real `kho` process:

- `kho verify` (every original and derivative re-hashed against the catalog), beside
  `sha256sum` over the same files (originals/ and docs/);
- `kho backup create` into a new set, then again (incremental: no new objects), beside
  `tar -cf` of the whole storage root;
- `kho backup verify` of the set (every object re-hashed);
- `kho backup restore` into an empty storage root, beside `tar -xf` of the tar.

Sizes: the storage root, the set after both runs, the tar. Seconds are wall time on a
machine other work may be using (each kho row includes the CLI's start-up, measured alone
as `kho --version`); MB/s is the storage root's bytes over the seconds.
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
from pathlib import Path


def make_dossier(root: Path, pages: int, per_doc: int) -> list[Path]:
    """TIFF documents of generated record pages, `per_doc` pages each."""
    from kho.synth.admin import CATEGORIES, generate_document
    from kho.synth.pages import render_page, write_multipage_tiff

    files, images = [], []
    for n in range(pages):
        doc = generate_document(CATEGORIES[n % len(CATEGORIES)], seed=n)
        images.append(render_page(doc.text).image)
        if len(images) == per_doc or n == pages - 1:
            files.append(root / f"ho-so-{len(files) + 1:03d}.tif")
            write_multipage_tiff(files[-1], images, 300)
            images = []
    return files


def kho(home: Path, *args: str) -> float:
    """Run one kho command against `home`; its wall seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env["KHO_HOME"] = str(home)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kho", *args], env=env, capture_output=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"kho {' '.join(args)} exited {proc.returncode}:\n{proc.stderr.decode()}")
    return seconds


def timed(*cmd: str, cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def stored_files(home: Path) -> list[str]:
    return [
        str(p.relative_to(home))
        for top in ("originals", "docs")
        for p in sorted((home / top).rglob("*"))
        if p.is_file()
    ]


def run(pages: int, per_doc: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="kho-archive-bench-"))
    try:
        scans, home, bset = work / "scans", work / "home", work / "set"
        scans.mkdir()
        t0 = time.perf_counter()
        docs = make_dossier(scans, pages, per_doc)
        rendered = time.perf_counter() - t0
        ingest = kho(home, "ingest", str(scans), "--batch", "bench", "-q")
        store = size_of(home / "originals") + size_of(home / "docs")
        files = stored_files(home)
        rows = [
            ("kho --version (start-up only)", kho(home, "--version"), 0),
            ("sha256sum (baseline)", timed("sha256sum", *files, cwd=home), store),
            ("kho verify", kho(home, "verify"), store),
            (
                "tar -cf home (baseline)",
                timed("tar", "-cf", str(work / "home.tar"), "home", cwd=work),
                store,
            ),
            ("kho backup create (first)", kho(home, "backup", "create", str(bset)), store),
            ("kho backup create (incremental)", kho(home, "backup", "create", str(bset)), store),
            ("kho backup verify", kho(home, "backup", "verify", str(bset)), store),
        ]
        (work / "untar").mkdir()
        rows.append(
            (
                "tar -xf (baseline)",
                timed("tar", "-xf", str(work / "home.tar"), cwd=work / "untar"),
                store,
            )
        )
        restored = work / "restored"
        rows.append(
            (
                "kho backup restore",
                kho(restored, "backup", "restore", str(bset), "--to", str(restored)),
                store,
            )
        )
        return {
            "pages": pages,
            "documents": len(docs),
            "files": len(files),
            "render_s": rendered,
            "ingest_s": ingest,
            "storage_bytes": store,
            "set_bytes": size_of(bset),
            "tar_bytes": size_of(work / "home.tar"),
            "rows": [{"step": s, "seconds": round(t, 3), "mb_s": b / 1e6 / t} for s, t, b in rows],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict) -> None:
    print(
        f"{result['pages']} pages in {result['documents']} documents, {result['files']} stored "
        f"files, {result['storage_bytes'] / 1e6:.1f} MB (rendered in {result['render_s']:.0f} s, "
        f"ingested in {result['ingest_s']:.0f} s)"
    )
    print(f"{'step':34} {'seconds':>9} {'MB/s':>9}")
    for row in result["rows"]:
        rate = f"{row['mb_s']:9.1f}" if row["mb_s"] else f"{'-':>9}"
        print(f"{row['step']:34} {row['seconds']:9.2f} {rate}")
    print(
        f"sizes: storage {result['storage_bytes'] / 1e6:.1f} MB, backup set after two runs "
        f"{result['set_bytes'] / 1e6:.1f} MB, tar of the home {result['tar_bytes'] / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--doc-pages", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.pages, args.doc_pages)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
