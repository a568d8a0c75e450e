"""Hostile transfer packages: each is refused with one line, the destination is left empty
and nothing is written beside it. The archives are real: made with tarfile, gzip, zipfile,
GNU tar and kho's own sealing."""

from __future__ import annotations

import gzip
import io
import os
import random
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from kho.exchange.bundle import extract, open_package, sniff, write_tar
from kho.exchange.errors import PackageError
from kho.exchange.identity import init_node
from kho.exchange.seal import seal

LIMITS = {"max_bytes": 1 << 30, "max_files": 1000}


def listing(folder: Path) -> list[str]:
    out = []
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(top, name), folder))
    return sorted(out)


def refused(pkg: Path, tmp_path: Path, pattern: str, **limits: int) -> str:
    """Extract `pkg` into an empty folder: PackageError matching `pattern` in one line,
    that folder still empty, nothing new anywhere under tmp_path."""
    dest = tmp_path / "area" / "dest"
    dest.mkdir(parents=True, exist_ok=True)
    before = listing(tmp_path)
    with pytest.raises(PackageError) as err:
        extract(pkg, dest, **{**LIMITS, **limits})
    message = str(err.value)
    assert "\n" not in message
    assert re.search(pattern, message), message
    assert message.startswith(f"{pkg.name}: ")
    assert list(dest.iterdir()) == []
    assert listing(tmp_path) == before
    return message


def pax_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A tar written by tarfile in pax format from (header, data) pairs, as given."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, **fields) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def good_folder(tmp_path: Path, sizes=(1000, 200_000)) -> Path:
    folder = tmp_path / "src"
    (folder / "data").mkdir(parents=True)
    for i, size in enumerate(sizes):
        (folder / "data" / f"f{i}.bin").write_bytes(random.Random(i).randbytes(size))
    (folder / "bagit.txt").write_text("BagIt-Version: 0.97\n")
    return folder


def good_tar(tmp_path: Path, **kw) -> Path:
    pkg = tmp_path / "in" / "good.tar"
    pkg.parent.mkdir(exist_ok=True)
    with open(pkg, "wb") as f:
        write_tar(good_folder(tmp_path, **kw), f)
    return pkg


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("../x", r"goes up with '\.\.'"),
        ("transfer/../../x", r"goes up with '\.\.'"),
        ("transfer/a/../../../x", r"goes up with '\.\.'"),
        ("other/x", r"not under transfer/"),
        ("transfer\\..\\..\\x", r"backslash"),
        ("transfer/./x", r"'\.' component"),
        ("transfer/a\nb", r"control character"),
        ("transfer/" + "a" * 256, r"a component over 255 bytes"),
        ("transfer" + "/abcdefgh" * 120, r"is over 1024 bytes"),
    ],
)
def test_bad_member_names_are_refused(tmp_path, inbox, name, pattern):
    pkg = pax_tar(inbox / "p.tar", [(member("transfer/ok.txt"), b"ok"), (member(name), b"evil")])
    refused(pkg, tmp_path, pattern + r".*kho transfer export")


def test_absolute_member_name_is_refused(tmp_path, inbox):
    target = tmp_path / "area" / "abs-target"
    pkg = pax_tar(inbox / "p.tar", [(member(str(target)), b"evil")])
    refused(pkg, tmp_path, r"is absolute")
    assert not target.exists()


def test_pax_path_escaping_root_is_refused(tmp_path, inbox):
    """The ustar name is harmless; the pax record (what readers honour) goes up."""
    info = member("transfer/innocent.txt", pax_headers={"path": "transfer/../../escaped"})
    pkg = pax_tar(inbox / "p.tar", [(info, b"evil")])
    raw = pkg.read_bytes()
    assert b"transfer/innocent.txt" in raw and b"path=transfer/../../escaped" in raw
    refused(pkg, tmp_path, r"goes up with '\.\.'")


def test_pax_path_hiding_an_escaping_ustar_name_is_refused(tmp_path, inbox):
    """A tool that ignores pax records would write the ustar name: it is checked too."""
    info = member("../../escaped", pax_headers={"path": "transfer/innocent.txt"})
    refused(pax_tar(inbox / "p.tar", [(info, b"evil")]), tmp_path, r"goes up")


def test_pax_nul_in_name_is_refused(tmp_path, inbox):
    info = member("transfer/a", pax_headers={"path": "transfer/a\x00/../../x"})
    refused(pax_tar(inbox / "p.tar", [(info, b"evil")]), tmp_path, r"NUL byte")


