"""The good path of a transfer package's tar layer: write_tar then extract (or open_package,
sealed or not) gives back the same bytes, with the private modes, in bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import subprocess
import tarfile
import tracemalloc
import unicodedata
from pathlib import Path

import pytest

from kho.core.errors import UsageError
from kho.exchange.bundle import extract, open_package, sniff, write_tar
from kho.exchange.identity import init_node
from kho.exchange.seal import seal

LIMITS = {"max_bytes": 1 << 30, "max_files": 1000}
NAMES = [
    "bagit.txt",
    "data/Quyết định kết nạp đảng viên.pdf",
    "data/Hồ sơ 2024/Biên bản họp chi bộ.tif",
    "data/Hồ sơ 2024/Tờ trình/Đề nghị khen thưởng.txt",
    "data/Hồ sơ 2024/Tờ trình/ảnh-0001.png",
    "manifest-sha512.txt",
]


def digests(folder: Path) -> dict[str, str]:
    out = {}
    for top, _, files in os.walk(folder):
        for name in files:
            path = Path(top) / name
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def modes(folder: Path) -> set[tuple[bool, int]]:
    out = {(True, stat.S_IMODE(folder.stat().st_mode))}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(Path(top) / name)
            out.add((stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode)))
    return out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "bag"
    rng = random.Random(3)
    for i, name in enumerate(NAMES):
        path = root / unicodedata.normalize("NFC", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randrange(0, 300_000)) if i else b"BagIt-Version: 1.0\n")
        path.chmod(0o644)
    (root / "data" / "trống").mkdir()  # an empty folder travels too
    return root


def test_round_trip_gives_identical_bytes_and_private_modes(tmp_path, folder):
    pkg = tmp_path / "p.tar"
    with open(pkg, "wb") as f:
        written = write_tar(folder, f)
    assert written == pkg.stat().st_size and sniff(pkg) == "tar"
    with tarfile.open(pkg) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)  # sorted, dirs first
    assert members[0].name == "transfer" and all(m.isreg() or m.isdir() for m in members)
    assert {(m.isdir(), m.mode) for m in members} == {(True, 0o700), (False, 0o600)}
    assert {(m.uname, m.gname, m.uid, m.gid) for m in members} == {("", "", 0, 0)}

    dest = tmp_path / "dest"
    got = extract(pkg, dest, **LIMITS)
    assert got.root == dest / "transfer"
    assert digests(got.root) == digests(folder)
    assert (got.root / "data" / "trống").is_dir()
    assert got.files == len(NAMES) and got.bytes == sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file()
    )
    assert modes(got.root) == {(True, 0o700), (False, 0o600)}
    for name in NAMES:  # the names are the NFC ones, byte for byte
        assert (got.root / unicodedata.normalize("NFC", name)).is_file()


def test_gnu_tar_reads_the_package_the_same(tmp_path, folder):
    pkg = tmp_path / "p.tar"
    with open(pkg, "wb") as f:
        write_tar(folder, f)
    out = tmp_path / "gnu"
    out.mkdir()
    subprocess.run(["tar", "-xf", pkg, "-C", out], check=True)
    assert digests(out / "transfer") == digests(folder)


def test_write_tar_streams_into_any_binary_file(folder):
    out = io.BytesIO()
    assert write_tar(folder, out, arcname="goi") == len(out.getvalue())
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.getnames()[0] == "goi"


def test_extract_into_a_folder_that_holds_a_package_already_is_refused(tmp_path, folder):
    pkg = tmp_path / "p.tar"
    with open(pkg, "wb") as f:
        write_tar(folder, f)
    extract(pkg, tmp_path / "dest", **LIMITS)
    with pytest.raises(UsageError, match=r"already exists: extract a package into an empty"):
        extract(pkg, tmp_path / "dest", **LIMITS)
    assert digests(tmp_path / "dest" / "transfer") == digests(folder)


def test_open_package_sealed_for_this_node(tmp_path, folder):
    node = init_node(tmp_path / "home", "f9-archive", "000.00.00.G09", "qk7/f9")
    plain, sealed = tmp_path / "p.tar", tmp_path / "p.sealed"
    with open(plain, "wb") as f:
        write_tar(folder, f)
    with open(sealed, "wb") as f:
        seal(plain, f, node.identity)
    staging = tmp_path / "staging"
    got = open_package(sealed, staging, node, **LIMITS)
    assert digests(got.root) == digests(folder)
    assert sorted(os.listdir(staging)) == ["transfer"]  # the unsealed tar is gone
    got = open_package(plain, tmp_path / "staging2", node, **LIMITS)
    assert digests(got.root) == digests(folder)


@pytest.mark.slow
def test_200_mb_file_in_bounded_memory(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    block = random.Random(1).randbytes(1 << 20)
    with open(folder / "scan.tif", "wb") as f:
        for i in range(200):
            f.write(block[i:] + block[:i])
    pkg, dest = tmp_path / "big.tar", tmp_path / "dest"
    tracemalloc.start()
    try:
        with open(pkg, "wb") as f:
            write_tar(folder, f)
        got = extract(pkg, dest, max_bytes=1 << 30, max_files=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.bytes == 200 << 20
    assert peak < 20 << 20, f"peak {peak} bytes"
    assert digests(got.root) == digests(folder)
