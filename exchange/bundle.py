"""The tar layer of a transfer package: one folder (`transfer/`, a BagIt bag) as an
uncompressed POSIX (pax) tar, written and read as a stream, read safely whatever the bytes.

The reader is kho's own, not `tarfile`'s: it accepts exactly what `write_tar` makes and
refuses everything else with one line (`PackageError`) before writing it, leaving the
destination as it was:

- only regular files and folders, in POSIX ustar headers (magic "ustar\\0", version "00")
  with their checksum right; pax extended headers ("x") may carry only the records
  `PAX_RECORDS` (the name, a size, times, owner ids and names), one per member;
- a name is relative, under `root/`, at most NAME_MAX bytes, made of components (255
  bytes at most) that are not empty, "." or "..",
  with no NUL, backslash or control character; no two names the same once folded to NFC
  and lower case (a case-insensitive disk would merge them), no member inside a file;
- the declared sizes add up to at most `max_bytes` (checked before any data is read),
  there are at most `max_files` members (files and folders), and the bytes copied are
  counted too;
- a member cut short, padding that is not zeros (data longer than the declared size), or
  an archive without its end-of-archive marker (two zero blocks) is refused: a package cut
  exactly between two members would otherwise pass as a smaller one.

Compressed input is refused by its magic number (`sniff`), never decompressed, so no
decompression bomb reaches the reader. The archive is read twice: first its headers only
(data skipped by seeking), so that a hostile member at the end is refused before a byte is
written; then again, checked the same way, while copying the data out.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kho.core.errors import UsageError
from kho.core.permissions import PRIVATE

from . import seal
from .errors import PackageError
from .identity import Node, show_fingerprint

BLOCK = 512
CHUNK = 1 << 20
PAX_MAX = 64 * 1024  # one pax header's records
TRAIL_MAX = 1 << 20  # zero padding allowed after the end-of-archive marker
PAX_RECORDS = {"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}
POSIX_MAGIC = b"ustar\x0000"
NAME_MAX = 1024  # bytes of a member name: well under PATH_MAX with the destination before it

REMAKE = "ask the sender for a new package made by kho transfer export"
RECOPY = "copy it again from the sender's medium"
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

_TYPES = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a FIFO",
    b"7": "a contiguous file",
    b"S": "a GNU sparse member",
    b"L": "a GNU long-name header",
    b"K": "a GNU long-link header",
    b"g": "a global pax header (it would change every member after it)",
}


@dataclass(frozen=True)
class Extracted:
    files: int  # regular files written
    bytes: int  # their data, counted as copied
    root: Path  # dest / root


def sniff(path: Path) -> str:
    """ "tar", "sealed", or a few words saying what else the file is (for messages)."""
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
    if not any(head) or (head[257:262] == b"ustar" and _checksum_ok(head)):
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


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].strip(b"\x00 ") or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = unsigned - 2 * sum(b for b in block[:148] + block[156:] if b > 127)
    return stored in (unsigned, signed)


def _show(name: str) -> str:
    """A member name for a one-line message: quoted, escaped, not too long."""
    return repr(name if len(name) <= 100 else name[:100] + "...")


class _Names:
    """The name rule and the set of names seen, shared by the writer and the reader."""

    def __init__(self, root: str):
        self.root = root
        self.seen: dict[str, tuple[str, str]] = {}  # folded name -> (name, file|dir|implied)

    def add(self, name: str, is_dir: bool) -> tuple[str, ...]:
        parts = self.check(name, is_dir)
        for i in range(1, len(parts)):
            self._place(parts[:i], "implied")
        self._place(parts, "dir" if is_dir else "file")
        return parts

    def check(self, name: str, is_dir: bool) -> tuple[str, ...]:
        if "\x00" in name:
            raise PackageError(f"the member name {_show(name)} holds a NUL byte; {REMAKE}")
        if "\\" in name:
            raise PackageError(f"the member name {_show(name)} holds a backslash; {REMAKE}")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise PackageError(f"the member name {_show(name)} holds a control character; {REMAKE}")
        if name.startswith("/"):
            raise PackageError(f"the member name {_show(name)} is absolute; {REMAKE}")
        bare = name[:-1] if is_dir and name.endswith("/") else name
        parts = tuple(bare.split("/"))
        if ".." in parts:
            raise PackageError(f"the member name {_show(name)} goes up with '..'; {REMAKE}")
        if any(p in ("", ".") for p in parts):
            raise PackageError(
                f"the member name {_show(name)} has an empty or '.' component; {REMAKE}"
            )
        if parts[0] != self.root or (len(parts) == 1 and not is_dir):
            raise PackageError(f"the member {_show(name)} is not under {self.root}/; {REMAKE}")
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise PackageError(f"the member name {_show(name)} is over {NAME_MAX} bytes; {REMAKE}")
        if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
            raise PackageError(
                f"the member name {_show(name)} has a component over 255 bytes; {REMAKE}"
            )
        return parts

    def _place(self, parts: tuple[str, ...], kind: str) -> None:
        name = "/".join(parts)
        key = unicodedata.normalize("NFC", name).casefold()
        old = self.seen.get(key)
        if old is None:
            self.seen[key] = (name, kind)
            return
        old_name, old_kind = old
        if old_name != name:
            raise PackageError(
                f"the members {_show(old_name)} and {_show(name)} differ only by case or "
                f"Unicode form; {REMAKE}"
            )
        if kind == "implied":
            if old_kind == "file":
                raise PackageError(f"the file {_show(name)} also holds other members; {REMAKE}")
            return
        if old_kind == "implied" and kind == "dir":
            self.seen[key] = (name, kind)
            return
        if kind != old_kind or old_kind == "implied":
            raise PackageError(f"the member {_show(name)} is both a file and a folder; {REMAKE}")
        raise PackageError(f"the member {_show(name)} appears twice; {REMAKE}")


@dataclass(frozen=True)
class _Member:
    name: str
    parts: tuple[str, ...]
    is_dir: bool
    size: int


class _Source:
    """The archive file with a position; `skip` seeks over data (the header pass), `copy`
    reads it out (the extraction pass)."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.size = os.fstat(f.fileno()).st_size
        self.pos = 0

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        self.pos += len(data)
        return data

    def skip(self, member: _Member) -> int:
        if self.pos + member.size > self.size:
            have = self.size - self.pos
            raise PackageError(
                f"the package is cut short inside {_show(member.name)} "
                f"({have} of {member.size} bytes); {RECOPY}"
            )
        self.f.seek(member.size, os.SEEK_CUR)
        self.pos += member.size
        return member.size

    def copy(self, member: _Member, out: BinaryIO) -> int:
        left = member.size
        while left:
            chunk = self.read(min(left, CHUNK))
            if not chunk:
                raise PackageError(
                    f"the package is cut short inside {_show(member.name)} "
                    f"({member.size - left} of {member.size} bytes); {RECOPY}"
                )
            out.write(chunk)
            left -= len(chunk)
        return member.size


