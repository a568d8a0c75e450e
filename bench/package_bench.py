"""Archival package benchmark: `kho dossier package` and `kho dossier verify` for a dossier
of N pages, against a plain baseline on the same files in the same run.

    nice -n 10 python bench/package_bench.py [--pages 200] [--doc-pages 4] [--height-in 5]

Pages are rendered from Vietnamese text (`synth.pages.render_page`, 300 dpi, A4 width,
`--height-in` tall) and written as multi-page TIFF documents of `--doc-pages` pages in one
folder, ingested with `--folder-dossiers` (one dossier) on a fresh storage root (the
ingest, OCR included, is set-up: its time is printed but not compared). Measured:

- kho: `kho dossier package` (copies of originals and PDFs, ALTO of every page, METS with
  PREMIS, SHA-512 manifests) and `kho dossier verify` of it (bag checksums and METS);
- kho's start-up alone (`kho dossier verify --help`): the part of both that is the
  interpreter and imports, not the work;
- baseline: the package's own payload files (data/) put in one archive with `tar -cf` and
  `zip -r -0` (stored: the images and PDFs are compressed already), then `sha512sum` of
  every file, and `sha512sum -c` as the baseline of verify.
The catalog is SQLite unless KHO_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = (
    "BÁO CÁO\nKết quả công tác dân vận năm 2024, trang {n}. Bộ đội giúp nhân dân xây dựng "
    "nông thôn mới, sửa chữa đường giao thông, kênh mương và nhà văn hóa tại địa phương. "
    "Các chi bộ tổ chức học tập nghị quyết, kiểm tra việc thực hiện quy chế dân chủ ở cơ sở."
)
CONFIG = 'default_principal = "chief"\n[principals.chief]\nclearance = 3\nunits = ["*"]\n'


def kho(home: Path, *args: str) -> float:
    env = {**os.environ, "KHO_HOME": str(home)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "kho", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    if proc.returncode:
        sys.exit(f"kho {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return time.perf_counter() - start


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_scans(folder: Path, pages: int, doc_pages: int, height_in: float) -> None:
    from kho.synth.pages import render_page, write_multipage_tiff

    folder.mkdir(parents=True)
    for start in range(0, pages, doc_pages):
        imgs = [
            render_page(TEXT.format(n=n + 1), height_in=height_in).image
            for n in range(start, min(start + doc_pages, pages))
        ]
        write_multipage_tiff(folder / f"vb-{start // doc_pages + 1:04d}.tif", imgs, 300)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--doc-pages", type=int, default=4)
    ap.add_argument("--height-in", type=float, default=5.0)
    ap.add_argument("--jobs", type=int, default=1, help="ingest workers (set-up only)")
    args = ap.parse_args()
    os.umask(0o077)  # kho refuses a storage root or config others can read
    with tempfile.TemporaryDirectory(prefix="kho-package-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir(mode=0o700)
        (home / "kho.toml").write_text(CONFIG, encoding="utf-8")
        make_scans(root / "scans" / "01-BENCH", args.pages, args.doc_pages, args.height_in)
        kho(home, "fonds", "create", "B01", "--set", "name=Phông thử")
        ingest = kho(home, "ingest", str(root / "scans"), "--fonds", "B01", "--folder-dossiers",
                     "--jobs", str(args.jobs))  # fmt: skip
        bag = root / "bag"
        t_package = kho(home, "dossier", "package", "01-BENCH", "--fonds", "B01", "--out", str(bag))
        t_verify = kho(home, "dossier", "verify", str(bag))
        t_start = kho(home, "dossier", "verify", "--help")  # the interpreter and imports
        data = bag / "data"
        files = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())
        t_tar = timed(["tar", "-cf", str(root / "plain.tar"), "."], data)
        t_zip = timed(["zip", "-q", "-r", "-0", str(root / "plain.zip"), "."], data)
        sums = root / "plain.sha512"
        start = time.perf_counter()
        with open(sums, "w") as out:
            subprocess.run(["sha512sum", *files], cwd=data, check=True, stdout=out)
        t_sum = time.perf_counter() - start
        t_check = timed(["sha512sum", "--quiet", "-c", str(sums)], data)
        rows = [
            ("kho dossier package", t_package, size(bag)),
            ("baseline tar -cf + sha512sum", t_tar + t_sum, size(root / "plain.tar")),
            ("baseline zip -r -0 + sha512sum", t_zip + t_sum, size(root / "plain.zip")),
            ("kho dossier verify", t_verify, 0),
            ("baseline sha512sum -c", t_check, 0),
            ("(kho start-up alone: verify --help)", t_start, 0),
        ]  # fmt: skip
        docs = -(-args.pages // args.doc_pages)
        print(f"{args.pages} pages, {docs} documents, {len(files)} payload files; "
              f"ingest (set-up) {ingest:.1f} s")  # fmt: skip
        print(f"{'step':34} {'seconds':>8} {'s/page':>8} {'MB':>8}")
        for name, secs, nbytes in rows:
            mb = f"{nbytes / 1e6:8.1f}" if nbytes else f"{'':8}"
            print(f"{name:34} {secs:8.2f} {secs / args.pages:8.3f} {mb}")
        print(f"{'payload (data/)':34} {'':8} {'':8} {size(data) / 1e6:8.1f}")


if __name__ == "__main__":
    main()
