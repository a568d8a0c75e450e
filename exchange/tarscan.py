"""The strict reader under `exchange.bundle`: kho's own tar parser, not `tarfile`'s. It
accepts exactly what `bundle.write_tar` makes and refuses everything else with one line
(`PackageError`):

- only regular files and folders, in POSIX ustar headers (magic "ustar\\0", version "00")
  with their checksum right; pax extended headers ("x") may carry only the records
  `PAX_RECORDS` (the name, a size, times, owner ids and names), one per member;
- a name is relative, under `root/`, at most NAME_MAX bytes, made of components (255
  bytes at most) that are not empty, "." or "..", with no NUL, backslash or control
  character; a pax path and the ustar name beside it (what a tool ignoring pax would use)
  are both checked; no two names the same once folded to NFC and lower case (a
  case-insensitive disk would merge them), no member inside a file;
- the declared sizes add up to at most `max_bytes` (checked before any data is read),
  there are at most `max_files` members (files and folders);
- a member cut short, padding that is not zeros (data longer than the declared size), or
  an archive without its end-of-archive marker (two zero blocks) is refused: a package cut
  exactly between two members would otherwise pass as a smaller one. After the marker,
  only zeros (record padding, at most TRAIL_MAX bytes) may follow.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .errors import PackageError

BLOCK = 512
CHUNK = 1 << 20
PAX_MAX = 64 * 1024  # one pax header's records
TRAIL_MAX = 1 << 20  # zero padding allowed after the end-of-archive marker
PAX_RECORDS = {"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}
POSIX_MAGIC = b"ustar\x0000"
NAME_MAX = 1024  # bytes of a member name: well under PATH_MAX with the destination before it

REMAKE = "ask the sender for a new package made by kho transfer export"
RECOPY = "copy it again from the sender's medium"

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


def checksum_ok(block: bytes) -> bool:
    """Whether a 512-byte block is a tar header by its checksum (unsigned or signed sums)."""
    try:
        stored = int(block[148:156].strip(b"\x00 ") or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored == unsigned:
        return True
    signed = unsigned - 2 * sum(b for b in block[:148] + block[156:] if b > 127)
    return stored == signed


def show(name: str) -> str:
    """A member name for a one-line message: quoted, escaped, not too long."""
    return repr(name if len(name) <= 100 else name[:100] + "...")


_CONTROL = re.compile("[\x00-\x1f\x7f]")


class Names:
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
            raise PackageError(f"the member name {show(name)} holds a NUL byte; {REMAKE}")
        if "\\" in name:
            raise PackageError(f"the member name {show(name)} holds a backslash; {REMAKE}")
        if _CONTROL.search(name):
            raise PackageError(f"the member name {show(name)} holds a control character; {REMAKE}")
        if name.startswith("/"):
            raise PackageError(f"the member name {show(name)} is absolute; {REMAKE}")
        bare = name[:-1] if is_dir and name.endswith("/") else name
        parts = tuple(bare.split("/"))
        if ".." in parts:
            raise PackageError(f"the member name {show(name)} goes up with '..'; {REMAKE}")
        if any(p in ("", ".") for p in parts):
            raise PackageError(
                f"the member name {show(name)} has an empty or '.' component; {REMAKE}"
            )
        if parts[0] != self.root or (len(parts) == 1 and not is_dir):
            raise PackageError(f"the member {show(name)} is not under {self.root}/; {REMAKE}")
        if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise PackageError(f"the member name {show(name)} is over {NAME_MAX} bytes; {REMAKE}")
        if any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
            raise PackageError(
                f"the member name {show(name)} has a component over 255 bytes; {REMAKE}"
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
                f"the members {show(old_name)} and {show(name)} differ only by case or "
                f"Unicode form; {REMAKE}"
            )
        if kind == "implied":
            if old_kind == "file":
                raise PackageError(f"the file {show(name)} also holds other members; {REMAKE}")
            return
        if old_kind == "implied" and kind == "dir":
            self.seen[key] = (name, kind)
            return
        if kind != old_kind or old_kind == "implied":
            raise PackageError(f"the member {show(name)} is both a file and a folder; {REMAKE}")
        raise PackageError(f"the member {show(name)} appears twice; {REMAKE}")


@dataclass(frozen=True)
class Member:
    name: str
    parts: tuple[str, ...]
    is_dir: bool
    size: int


class Source:
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

    def skip(self, member: Member) -> int:
        if self.pos + member.size > self.size:
            have = self.size - self.pos
            raise PackageError(
                f"the package is cut short inside {show(member.name)} "
                f"({have} of {member.size} bytes); {RECOPY}"
            )
        self.f.seek(member.size, os.SEEK_CUR)
        self.pos += member.size
        return member.size

    def copy(self, member: Member, out: BinaryIO) -> int:
        left = member.size
        while left:
            chunk = self.read(min(left, CHUNK))
            if not chunk:
                raise PackageError(
                    f"the package is cut short inside {show(member.name)} "
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
            raise PackageError(f"the package holds a link (pax linkpath {show(text)}); {REMAKE}")
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


def members(src: Source, names: Names, max_bytes: int, max_files: int) -> Iterator[Member]:
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
        if not checksum_ok(block):
            if last is not None:
                raise PackageError(
                    f"the block at byte {at} is not a tar header: the data of "
                    f"{show(last.name)} is longer than its declared {last.size} bytes, or "
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
            Names(names.root).check(shadow, is_dir)
        if is_dir and size:
            raise PackageError(f"the folder {show(name)} declares {size} bytes of data; {REMAKE}")
        count += 1
        if count > max_files:
            raise PackageError(
                f"the package holds more than {max_files} members, over [transfer] max_files; "
                "raise it if such a package is expected, or ask the sender to split it"
            )
        if declared + size > max_bytes:
            raise PackageError(
                f"the member {show(name)} declares {size} bytes, bringing the package over "
                f"{max_bytes} bytes ([transfer] max_bytes); raise it if such a package is "
                "expected, or ask the sender to split it"
            )
        declared += size
        last = Member(name, names.add(name, is_dir), is_dir, size)
        yield last
        pad = src.read((-size) % BLOCK)
        if len(pad) < (-size) % BLOCK:
            raise PackageError(f"the package is cut short after {show(name)}; {RECOPY}")
        if any(pad):
            raise PackageError(
                f"the data of {show(name)} is longer than its declared {size} bytes; {REMAKE}"
            )


def _end(src: Source, pax: dict[str, str] | None, count: int) -> None:
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
