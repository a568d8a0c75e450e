"""Files under the storage root, with fixed names so a batch can be inspected from disk.

    originals/ab/<sha256>.<ext>       the source file, byte for byte
    docs/<sha256>/page-00001.jpg      the upright, deskewed page image (what OCR read)
    docs/<sha256>/page-00001.screen.jpg   the same reduced for a screen (what pages show)
    docs/<sha256>/page-00001.json     the page's text, confidence and word boxes
    docs/<sha256>/searchable.pdf      image + invisible text layer
    docs/<sha256>/master.pdf          a scan's PDF/A-2b archival master (never served)
Every file kho stores goes through one writer (`atomic_file`): a `.part` file in the target
folder with the mode of the file policy (`core.permissions`), synced, then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from .errors import StorageError
from .permissions import PRIVATE, FilePolicy
from .types import PageText

CHUNK = 1 << 20


class DamagedFileError(StorageError):
    """A stored derivative that can no longer be read as what it is (cut short, changed)."""


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes (`algorithm`: a hashlib name), read a chunk at a time."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def atomic_file(path: Path, policy: FilePolicy, *, replace: bool = True) -> Iterator[BinaryIO]:
    """The one writer of kho's files: yields a binary file that becomes `path` (with the
    policy's mode and group, its folders made with the policy's) only once the block ends
    without error — written to a `.part` beside it, synced, then renamed into place.

    replace=False keeps a `path` that already exists (FileExistsError): for files that
    several processes may race to create once.
    """
    path = Path(path)
    policy.make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        policy.settle(fd)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def key_file(path: Path, policy: FilePolicy, nbytes: int = 32) -> str:
    """The hex key kept in `path`, made whole on first use; a process racing this one to
    make it gets the same key (the first one linked into place wins)."""
    path = Path(path)
    if not path.exists():
        try:
            with atomic_file(path, policy, replace=False) as f:
                f.write(secrets.token_hex(nbytes).encode("ascii"))
        except FileExistsError:
            pass
    return path.read_text(encoding="ascii").strip()


def _sync_dir(folder: Path) -> None:
    """Make a rename durable (a power cut after it keeps the new file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, policy: FilePolicy) -> None:
    with atomic_file(path, policy) as f:
        f.write(data)


def atomic_copy(src: Path, path: Path, policy: FilePolicy) -> None:
    """Copy `src` to `path` through the writer (never touching `src`)."""
    with open(src, "rb") as source, atomic_file(path, policy) as f:
        shutil.copyfileobj(source, f, CHUNK)


class Storage:
    def __init__(self, root: Path, policy: FilePolicy = PRIVATE):
        self.root = Path(root)
        self.policy = policy

    def writer(self, path: Path):
        """`atomic_file` under this root's policy."""
        return atomic_file(path, self.policy)

    def write_bytes(self, path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data, self.policy)

    def copy_in(self, src: Path, path: Path) -> None:
        atomic_copy(src, path, self.policy)

    def original(self, doc_id: str, ext: str) -> Path:
        return self.root / "originals" / doc_id[:2] / f"{doc_id}.{ext}"

    def doc_dir(self, doc_id: str) -> Path:
        return self.root / "docs" / doc_id

    def page_image(self, doc_id: str, page: int) -> Path:
        return self.doc_dir(doc_id) / f"page-{page:05d}.jpg"

    def page_screen(self, doc_id: str, page: int) -> Path:
        """The page image reduced for a screen (`workers.renditions`)."""
        return self.doc_dir(doc_id) / f"page-{page:05d}.screen.jpg"

    def page_text_path(self, doc_id: str, page: int) -> Path:
        return self.doc_dir(doc_id) / f"page-{page:05d}.json"

    def searchable_pdf(self, doc_id: str) -> Path:
        return self.doc_dir(doc_id) / "searchable.pdf"

    def master_pdf(self, doc_id: str) -> Path:
        return self.doc_dir(doc_id) / "master.pdf"

    def store_original(self, src: Path, doc_id: str, ext: str) -> Path:
        """Copy a source file in (never touching the source); a no-op if already stored."""
        dst = self.original(doc_id, ext)
        if dst.exists() and dst.stat().st_size == src.stat().st_size:
            return dst
        self.copy_in(src, dst)
        return dst

    def write_page_text(self, doc_id: str, page: int, text: PageText) -> None:
        data = json.dumps(text.to_json(), ensure_ascii=False).encode("utf-8")
        self.write_bytes(self.page_text_path(doc_id, page), data)

    def read_page_text(self, doc_id: str, page: int) -> PageText:
        path = self.page_text_path(doc_id, page)
        try:
            return PageText.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as err:  # cut short or changed on disk
            raise DamagedFileError(
                f"{path} is damaged ({type(err).__name__}): derive it again with "
                f"kho reocr {doc_id[:12]} (kho verify lists every file that changed)"
            ) from None


class StoredTexts(Mapping[int, PageText]):
    """A document's read pages, page number -> PageText, each read from storage when it is
    asked for and not kept: a document of any length is never in memory at once (a page's
    word boxes are ~50 KiB). `light` keeps every page's text without its boxes, for the
    readers of text alone (classification, the index), read in one pass."""

    def __init__(self, storage: Storage, doc_id: str, numbers: Sequence[int]):
        self._storage, self._doc_id = storage, doc_id
        self._numbers = tuple(sorted(numbers))
        self._known = frozenset(self._numbers)

    def __getitem__(self, page: int) -> PageText:
        if page not in self._known:
            raise KeyError(page)
        return self._storage.read_page_text(self._doc_id, page)

    def __iter__(self) -> Iterator[int]:
        return iter(self._numbers)

    def __len__(self) -> int:
        return len(self._numbers)

    @cached_property
    def light(self) -> dict[int, PageText]:
        """Every page without its word boxes and regions, in page order."""
        return {n: replace(t, words=(), regions=()) for n, t in self.items()}