def _number(field: bytes, what: str) -> int:
    text = field.rstrip(b"\x00 ").lstrip(b" ")
    if not text:
        return 0
    if not all(48 <= b <= 55 for b in text):  # octal digits only (no base-256)
        raise PackageError(f"a tar header's {what} is not an octal number; {REMAKE}")
    return int(text, 8)


def _pax_records(data: bytes) -> dict[str, str]:
    """The records of a pax extended header ("LEN key=value\\n" each), checked."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 21)
        length = data[pos:space]
        if space < 0 or not length.isdigit() or int(length) <= space - pos + 1:
            raise PackageError(f"a pax header is malformed; {REMAKE}")
        record = data[pos : pos + int(length)]
        key, eq, value = record[space - pos + 1 : -1].partition(b"=")
        if not record.endswith(b"\n") or not eq:
            raise PackageError(f"a pax header is malformed; {REMAKE}")
        try:
            name, text = key.decode("utf-8"), value.decode("utf-8")
        except UnicodeDecodeError:
            raise PackageError(f"a pax header is not UTF-8; {REMAKE}") from None
        if name.startswith("GNU.sparse"):
            raise PackageError(f"the package holds a sparse member ({name}); {REMAKE}")
        if name == "linkpath":
            raise PackageError(f"the package holds a link (pax linkpath {_show(text)}); {REMAKE}")
        if name not in PAX_RECORDS or name in records:
            raise PackageError(f"a pax header carries an unexpected record {name!r}; {REMAKE}")
        if name in ("size", "uid", "gid") and not (text.isdigit() and len(text) <= 20):
            raise PackageError(f"a pax header's {name} is not a whole number; {REMAKE}")
        records[name] = text
        pos += int(length)
    return records


def _header_name(block: bytes, pax: dict[str, str]) -> tuple[str, str | None]:
    """The member's name (the pax path, else the ustar prefix and name) and, when a pax
    path is given, the ustar name other tools may still use (checked the same way)."""
    name, prefix = block[:100].split(b"\x00")[0], block[345:500].split(b"\x00")[0]
    raw = prefix + b"/" + name if prefix else name
    try:
        ustar = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError(f"a member name is not UTF-8 ({raw[:100]!r}); {REMAKE}") from None
    if "path" in pax:
        return pax["path"], ustar
    return ustar, None


def _members(src: _Source, names: _Names, max_bytes: int, max_files: int) -> Iterator[_Member]:
    """The members of the archive in order, each checked before it is yielded; the caller
    consumes the member's data (skip or copy) before asking for the next."""
    pax: dict[str, str] | None = None
    declared, count, last = 0, 0, None
    while True:
        at = src.pos
        block = src.read(BLOCK)
        if len(block) < BLOCK:
            raise PackageError(
                "the package ends without its end-of-archive marker (cut short after "
                f"{count} members); {RECOPY}"
            )
        if not any(block):
            _end(src, pax, count)
            return
        if not _checksum_ok(block):
            if last is not None:
                raise PackageError(
                    f"the block at byte {at} is not a tar header: the data of "
                    f"{_show(last.name)} is longer than its declared {last.size} bytes, or "
                    f"the package is damaged; {RECOPY}"
                )
            raise PackageError(f"the tar header at byte {at} is damaged; {RECOPY}")
        kind = block[156:157]
        if kind in _TYPES:
            raise PackageError(f"the package holds {_TYPES[kind]}; {REMAKE}")
        if kind not in (b"0", b"\x00", b"5", b"x"):
            raise PackageError(f"the package holds a member of unknown type {kind!r}; {REMAKE}")
        if block[257:265] != POSIX_MAGIC:
            kind_of = "a GNU-format" if block[257:265] == b"ustar  \x00" else "an old-style"
            raise PackageError(f"the package is {kind_of} tar, not POSIX (pax); {REMAKE}")
        size = _number(block[124:136], "size")
        if kind == b"x":
            if pax is not None:
                raise PackageError(f"the package has two pax headers in a row; {REMAKE}")
            if size > PAX_MAX:
                raise PackageError(f"a pax header declares {size} bytes; {REMAKE}")
            data = src.read(size + (-size) % BLOCK)
            if len(data) < size + (-size) % BLOCK:
                raise PackageError(f"the package is cut short inside a pax header; {RECOPY}")
            pax = _pax_records(data[:size])
            continue
        is_dir = kind == b"5"
        name, shadow = _header_name(block, pax or {})
        size = int(pax["size"]) if pax and "size" in pax else size
        pax = None
        if shadow is not None:
            _Names(names.root).check(shadow, is_dir)
        if is_dir and size:
            raise PackageError(f"the folder {_show(name)} declares {size} bytes of data; {REMAKE}")
        count += 1
        if count > max_files:
            raise PackageError(
                f"the package holds more than {max_files} members, over [transfer] max_files; "
                "raise it if such a package is expected, or ask the sender to split it"
            )
        if declared + size > max_bytes:
            raise PackageError(
                f"the member {_show(name)} declares {size} bytes, bringing the package over "
                f"{max_bytes} bytes ([transfer] max_bytes); raise it if such a package is "
                "expected, or ask the sender to split it"
            )
        declared += size
        last = _Member(name, names.add(name, is_dir), is_dir, size)
        yield last
        pad = src.read((-size) % BLOCK)
        if len(pad) < (-size) % BLOCK:
            raise PackageError(f"the package is cut short after {_show(name)}; {RECOPY}")
        if any(pad):
            raise PackageError(
                f"the data of {_show(name)} is longer than its declared {size} bytes; {REMAKE}"
            )


