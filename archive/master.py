"""A scanned document's archival master, `docs/<id>/master.pdf`: its original pages as
scanned (a scanned PDF's pages rendered in colour at their images' own resolution) with the
text read from them, as PDF/A-2b (`archive.pdfa`).

A born-digital PDF (every page read from its text layer) has no master made: its original,
kept byte for byte, is the master (a signature over its bytes stays valid).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

from PIL import Image

from kho.core.catalog import Document
from kho.core.settings import Limits
from kho.core.storage import Storage
from kho.core.types import PageText
from kho.ingest.formats import ORIENTATION_TAG, open_source
from kho.ingest.register import EXT

from .pdfa import Scan, write_master_pdf

log = logging.getLogger("kho.archive")
LANGUAGES = {"vie": "vi", "eng": "en"}  # tesseract's codes -> dc:language (RFC 3066)


def needs_master(doc: Document, texts: Mapping[int, PageText]) -> bool:
    """Whether kho makes the document's master: any page that was scanned (read by OCR)."""
    return not (doc.kind == "pdf" and all(t.source == "text-layer" for t in texts.values()))


def store_master(
    storage: Storage, limits: Limits, doc: Document, texts: Mapping[int, PageText], title: str
) -> Path | None:
    """Write a scanned document's master through the storage's writer; None (and no file)
    for a born-digital PDF. `texts` maps page numbers to their text; `title` is the record's
    display title when its header gave no subject."""
    out = storage.master_pdf(doc.id)
    if not needs_master(doc, texts):
        out.unlink(missing_ok=True)  # a master of an earlier reading: the original is it now
        return None
    source = storage.original(doc.id, EXT[doc.kind])
    numbers = sorted(texts)
    with storage.writer(out) as f:
        write_master_pdf(
            (texts[n] for n in numbers), scans(source, numbers, limits), dublin_core(doc, title), f
        )
    log.info("doc %s: archival master of %d pages written", doc.id[:12], len(numbers))
    return out


def scans(source: Path, pages: list[int], limits: Limits) -> Iterator[Scan]:
    """The pages (1-based) of an original as scanned, one at a time: a scanned PDF's at its
    images' resolution, a JPEG with its own bytes when they are the page as shown."""
    with open_source(source, limits) as src:
        jpeg = source.read_bytes() if src.kind == "jpeg" and _shown_as_stored(source) else b""
        for n in pages:
            if src.kind == "pdf":
                dpi = src.scan_dpi(n - 1)
                yield Scan(src.render(n - 1, dpi), dpi)
            else:
                yield Scan(src.render(n - 1), src.dpi(n - 1), jpeg)


def _shown_as_stored(path: Path) -> bool:
    """Whether an image has no orientation tag that turns it for display."""
    with Image.open(path) as im:
        return im.getexif().get(ORIENTATION_TAG, 1) == 1


def dublin_core(doc: Document, title: str) -> dict[str, str]:
    """The master's Dublin Core entries from the catalog record and its header fields."""
    meta = doc.meta or {}
    number = "/".join(v for v in (meta.get("number", ""), meta.get("symbol", "")) if v)
    kind = " ".join(v for v in (meta.get("doc_type", ""), number and f"số {number}") if v)
    languages = [LANGUAGES.get(code, code) for code in (doc.lang or "").split("+") if code]
    return {
        "title": meta.get("subject") or title or doc.filename,
        "creator": meta.get("issuer", ""),
        "date": meta.get("date", ""),
        "identifier": f"sha256:{doc.id}",
        "language": languages[0] if languages else "",
        "description": ", ".join(v for v in (kind, doc.filename) if v),
    }