@pytest.mark.parametrize(
    "kind, fields, pattern",
    [
        (tarfile.SYMTYPE, {"linkname": "/etc/passwd"}, r"a symbolic link"),
        (tarfile.LNKTYPE, {"linkname": "/etc/passwd"}, r"a hard link"),
        (tarfile.CHRTYPE, {"devmajor": 1, "devminor": 3}, r"a character device"),
        (tarfile.BLKTYPE, {"devmajor": 8, "devminor": 0}, r"a block device"),
        (tarfile.FIFOTYPE, {}, r"a FIFO"),
    ],
)
def test_links_and_devices_are_refused(tmp_path, inbox, kind, fields, pattern):
    members = [
        (member("transfer/", tarfile.DIRTYPE), b""),
        (member("transfer/x", kind, **fields), b""),
    ]
    refused(pax_tar(inbox / "p.tar", members), tmp_path, pattern)


def test_symlink_followed_by_a_file_through_it_writes_nothing(tmp_path, inbox):
    outside = tmp_path / "area" / "outside"
    members = [
        (member("transfer/ok.txt"), b"fine"),
        (member("transfer/link", tarfile.SYMTYPE, linkname=str(outside.parent)), b""),
        (member("transfer/link/outside"), b"evil"),
    ]
    refused(pax_tar(inbox / "p.tar", members), tmp_path, r"symbolic link")
    assert not outside.exists()


@pytest.mark.parametrize("fmt", ["pax", "gnu"])
def test_gnu_sparse_members_are_refused(tmp_path, inbox, fmt):
    """Made by GNU tar --sparse from a real sparse file, in both of its encodings."""
    folder = tmp_path / "src" / "transfer"
    folder.mkdir(parents=True)
    with open(folder / "holes.img", "wb") as f:
        f.seek(50 << 20)
        f.write(b"end")
    pkg = inbox / "sparse.tar"
    subprocess.run(
        [
            "tar",
            "--sparse",
            f"--format={fmt}",
            "-cf",
            pkg,
            "-C",
            folder.parent,
            "transfer/holes.img",
        ],
        check=True,
    )
    assert pkg.stat().st_size < 1 << 20  # the holes are not in the archive
    refused(pkg, tmp_path, r"sparse member")


