"""The tar layer of a transfer package: one folder (`transfer/`, a BagIt bag) as an
uncompressed POSIX (pax) tar, written and read as a stream, read safely whatever the bytes.

Reading refuses, with one line (`PackageError`) and the destination left as it was, what
`exchange.tarscan` does not accept (links, devices, sparse members, escaping or colliding
names, pax tricks, sizes over the limits, a cut or padded archive). Compressed input is
refused by its magic number (`sniff`), never decompressed, so no decompression bomb reaches
the reader. The archive is read twice: first its headers only (data skipped by seeking), so
that a hostile member at the end is refused before a byte is written; then again, checked
the same way, while copying each member's data out with a byte counter and hashing it as
it passes (SHA-512 and SHA-256 of each file, so no reader hashes the files again). If
anything fails while writing, what was written is removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kho.core.errors import UsageError
from kho.core.permissions import PRIVATE

from . import seal
from .errors import PackageError
from .identity import Node, show_fingerprint
from .tarscan import BLOCK, REMAKE, Member, Names, Source, checksum_ok, members, show

UNCOMPRESSED = (
    "compressed packages are not accepted: send the uncompressed .tar kho transfer export writes"
)

_MAGICS = [
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data"),
    (b"LZIP", "lzip-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"Rar!", "a RAR archive"),
    (b"%PDF-", "a PDF file"),
]


@dataclass(frozen=True)
class Digest:
    """A file's digests and size, taken while it was written."""

    sha512: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Extracted:
    files: int  # regular files written
    bytes: int  # their data, counted as copied
    root: Path  # dest / root
    digests: dict[str, Digest]  # of every file, by its path under root ("data/...")


def sniff(path: Path) -> str:
    """What the file is: "tar", "sealed", or a few words for messages ("gzip-compressed data")."""
    with open(path, "rb") as f:
        head = f.read(BLOCK)
    if not head:
        return "an empty file"
    if head.startswith(seal.MAGIC):
        return "sealed"
    for magic, what in _MAGICS:
        if head.startswith(magic):
            return what
    if len(head) < BLOCK:
        return f"too short for a tar ({len(head)} bytes)"
    if not any(head) or (head[257:262] == b"ustar" and checksum_ok(head)):
        return "tar"
    if head[257:262] == b"ustar":
        return "a tar whose first header is damaged"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:  # a character cut at the end of the block is fine
        if err.start < len(head) - 3:
            return "unrecognised binary data"
        text = head[: err.start].decode("utf-8")
    if all(c.isprintable() or c in "\t\r\n" for c in text):
        return "a text file"
    return "unrecognised data"


def extract(
    src: Path, dest: Path, *, max_bytes: int, max_files: int, root: str = "transfer"
) -> Extracted:
    """Write the members of the package `src` under `dest` (made if missing; `dest/root`
    must not exist yet) with the private file policy. PackageError, with `dest` left as it
    was, when the package is not a safe, whole, uncompressed transfer package."""
    return _extract(Path(src), Path(dest), max_bytes, max_files, root, Path(src).name)


def _extract(
    src: Path, dest: Path, max_bytes: int, max_files: int, root: str, label: str
) -> Extracted:
    top = dest / root
    if os.path.lexists(top):
        raise UsageError(f"{top} already exists: extract a package into an empty folder")
    try:
        _check_kind(src)
        with open(src, "rb") as f:
            _read(f, root, max_bytes, max_files, None)  # headers only: refuse before writing
            f.seek(0)
            PRIVATE.make_dirs(dest)
            digests: dict[str, Digest] = {}
            files, size = _read(f, root, max_bytes, max_files, dest, digests)
    except PackageError as err:
        _remove(top)
        raise PackageError(f"{label}: {err}") from None
    except BaseException:
        _remove(top)
        raise
    PRIVATE.make_dirs(top)  # a package whose members all sit deeper still has its root
    return Extracted(files=files, bytes=size, root=top, digests=digests)


def _check_kind(src: Path) -> None:
    kind = sniff(src)
    if kind == "tar":
        return
    if kind == "sealed":
        with open(src, "rb") as f:
            fp = f.read(len(seal.MAGIC) + 32)[len(seal.MAGIC) :].hex()
        raise PackageError(
            f"it is sealed for the node {show_fingerprint(fp)}: import it on that node"
        )
    if kind.endswith("compressed data") or "archive" in kind:
        raise PackageError(f"it is {kind}, not an uncompressed tar; {UNCOMPRESSED}")
    raise PackageError(f"it is {kind}, not a transfer package (an uncompressed tar); {REMAKE}")


