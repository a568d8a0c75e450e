"""Transfer benchmark: `kho transfer export`, `kho transfer verify` and `kho transfer import`
of an N-page transfer between two nodes, against plain `cp -r` + `sha512sum` of the same
bytes in the same run.

    nice -n 10 python bench/transfer_bench.py [--pages 1000] [--doc-pages 10] [--jobs 2]

The sender's pages are rendered from Vietnamese text (`synth.pages.render_page`, 300 dpi,
`--height-in` tall), written as multi-page TIFF documents and ingested (OCR included) into
one dossier per folder of `--dossier-pages` pages on a fresh storage root: that is set-up,
timed but not compared. Two nodes are initialised and register each other. Measured:

- kho export: every dossier into one signed package (dossier packages, page texts and
  images, access files, per-record origin signatures, the BagIt manifests and signature);
- kho verify: the package checked whole without importing (signature, every checksum);
- kho import on the receiver: unpack with limits, full verification, catalog rows, files,
  index writes and the signed receipt;
- baseline: `cp -r` of the unpacked package's folder and `sha512sum` of every file in it
  (the plain copy-and-hash of the same bytes), and `tar -cf` + `sha512sum` for export.
Target: import with full verification at >= 0.5x the pages/s of the plain copy-and-hash.
The catalogs are SQLite unless KHO_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from package_bench import make_scans, size  # noqa: E402

CONFIG = 'default_principal = "chief"\n[principals.chief]\nclearance = 3\nunits = ["*"]\n' \
    'operator = true\n'  # fmt: skip


def kho(home: Path, *args: str, out: Path | None = None) -> float:
    env = {**os.environ, "KHO_HOME": str(home)}
    start = time.perf_counter()
    with open(out, "wb") if out else open(os.devnull, "wb") as sink:
        proc = subprocess.run([sys.executable, "-m", "kho", *args], env=env, stdout=sink,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    if proc.returncode:
        sys.exit(f"kho {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
    return time.perf_counter() - start


def timed(cmd: list[str], cwd: Path, out=subprocess.DEVNULL) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=out)
    return time.perf_counter() - start


def node(root: Path, name: str, unit: str) -> Path:
    home = root / name
    home.mkdir(mode=0o700)
    (home / "kho.toml").write_text(CONFIG, encoding="utf-8")
    kho(home, "node", "init", "--organ-id", "000.00.00.G09", "--unit", unit, "--name", name)
    kho(home, "node", "show", "--public", out=root / f"{name}.pub")
    return home


def baseline(package: Path, root: Path) -> tuple[float, float]:
    """(seconds of cp -r + sha512sum of the unpacked package, of tar -cf + sha512sum)."""
    unpacked = root / "unpacked"
    unpacked.mkdir()
    with tarfile.open(package) as tar:
        tar.extractall(unpacked, filter="data")
    files = [str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file()]
    t_cp = timed(["cp", "-r", str(unpacked), str(root / "copied")], root)
    copied = root / "copied"
    t_sum = timed(["sha512sum", *files], copied)
    t_tar = timed(["tar", "-cf", str(root / "plain.tar"), "."], unpacked)
    return t_cp + t_sum, t_tar + t_sum


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--doc-pages", type=int, default=10)
    ap.add_argument("--dossier-pages", type=int, default=200)
    ap.add_argument("--height-in", type=float, default=4.0)
    ap.add_argument("--jobs", type=int, default=2, help="ingest workers (set-up only)")
    args = ap.parse_args()
    os.umask(0o077)  # kho refuses a storage root or config others can read
    with tempfile.TemporaryDirectory(prefix="kho-transfer-bench-") as tmp:
        root = Path(tmp)
        sender, receiver = node(root, "e1", "qk7/f9/e1"), node(root, "f9", "qk7/f9")
        kho(sender, "peers", "add", str(root / "f9.pub"))
        kho(receiver, "peers", "add", str(root / "e1.pub"), "--units", "qk7/f9")
        scans = root / "scans"
        for start in range(0, args.pages, args.dossier_pages):
            folder = scans / f"{start // args.dossier_pages + 1:02d}-BENCH"
            make_scans(folder, min(args.dossier_pages, args.pages - start), args.doc_pages,
                       args.height_in)  # fmt: skip
        kho(sender, "fonds", "create", "B01", "--set", "name=Phông thử",
            "--set", "organ_id=000.00.00.G09")  # fmt: skip
        t_ingest = kho(sender, "ingest", str(scans), "--fonds", "B01", "--folder-dossiers",
                       "--unit", "qk7/f9/e1", "--jobs", str(args.jobs))  # fmt: skip
        package = root / "to-f9.kho"
        t_export = kho(sender, "transfer", "export", "--to", "f9", "--out", str(package))
        t_verify = kho(receiver, "transfer", "verify", str(package))
        t_import = kho(receiver, "transfer", "import", str(package))
        t_start = kho(receiver, "transfer", "import", "--help")
        t_copy_hash, t_tar_hash = baseline(package, root)
        n = args.pages
        rows = [
            ("kho transfer export", t_export),
            ("baseline tar -cf + sha512sum", t_tar_hash),
            ("kho transfer verify", t_verify),
            ("kho transfer import", t_import),
            ("baseline cp -r + sha512sum", t_copy_hash),
            ("(kho start-up alone: import --help)", t_start),
        ]
        print(f"{n} pages in {-(-n // args.dossier_pages)} dossiers; package "
              f"{size(package) / 1e6:.1f} MB; ingest (set-up) {t_ingest:.1f} s")  # fmt: skip
        print(f"{'step':38} {'seconds':>8} {'pages/s':>9}")
        for name, secs in rows:
            print(f"{name:38} {secs:8.2f} {n / secs:9.1f}")
        ratio = (n / t_import) / (n / t_copy_hash)
        print(f"import with full verification / plain copy-and-hash: {ratio:.2f}x "
              "(target >= 0.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