def _end(src: _Source, pax: dict[str, str] | None, count: int) -> None:
    """After the first zero block: the second one, then at most TRAIL_MAX zeros."""
    if pax is not None:
        raise PackageError(f"the package ends with a pax header and no member; {REMAKE}")
    second = src.read(BLOCK)
    if len(second) < BLOCK or any(second):
        raise PackageError(f"the package's end-of-archive marker is cut short or damaged; {RECOPY}")
    trailing = 0
    while chunk := src.read(CHUNK):
        trailing += len(chunk)
        if any(chunk) or trailing > TRAIL_MAX:
            raise PackageError(f"the package has data after its end-of-archive marker; {REMAKE}")
    if count == 0:
        raise PackageError(f"the package holds no member; {REMAKE}")


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
            files, size = _read(f, root, max_bytes, max_files, dest)
    except PackageError as err:
        _remove(top)
        raise PackageError(f"{label}: {err}") from None
    except BaseException:
        _remove(top)
        raise
    PRIVATE.make_dirs(top)  # a package whose members all sit deeper still has its root
    return Extracted(files=files, bytes=size, root=top)


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
    f: BinaryIO, root: str, max_bytes: int, max_files: int, dest: Path | None
) -> tuple[int, int]:
    """One pass over the archive: checks only (dest None) or checks and writes."""
    src, files, total = _Source(f), 0, 0
    for member in _members(src, _Names(root), max_bytes, max_files):
        if dest is None:
            src.skip(member)
            continue
        path = dest.joinpath(*member.parts)
        if member.is_dir:
            PRIVATE.make_dirs(path)
            continue
        PRIVATE.make_dirs(path.parent)
        total += _write_file(path, member, src.copy)
        files += 1
        if total > max_bytes:  # the declared sizes were checked; the copied bytes are too
            raise PackageError(f"the package's data is over {max_bytes} bytes; {REMAKE}")
    return files, total


def _write_file(path: Path, member: _Member, copy: Callable[[_Member, BinaryIO], int]) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise PackageError(f"the member {_show(member.name)} appears twice; {REMAKE}") from None
    PRIVATE.settle(fd)
    with os.fdopen(fd, "wb") as out:
        return copy(member, out)


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
    names, entries = _Names(arcname), []
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
