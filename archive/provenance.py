"""The PREMIS events of a document in a package, from what the catalog recorded: its
ingestion (the batch), the cleanup of its pages (rotation, skew), the reading of its text
(tesseract and its version, or the PDF's own text layer), the edits people made to its
fields (audit rows archive-edit / archive-place), and the fixity check and validation made
when it is packaged — each with the agents that did it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pikepdf
from sqlalchemy import select

from kho.archive.dossier_export import document_pdf
from kho.archive.mets import Agent, DocumentPart, Event, PackageFile
from kho.archive.records import Member
from kho.core.catalog import Catalog
from kho.core.errors import StorageError
from kho.core.models import AuditEntry, Batch, now
from kho.core.storage import Storage, sha256_file

EDIT_ACTIONS = ("archive-edit", "archive-place")
KHO, TESSERACT = "kho", "tesseract"


@dataclass(frozen=True)
class Provenance:
    """Who packages and with what: kho's and tesseract's versions, the organization."""

    kho_version: str
    tesseract_version: str
    packager: str
    organization: str = ""  # the fonds' organ, the package's custodian

    def agents(self, parts: list[DocumentPart]) -> list[Agent]:
        people = sorted({k for p in parts for e in p.events for k in e.agents} - {KHO, TESSERACT})
        return [
            Agent(KHO, f"kho {self.kho_version}", "software"),
            Agent(TESSERACT, f"tesseract {self.tesseract_version}", "software"),
            Agent("organization", self.organization, "organization"),
            *(Agent(p, p.removeprefix("person:"), "person") for p in people),
        ]


def tool_provenance(packager: str) -> Provenance:
    """The provenance of a package made now by `packager`, with the installed versions."""
    from importlib.metadata import version

    import pytesseract

    return Provenance(version("kho"), str(pytesseract.get_tesseract_version()), packager)


def _person(name: str) -> str:
    return f"person:{name or 'unknown'}"


def document_events(
    catalog: Catalog, storage: Storage, m: Member, original: PackageFile, pdf: PackageFile,
    provenance: Provenance, edits: dict[str, list[Event]],
) -> list[Event]:  # fmt: skip
    """The events of one document, oldest first (fixity and validation last); `edits` is
    `edit_events` of the dossier's documents."""
    doc = m.doc
    events = [_ingestion(catalog, doc), *_processing(catalog, doc, provenance)]
    events += edits.get(doc.id, [])
    events.append(_fixity(storage, doc, original, provenance))
    events.append(_validation(storage, doc, pdf))
    return events


def _ingestion(catalog: Catalog, doc) -> Event:
    with catalog.session() as s:
        batch = s.get(Batch, doc.batch_id) if doc.batch_id is not None else None
    if batch is None:
        return Event("ingestion", doc.created_at, f"file {doc.filename}", (KHO,))
    detail = f"batch {batch.name}: file {doc.filename} ({doc.kind}, {doc.size} bytes)"
    return Event("ingestion", doc.created_at, detail, (KHO, _person(batch.operator)))


def _processing(catalog: Catalog, doc, provenance: Provenance) -> list[Event]:
    pages = catalog.pages(doc.id)
    if not pages:
        return []
    at = max(p.updated_at for p in pages)
    cleaned = [
        f"page {p.page}: rotated {p.rotation}°, deskewed {p.skew:.2f}°"
        for p in pages
        if p.rotation or abs(p.skew) >= 0.01
    ]
    cleanup = "; ".join(cleaned) or "no page needed rotation or deskewing"
    ocr = [p for p in pages if p.source == "ocr"]
    layer = [p for p in pages if p.source == "text-layer"]
    read = f"{len(ocr)} page(s) read by tesseract {provenance.tesseract_version} ({doc.lang})"
    if ocr:
        read += f", mean confidence {sum(p.confidence for p in ocr) / len(ocr):.1f}"
    if layer:
        read += f"; {len(layer)} page(s) from the PDF's text layer"
    return [
        Event("modification", at, f"page cleanup: {cleanup}", (KHO,)),
        Event("transcription", at, f"text recognition: {read}", (KHO, TESSERACT)),
    ]


def edit_events(catalog: Catalog, doc_ids: set[str]) -> dict[str, list[Event]]:
    """Document id -> the edits of its fields and its placings (audit rows archive-edit,
    archive-place naming it), read in one pass over those rows."""
    q = select(AuditEntry).where(AuditEntry.action.in_(EDIT_ACTIONS)).order_by(AuditEntry.id)
    events: dict[str, list[Event]] = {}
    with catalog.session() as s:
        for r in s.scalars(q):
            detail = r.detail or {}
            doc_id = detail.get("doc_id") or detail.get("document")
            if doc_id not in doc_ids:
                continue
            what = {k: detail.get(k) for k in ("before", "after") if k in detail}
            kind = "field edit" if r.action == "archive-edit" else "placed in dossier"
            text = f"{kind}: {json.dumps(what, ensure_ascii=False, default=str)}"
            event = Event("metadata modification", r.at, text, (_person(r.actor),))
            events.setdefault(doc_id, []).append(event)
    return events


def _fixity(storage: Storage, doc, original: PackageFile, provenance: Provenance) -> Event:
    """The stored original still has the SHA-256 it was ingested with (its id)."""
    path = storage.original(doc.id, original.href.rsplit(".", 1)[-1])
    if sha256_file(path) != doc.id:
        raise StorageError(
            f"document {doc.id[:12]}: the stored original {path} no longer has the SHA-256 it "
            "was ingested with; restore it from a backup before packaging"
        )
    detail = f"SHA-256 {doc.id} as ingested; SHA-512 {original.sha512}"
    agents = (KHO, _person(provenance.packager), "organization")
    return Event("fixity check", now(), detail, agents)


def _validation(storage: Storage, doc, pdf: PackageFile) -> Event:
    """The document's PDF opens and has the document's pages; every page has its text."""
    path = storage.doc_dir(doc.id)
    with pikepdf.open(document_pdf(storage, doc.id)) as p:
        count = len(p.pages)
    texts = sum(storage.page_text_path(doc.id, n).is_file() for n in range(1, doc.page_count + 1))
    ok = count == doc.page_count and texts == doc.page_count
    detail = f"PDF {pdf.href.rsplit('/', 1)[-1]}: {count} page(s) of {doc.page_count}; "
    detail += f"page text for {texts} of {doc.page_count} under {path.name}"
    return Event("validation", now(), detail, (KHO,), "success" if ok else "failure")