def _read(
    f: BinaryIO, root: str, max_bytes: int, max_files: int, dest: Path | None, digests=None
) -> tuple[int, int]:
    """One pass over the archive: checks only (dest None) or checks and writes (each
    file's digests into `digests`)."""
    src, files, total = Source(f), 0, 0
    for member in members(src, Names(root), max_bytes, max_files):
        if dest is None:
            src.skip(member)
            continue
        path = dest.joinpath(*member.parts)
        if member.is_dir:
            PRIVATE.make_dirs(path)
            continue
        PRIVATE.make_dirs(path.parent)
        digest = _write_file(path, member, src.copy)
        digests["/".join(member.parts[1:])] = digest
        total += digest.size
        files += 1
        if total > max_bytes:  # the declared sizes were checked; the copied bytes are too
            raise PackageError(f"the package's data is over {max_bytes} bytes; {REMAKE}")
    return files, total


def _write_file(path: Path, member: Member, copy: Callable[[Member, BinaryIO], int]) -> Digest:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise PackageError(f"the member {show(member.name)} appears twice; {REMAKE}") from None
    PRIVATE.settle(fd)
    with os.fdopen(fd, "wb") as out:
        hashing = _Hashing(out)
        size = copy(member, hashing)  # type: ignore[arg-type]
    return Digest(hashing.sha512.hexdigest(), hashing.sha256.hexdigest(), size)


class _Hashing:
    """A file being written, hashed as its bytes pass."""

    def __init__(self, out: BinaryIO):
        self.out, self.sha512, self.sha256 = out, hashlib.sha512(), hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha512.update(data)
        self.sha256.update(data)
        return self.out.write(data)


def _remove(top: Path) -> None:
    if os.path.lexists(top):
        shutil.rmtree(top)


def open_package(
    src: Path, staging: Path, node: Node, *, max_bytes: int, max_files: int
) -> Extracted:
    """Extract a package, sealed for `node` or not, under `staging` (its `transfer/`): a
    sealed one is opened into a file under `staging` first, removed once read."""
    src, staging = Path(src), Path(staging)
    if not seal.is_sealed(src):
        return extract(src, staging, max_bytes=max_bytes, max_files=max_files)
    with open(src, "rb") as f:
        header = f.read(seal.HEADER)
    fp = header[len(seal.MAGIC) : len(seal.MAGIC) + 32].hex()
    if len(header) == seal.HEADER and fp != node.fingerprint:
        raise PackageError(
            f"{src.name}: it is sealed for another node ({show_fingerprint(fp)}), not "
            f"{node.name}: ask the sender to seal it for this node's public identity"
        )
    PRIVATE.make_dirs(staging)
    fd, tmp = tempfile.mkstemp(dir=staging, prefix=".unsealed-", suffix=".tar")
    try:
        PRIVATE.settle(fd)
        with os.fdopen(fd, "wb") as out:
            try:
                seal.unseal(src, out, node, max_bytes + _overhead(max_files))
            except seal.SealError as err:
                raise PackageError(f"{src.name}: {err}") from None
        return _extract(Path(tmp), staging, max_bytes, max_files, "transfer", src.name)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _overhead(max_files: int) -> int:
    """What tar adds to `max_files` members' data at most, in kho's packages: a header, a
    pax header of one block and the padding of each, the end marker and record padding."""
    return max_files * 4 * BLOCK + tarfile.RECORDSIZE + BLOCK * 2


class _Counting:
    def __init__(self, out: BinaryIO):
        self.out, self.written = out, 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.written += len(data)
        return len(data)


def _source_entries(folder: Path, arcname: str) -> list[tuple[Path, str, bool]]:
    """(path, member name, is folder) of everything under `folder`, sorted, folders before
    what they hold; PackageError for anything but a regular file or folder, or for names
    the reader would refuse."""
    names, entries = Names(arcname), []
    stack = [(folder, arcname)]
    while stack:
        path, name = stack.pop()
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            names.add(name, True)
            entries.append((path, name + "/", True))
            children = sorted(os.listdir(path), reverse=True)
            stack.extend((path / child, f"{name}/{child}") for child in children)
        elif stat.S_ISREG(mode):
            names.add(name, False)
            entries.append((path, name, False))
        else:
            raise PackageError(
                f"{path} is not a regular file or a folder: a transfer package holds only those"
            )
    return entries


def write_tar(folder: Path, out: BinaryIO, arcname: str = "transfer") -> int:
    """Write `folder` to `out` as a pax tar of `arcname/` (files 0600, folders 0700, no
    owner names), streamed; returns the bytes written."""
    entries = _source_entries(Path(folder), arcname)
    counter = _Counting(out)
    with tarfile.open(
        fileobj=counter, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8"
    ) as tar:  # type: ignore[call-overload]
        for path, name, is_dir in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if is_dir:
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                info.mtime = int(os.lstat(path).st_mtime)
                tar.addfile(info)
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise PackageError(f"{path} changed into something other than a file")
                info.size, info.mode, info.mtime = st.st_size, 0o600, int(st.st_mtime)
                tar.addfile(info, f)
    return counter.written
