"""Transfer benchmark: `kho transfer export`, `kho transfer verify` and `kho transfer import`
of an N-page transfer between two nodes, against plain `cp -r` + `sha512sum` of the same
bytes in the same run.

    nice -n 10 python bench/transfer_bench.py [--pages 1000] [--doc-pages 10] [--jobs 2]
        [--colour] [--keep DIR | --reuse DIR]

The sender's pages are rendered from Vietnamese text (`synth.pages.render_page`, 300 dpi,
`--height-in` tall), written as multi-page TIFF documents and ingested (OCR included) into
one dossier per folder of `--dossier-pages` pages on a fresh storage root: that is set-up,
timed but not compared. `--colour`: each page a colour scan instead (tinted paper with a
texture and noise, one JPEG of about 0.5-1 MB a page), so bytes weigh as in a real
archive. Two nodes are initialised and register each other. `--keep DIR` keeps the set-up
in DIR; `--reuse DIR` measures again on it (the set-up is not made again). Measured:

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
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from package_bench import TEXT, make_scans, size  # noqa: E402

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


def make_colour_scans(folder: Path, pages: int, height_in: float, first: int) -> None:
    """One colour JPEG a page: the rendered text on tinted, textured, noisy paper (a few
    sheets of paper made once, each page a different crop of one, with its own ink)."""
    import numpy as np
    from PIL import Image

    from kho.synth.pages import render_page

    folder.mkdir(parents=True)
    rng = np.random.default_rng(first)
    papers = _papers(rng, render_page(TEXT.format(n=1), height_in=height_in).image.shape)
    dark = np.array([40, 45, 90], dtype=np.float32)  # blue-black ink
    for n in range(first, first + pages):
        ink = render_page(TEXT.format(n=n + 1), height_in=height_in).image
        h, w = ink.shape
        paper = papers[n % len(papers)]
        dy, dx = rng.integers(0, paper.shape[0] - h + 1), rng.integers(0, paper.shape[1] - w + 1)
        a = (ink.astype(np.float32) / 255.0)[..., None]
        rgb = paper[dy : dy + h, dx : dx + w] * a + dark * (1 - a)
        img = Image.fromarray(rgb.astype(np.uint8), "RGB")
        img.save(folder / f"tr-{n + 1:05d}.jpg", quality=85, dpi=(300, 300))


def _papers(rng, shape: tuple[int, int], count: int = 6) -> list:
    """Sheets of paper a little larger than a page: a warm tint varying slowly across the
    sheet (fibres, stains) and grain."""
    import numpy as np

    h, w = shape[0] + 64, shape[1] + 64
    out = []
    for _ in range(count):
        coarse = rng.normal(0, 1, (h // 64 + 2, w // 64 + 2, 3))
        texture = np.kron(coarse, np.ones((64, 64, 1)))[:h, :w] * 6
        tint = np.array([236.0, 226.0, 200.0]) + rng.uniform(-8, 8, 3)
        paper = tint + texture + rng.normal(0, 7, (h, w, 3))
        out.append(np.clip(paper, 0, 255).astype(np.float32))
    return out


def setup(root: Path, args) -> tuple[Path, Path, float]:
    """Two nodes that know each other, the sender's pages ingested: (sender, receiver,
    seconds of the ingest)."""
    sender, receiver = node(root, "e1", "qk7/f9/e1"), node(root, "f9", "qk7/f9")
    kho(sender, "peers", "add", str(root / "f9.pub"))
    kho(receiver, "peers", "add", str(root / "e1.pub"), "--units", "qk7/f9")
    scans = root / "scans"
    for start in range(0, args.pages, args.dossier_pages):
        folder = scans / f"{start // args.dossier_pages + 1:02d}-BENCH"
        count = min(args.dossier_pages, args.pages - start)
        if args.colour:
            make_colour_scans(folder, count, args.height_in, start)
        else:
            make_scans(folder, count, args.doc_pages, args.height_in)
    kho(sender, "fonds", "create", "B01", "--set", "name=Phông thử",
        "--set", "organ_id=000.00.00.G09")  # fmt: skip
    t_ingest = kho(sender, "ingest", str(scans), "--fonds", "B01", "--folder-dossiers",
                   "--unit", "qk7/f9/e1", "--jobs", str(args.jobs))  # fmt: skip
    for home in (sender, receiver):  # what --reuse starts from again
        shutil.copytree(home, home.with_name(home.name + ".setup"), symlinks=True)
    (root / "ingest-seconds").write_text(f"{t_ingest}")
    return sender, receiver, t_ingest


def reused(root: Path) -> tuple[Path, Path, float]:
    """The set-up kept in `root`, every measured step's traces removed."""
    homes = []
    for name in ("e1", "f9"):
        home = root / name
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(root / f"{name}.setup", home, symlinks=True)
        homes.append(home)
    for leftover in ("to-f9.kho", "to-f9.kho.receipt.json", "unpacked", "copied", "plain.tar"):
        path = root / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return homes[0], homes[1], float((root / "ingest-seconds").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--doc-pages", type=int, default=10)
    ap.add_argument("--dossier-pages", type=int, default=200)
    ap.add_argument("--height-in", type=float, default=4.0)
    ap.add_argument("--jobs", type=int, default=2, help="ingest workers (set-up only)")
    ap.add_argument("--colour", action="store_true", help="colour JPEG scans (bytes weigh)")
    ap.add_argument("--keep", type=Path, help="make the set-up in this new folder and keep it")
    ap.add_argument("--reuse", type=Path, help="measure again on a set-up kept by --keep")
    args = ap.parse_args()
    os.umask(0o077)  # kho refuses a storage root or config others can read
    if args.reuse:
        run(args.reuse, args, *reused(args.reuse))
    elif args.keep:
        args.keep.mkdir(mode=0o700)
        run(args.keep, args, *setup(args.keep, args))
    else:
        with tempfile.TemporaryDirectory(prefix="kho-transfer-bench-") as tmp:
            run(Path(tmp), args, *setup(Path(tmp), args))


def run(root: Path, args, sender: Path, receiver: Path, t_ingest: float) -> None:
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
    mb = size(package) / 1e6
    print(f"{n} {'colour JPEG' if args.colour else 'synthetic'} pages in "
          f"{-(-n // args.dossier_pages)} dossiers; package {mb:.1f} MB; "
          f"ingest (set-up) {t_ingest:.1f} s")  # fmt: skip
    print(f"{'step':38} {'seconds':>8} {'pages/s':>9} {'MB/s':>8}")
    for name, secs in rows:
        print(f"{name:38} {secs:8.2f} {n / secs:9.1f} {mb / secs:8.1f}")
    ratio = (n / t_import) / (n / t_copy_hash)
    print(f"import with full verification / plain copy-and-hash: {ratio:.2f}x "
          "(target >= 0.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