def test_gnu_format_tar_is_refused(tmp_path, inbox):
    folder = good_folder(tmp_path)
    pkg = inbox / "gnu.tar"
    with tarfile.open(pkg, "w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(folder, "transfer")
    refused(pkg, tmp_path, r"a GNU-format tar, not POSIX \(pax\)")


def test_global_pax_header_is_refused(tmp_path, inbox):
    pkg = inbox / "g.tar"
    with tarfile.open(pkg, "w", format=tarfile.PAX_FORMAT, pax_headers={"path": "../../x"}) as tar:
        tar.addfile(member("transfer/a", size=1), io.BytesIO(b"a"))
    refused(pkg, tmp_path, r"global pax header")


def test_pax_linkpath_is_refused(tmp_path, inbox):
    info = member("transfer/a", pax_headers={"linkpath": "/etc/passwd"})
    refused(pax_tar(inbox / "p.tar", [(info, b"x")]), tmp_path, r"pax linkpath")


def test_member_declaring_100_gb_is_refused_before_its_data_is_read(tmp_path, inbox):
    info = member("transfer/huge.bin", size=100 * 10**9)
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    assert b"size=100000000000" in header  # the pax size record
    pkg = inbox / "huge.tar"
    pkg.write_bytes(header + b"\0" * (1 << 20))  # a megabyte of the promised 100 GB
    message = refused(pkg, tmp_path, r"declares 100000000000 bytes", max_bytes=20 << 30)
    assert "max_bytes" in message


def test_more_members_than_max_files_is_refused(tmp_path, inbox):
    pkg = inbox / "many.tar"
    with tarfile.open(pkg, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(member("transfer/", tarfile.DIRTYPE))
        for i in range(100_000):
            tar.addfile(member(f"transfer/{i:06d}", size=1), io.BytesIO(b"x"))
    refused(pkg, tmp_path, r"more than 1000 members, over \[transfer\] max_files", max_files=1000)


def test_package_over_max_bytes_is_refused(tmp_path):
    pkg = good_tar(tmp_path, sizes=(1 << 20, 1 << 20, 1 << 20))
    refused(pkg, tmp_path, r"over 2500000 bytes \(\[transfer\] max_bytes\)", max_bytes=2_500_000)


@pytest.fixture(scope="module")
def gzip_bomb(tmp_path_factory) -> Path:
    """1 GB of zeros, gzip-compressed (about 1 MB), named .tar."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.tar"
    zeros = bytes(1 << 20)
    with gzip.open(path, "wb", compresslevel=6) as f:
        for _ in range(1024):
            f.write(zeros)
    return path


def test_gzip_bomb_is_refused_unread(tmp_path, gzip_bomb):
    import tracemalloc

    tracemalloc.start()
    try:
        refused(gzip_bomb, tmp_path, r"gzip-compressed data.*compressed packages are not accepted")
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
    assert gzip_bomb.stat().st_size < 10 << 20


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda p: p.write_bytes(b""), r"it is an empty file"),
        (lambda p: p.write_bytes(random.Random(5).randbytes(8192)), r"unrecognised binary data"),
        (
            lambda p: p.write_bytes(b"BZh91AY&SY" + bytes(600)),
            r"bzip2-compressed data.*not accepted",
        ),
        (lambda p: p.write_bytes(b"\xfd7zXZ\x00" + bytes(600)), r"xz-compressed.*not accepted"),
        (
            lambda p: p.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(600)),
            r"zstd-compressed.*not accepted",
        ),
        (lambda p: p.write_text("BagIt-Version: 0.97\n" * 40), r"it is a text file"),
    ],
)
def test_what_is_not_a_tar_is_named(tmp_path, inbox, make, pattern):
    pkg = inbox / "p.tar"
    make(pkg)
    refused(pkg, tmp_path, pattern)


def test_zip_is_refused(tmp_path, inbox):
    pkg = inbox / "p.tar"
    with zipfile.ZipFile(pkg, "w") as z:
        z.writestr("transfer/bagit.txt", "BagIt-Version: 0.97\n")
    assert sniff(pkg) == "a zip archive"
    refused(pkg, tmp_path, r"it is a zip archive, not an uncompressed tar")


def test_truncated_tar_is_refused(tmp_path):
    pkg = good_tar(tmp_path)
    data = pkg.read_bytes()
    pkg.write_bytes(data[: len(data) // 2])
    refused(pkg, tmp_path, r"cut short inside 'transfer/data/f1\.bin'.*copy it again")


def test_tar_cut_between_members_is_refused(tmp_path):
    """Every member whole but the end-of-archive marker missing: the rest may be lost."""
    pkg = good_tar(tmp_path)
    data = pkg.read_bytes()
    with tarfile.open(pkg) as tar:
        bagit = tar.getmember("transfer/bagit.txt")  # after transfer/, before data/
    whole = bagit.offset_data + (bagit.size + 511) // 512 * 512
    pkg.write_bytes(data[:whole])
    refused(pkg, tmp_path, r"ends without its end-of-archive marker.*copy it again")


def test_member_data_longer_than_declared_is_refused(tmp_path, inbox):
    info = member("transfer/a.txt", size=50)
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    pkg = inbox / "long.tar"
    pkg.write_bytes(header + b"A" * 100 + bytes(412) + bytes(1024))
    refused(pkg, tmp_path, r"data of 'transfer/a\.txt' is longer than its declared 50 bytes")


def test_member_data_longer_by_whole_blocks_is_refused(tmp_path, inbox):
    info = member("transfer/a.txt", size=512)
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    pkg = inbox / "long.tar"
    pkg.write_bytes(header + b"A" * 1024 + bytes(1024))
    refused(pkg, tmp_path, r"not a tar header: the data of 'transfer/a\.txt' is longer")


def test_tar_cut_inside_its_end_marker_is_refused(tmp_path):
    pkg = good_tar(tmp_path)
    data = pkg.read_bytes().rstrip(b"\0")
    pkg.write_bytes(data + bytes((-len(data)) % 512 + 512))  # one zero block of the two
    refused(pkg, tmp_path, r"end-of-archive marker is cut short or damaged.*copy it again")


def test_data_after_the_end_marker_is_refused(tmp_path):
    pkg = good_tar(tmp_path)
    with open(pkg, "ab") as f:
        f.write(b"hidden member for tools that read past the end")
    refused(pkg, tmp_path, r"data after its end-of-archive marker")


@pytest.mark.parametrize(
    "names, pattern",
    [
        (["transfer/a.txt", "transfer/a.txt"], r"'transfer/a\.txt' appears twice"),
        (["transfer/Bao-cao.txt", "transfer/bao-cao.TXT"], r"differ only by case"),
        (["transfer/Quy\u1ebft.txt", "transfer/Quye\u0302\u0301t.txt"], r"Unicode form"),
        (["transfer/A/x", "transfer/a/y"], r"differ only by case"),
        (["transfer/a", "transfer/a/b"], r"'transfer/a' also holds other members"),
        (["transfer/a/b", "transfer/a"], r"'transfer/a' is both a file and a folder"),
    ],
)
def test_colliding_names_are_refused(tmp_path, inbox, names, pattern):
    pkg = pax_tar(inbox / "p.tar", [(member(n), n.encode()) for n in names])
    refused(pkg, tmp_path, pattern)


def test_hostile_last_member_is_refused_before_anything_is_written(tmp_path, inbox):
    """The headers are all read first: the destination is never touched (its mtime,
    set to 1970, would move with any entry made and removed in it)."""
    members = [(member(f"transfer/{i}.bin"), bytes(100_000)) for i in range(20)]
    members.append((member("transfer/x", tarfile.SYMTYPE, linkname="/etc/passwd"), b""))
    dest = tmp_path / "area" / "dest"
    dest.mkdir(parents=True)
    os.utime(dest, ns=(0, 0))
    refused(pax_tar(inbox / "p.tar", members), tmp_path, r"symbolic link")
    assert dest.stat().st_mtime_ns == 0


@pytest.fixture
def nodes(tmp_path):
    here = init_node(tmp_path / "here", "f9-archive", "000.00.00.G09", "qk7/f9")
    other = init_node(tmp_path / "other", "qk5-archive", "000.00.00.G05", "qk5")
    return here, other


def open_refused(pkg: Path, tmp_path: Path, node, pattern: str) -> str:
    staging = tmp_path / "area" / "staging"
    staging.mkdir(parents=True)
    before = listing(tmp_path)
    with pytest.raises(PackageError) as err:
        open_package(pkg, staging, node, **LIMITS)
    message = str(err.value)
    assert "\n" not in message and re.search(pattern, message), message
    assert list(staging.iterdir()) == []
    assert listing(tmp_path) == before
    return message


def test_package_sealed_for_another_node_is_refused(tmp_path, nodes):
    here, other = nodes
    plain = good_tar(tmp_path)
    pkg = tmp_path / "in" / "sealed.tar"
    with open(pkg, "wb") as f:
        seal(plain, f, other.identity)
    assert sniff(pkg) == "sealed"
    open_refused(pkg, tmp_path, here, r"sealed for another node .*not f9-archive")
    refused(pkg, tmp_path, r"it is sealed for the node .*: import it on that node")


def test_truncated_sealed_package_is_refused(tmp_path, nodes):
    here, _ = nodes
    plain = good_tar(tmp_path, sizes=(3 << 20,))
    pkg = tmp_path / "in" / "sealed.tar"
    with open(pkg, "wb") as f:
        seal(plain, f, here.identity)
    pkg.write_bytes(pkg.read_bytes()[: pkg.stat().st_size // 2])
    open_refused(pkg, tmp_path, here, r"damaged or truncated.*copy it again")


def test_sealed_package_holding_a_hostile_tar_is_refused(tmp_path, nodes, inbox):
    here, _ = nodes
    plain = pax_tar(inbox / "p.tar", [(member("transfer/../../x"), b"evil")])
    pkg = inbox / "sealed.tar"
    with open(pkg, "wb") as f:
        seal(plain, f, here.identity)
    message = open_refused(pkg, tmp_path, here, r"goes up with '\.\.'")
    assert message.startswith("sealed.tar: ")


def test_write_tar_refuses_links_and_fifos_in_the_source(tmp_path):
    folder = good_folder(tmp_path)
    (folder / "data" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(PackageError, match=r"passwd is not a regular file or a folder"):
        write_tar(folder, io.BytesIO())
    (folder / "data" / "passwd").unlink()
    os.mkfifo(folder / "pipe")
    out = io.BytesIO()
    with pytest.raises(PackageError, match=r"pipe is not a regular file or a folder"):
        write_tar(folder, out)
    assert out.getvalue() == b""  # refused before anything was written


def test_failure_while_writing_removes_what_was_written(tmp_path):
    """A file the disk cannot take (RLIMIT_FSIZE, as a full disk would): the members
    written before it are removed, the error propagates as the system trouble it is."""
    pkg = good_tar(tmp_path, sizes=(100_000, 3 << 20))
    dest = tmp_path / "area" / "dest"
    dest.mkdir(parents=True)
    before = listing(tmp_path)
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from kho.exchange.bundle import extract\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "extract(Path(sys.argv[1]), Path(sys.argv[2]), max_bytes=1 << 30, max_files=100)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, pkg, dest], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and "File too large" in proc.stderr, proc.stderr
    assert list(dest.iterdir()) == []
    assert listing(tmp_path) == before
