"""Files under the storage root, with fixed names so a batch can be inspected from disk.

    originals/ab/<sha256>.<ext>       the source file, byte for byte
    docs/<sha256>/page-00001.jpg      the upright, deskewed page image (what OCR read)
    docs/<sha256>/page-00001.json     the page's text, confidence and word boxes
    docs/<sha256>/searchable.pdf      image + invisible text layer
Every write goes to a `.part` file first and is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .types import PageText

CHUNK = 1 << 20
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give: workers on other hosts read these


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Storage:
    def __init__(self, root: Path):
        self.root = Path(root)

    def original(self, doc_id: str, ext: str) -> Path:
        return self.root / "originals" / doc_id[:2] / f"{doc_id}.{ext}"

    def doc_dir(self, doc_id: str) -> Path:
        return self.root / "docs" / doc_id

    def page_image(self, doc_id: str, page: int) -> Path:
        return self.doc_dir(doc_id) / f"page-{page:05d}.jpg"

    def page_text_path(self, doc_id: str, page: int) -> Path:
        return self.doc_dir(doc_id) / f"page-{page:05d}.json"

    def searchable_pdf(self, doc_id: str) -> Path:
        return self.doc_dir(doc_id) / "searchable.pdf"

    def store_original(self, src: Path, doc_id: str, ext: str) -> Path:
        """Copy a source file in (never touching the source); a no-op if already stored."""
        dst = self.original(doc_id, ext)
        if dst.exists() and dst.stat().st_size == src.stat().st_size:
            return dst
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=dst.name + ".", suffix=".part")
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dst

    def write_page_text(self, doc_id: str, page: int, text: PageText) -> None:
        data = json.dumps(text.to_json(), ensure_ascii=False).encode("utf-8")
        atomic_write_bytes(self.page_text_path(doc_id, page), data)

    def read_page_text(self, doc_id: str, page: int) -> PageText:
        raw = self.page_text_path(doc_id, page).read_text(encoding="utf-8")
        return PageText.from_json(json.loads(raw))
