"""The fixity records' queries: what each stored file of a document was when kho wrote it.

Plain functions over a `Catalog` (its `session()`), kept here because all SQL lives in core.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select

from .models import Document, Fixity, now


@dataclass(frozen=True)
class FileRecord:
    """One stored file as recorded: path relative to the storage root."""

    path: str
    doc_id: str
    kind: str
    sha256: str
    size: int


def replace_fixity(catalog, doc_id: str, records: Iterable[FileRecord]) -> int:
    """Make `records` the document's fixity records (the ones it no longer has go), in one
    transaction; returns how many it has now."""
    rows = list(records)
    with catalog.session() as s:
        s.execute(delete(Fixity).where(Fixity.doc_id == doc_id))
        s.flush()
        at = now()
        s.add_all(
            Fixity(
                path=r.path,
                doc_id=r.doc_id,
                kind=r.kind,
                sha256=r.sha256,
                size=r.size,
                recorded_at=at,
            )
            for r in rows
        )
    return len(rows)


def add_fixity(catalog, record: FileRecord) -> None:
    """Record one more file of a document (replacing a record of the same path)."""
    with catalog.session() as s:
        s.merge(
            Fixity(
                path=record.path,
                doc_id=record.doc_id,
                kind=record.kind,
                sha256=record.sha256,
                size=record.size,
                recorded_at=now(),
            )
        )


def fixity_of(catalog, doc_ids: Iterable[str]) -> dict[str, list[FileRecord]]:
    """Document id -> its recorded files, in path order (documents without any are left out)."""
    ids = list(doc_ids)
    found: dict[str, list[FileRecord]] = {}
    with catalog.session() as s:
        for start in range(0, len(ids), 500):
            q = select(Fixity).where(Fixity.doc_id.in_(ids[start : start + 500]))
            for row in s.scalars(q.order_by(Fixity.path)):
                found.setdefault(row.doc_id, []).append(_record(row))
    return found


def fixity_by_path(catalog) -> dict[str, FileRecord]:
    """Every fixity record by its path (for a backup's walk of the storage root)."""
    with catalog.session() as s:
        return {row.path: _record(row) for row in s.scalars(select(Fixity))}


def recorded_among(catalog, ids: Iterable[str]) -> set[str]:
    """Those of `ids` (a page of them) whose documents have fixity records."""
    wanted = list(ids)
    with catalog.session() as s:
        q = select(Fixity.doc_id).where(Fixity.doc_id.in_(wanted)).distinct()
        return set(s.scalars(q))


def document_kinds(catalog, ids: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
    """(id, kind, status) of the given documents (default: all), in id order."""
    q = select(Document.id, Document.kind, Document.status).order_by(Document.id)
    with catalog.session() as s:
        if ids is None:
            return [tuple(r) for r in s.execute(q)]
        wanted = list(ids)
        rows = []
        for start in range(0, len(wanted), 500):
            rows += [
                tuple(r) for r in s.execute(q.where(Document.id.in_(wanted[start : start + 500])))
            ]
        return sorted(rows)


def _record(row: Fixity) -> FileRecord:
    return FileRecord(row.path, row.doc_id, row.kind, row.sha256, row.size)
