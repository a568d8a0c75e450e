"""Failures an operator can act on: list them, run them again, give up on them.

A page or document with `failed_at` set is either retrying (still pending/queued, `retry_at`
says when) or failed for good (status failed, with its reason); a file failed registration.
Retries and purges by hand are written to the audit log. Mixed into `catalog.Catalog`.
Listed for a principal, a failure of a document they may not see keeps its kind, batch and
times but not its name, reason or id (`HIDDEN`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import (
    DateTime,
    case,
    cast,
    func,
    literal,
    null,
    select,
    tuple_,
    union_all,
    update,
)

from .logs import os_user
from .models import (
    DONE,
    FAILED,
    FILE_FAILED,
    INDEXED,
    PENDING,
    PURGED,
    QUEUED,
    REGISTERED,
    BatchFile,
    Document,
    Failure,
    Page,
    Reset,
)
from .types import Access, Principal, can_see

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

HIDDEN = "(tài liệu ẩn)"  # what a principal is shown in place of a document they may not see


class FailureQueries:
    """The catalog's failure queries (needs `session()` from `Catalog`)."""

    if TYPE_CHECKING:  # what `Catalog` gives the mixin

        def session(self, *, write: bool = False) -> AbstractContextManager[Session]: ...

        @staticmethod
        def _batch_doc_ids(batch_id: int) -> Select: ...

        def batch_names(self, ids) -> dict[int, str]: ...

        def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None: ...

    def _failure_selects(self, batch_id: int | None, reason: str, doc_id: str = ""):
        """One SELECT per kind of failure, with the same columns, for a UNION ALL (only
        those of one document with `doc_id`)."""
        in_batch = self._batch_doc_ids(batch_id) if batch_id is not None else None
        pages = (
            _failure_columns(
                "page",
                Document.batch_id,
                Page.doc_id,
                Page.page,
                Document.filename,
                Page.reason,
                case((Page.status == FAILED, 1), else_=0),
                Page.attempts,
                Page.retry_at,
                Page.failed_at,
            )
            .join(Document, Document.id == Page.doc_id)
            .where(Page.failed_at.is_not(None), Page.status.in_((PENDING, FAILED)))
        )
        docs = _failure_columns(
            "document",
            Document.batch_id,
            Document.id,
            literal(0),
            Document.filename,
            Document.reason,
            case((Document.status == FAILED, 1), else_=0),
            literal(0),
            Document.retry_at,
            Document.failed_at,
        ).where(
            Document.failed_at.is_not(None),
            Document.status.in_((FAILED, REGISTERED, QUEUED)),
            Document.page_count > 0,
        )
        files = _failure_columns(
            "file",
            BatchFile.batch_id,
            func.coalesce(BatchFile.doc_id, ""),
            literal(0),
            BatchFile.path,
            BatchFile.reason,
            literal(1),
            literal(1),
            cast(null(), DateTime),
            BatchFile.created_at,
        ).where(BatchFile.status == FILE_FAILED)
        if in_batch is not None:
            pages = pages.where(Page.doc_id.in_(in_batch))
            docs = docs.where(Document.id.in_(in_batch))
            files = files.where(BatchFile.batch_id == batch_id)
        if doc_id:
            pages = pages.where(Page.doc_id == doc_id)
            docs = docs.where(Document.id == doc_id)
            files = files.where(BatchFile.doc_id == doc_id)
        if reason:
            pages = pages.where(_contains(Page.reason, reason))
            docs = docs.where(_contains(Document.reason, reason))
            files = files.where(_contains(BatchFile.reason, reason))
        return pages, docs, files

    def list_failures(
        self,
        batch_id: int | None = None,
        reason: str = "",
        limit: int = 50,
        offset: int = 0,
        principal: Principal | None = None,
    ) -> tuple[list[Failure], int]:
        """Failures (retrying or for good), newest first, one page of them; and their total.
        For a `principal`, those of documents they may not see are `HIDDEN`."""
        both = union_all(*self._failure_selects(batch_id, reason)).subquery()
        q = (
            select(both)
            .order_by(both.c.at.desc(), both.c.doc_id, both.c.page)
            .limit(limit)
            .offset(offset)
        )
        with self.session() as s:
            total = s.scalar(select(func.count()).select_from(both)) or 0
            rows = s.execute(q).all()
        names = self.batch_names({r.batch_id for r in rows if r.batch_id is not None})
        failures = [
            Failure(
                kind=r.kind,
                batch=names.get(r.batch_id, ""),
                doc_id=r.doc_id or "",
                page=r.page,
                name=r.name,
                reason=r.reason,
                final=bool(r.final),
                attempts=r.attempts,
                retry_at=r.retry_at,
                at=r.at,
            )
            for r in rows
        ]
        if principal is not None:
            seen = self.visible_ids({f.doc_id for f in failures}, principal)
            failures = [f if f.doc_id in seen else hide_failure(f) for f in failures]
        return failures, total

    def visible_ids(self, doc_ids, principal: Principal) -> set[str]:
        """Those of `doc_ids` the principal may see (`can_see` on each document's catalog
        record); an id the catalog does not know only for one who may see everything."""
        ids = sorted(set(doc_ids))
        access = {}
        with self.session() as s:
            for part in _chunks(ids):
                q = select(Document.id, Document.level, Document.unit, Document.groups)
                for d, level, unit, groups in s.execute(q.where(Document.id.in_(part))):
                    access[d] = Access(level=level, unit=unit, groups=tuple(groups or ()))
        return {d for d in ids if can_see(principal, access.get(d, SEES_ALL))}

    def reset_failures(self, batch_id: int | None = None, reason: str = "") -> Reset:
        """Put failed pages and documents back to work (pending / registered); returns them.

        Files that failed registration are not touched: re-run `kho ingest` on them.
        """
        page_q, doc_q, _ = self._failure_selects(batch_id, reason)
        again = {"status": PENDING, "reason": "", "failed_at": None, "retry_at": None}
        with self.session(write=True) as s:  # it ends with an audit row
            pages = {(r.doc_id, r.page) for r in s.execute(page_q)}
            failed_docs = [r.doc_id for r in s.execute(doc_q)]
            for part in _chunks(sorted(pages)):
                s.execute(
                    update(Page)
                    .where(tuple_(Page.doc_id, Page.page).in_(part), Page.status != DONE)
                    .values(**again)
                )
            for part in _chunks(failed_docs):  # their failed pages too, else they fail again
                s.execute(
                    update(Page).where(Page.doc_id.in_(part), Page.status == FAILED).values(**again)
                )
            docs = sorted(set(failed_docs) | {d for d, _ in pages})
            reread = sorted({d for d, _ in pages})
            for part in _chunks(reread):  # indexed again once their pages are read
                s.execute(
                    update(Document)
                    .where(Document.id.in_(part), Document.status.in_((FAILED, INDEXED, QUEUED)))
                    .values(status=REGISTERED, reason="")
                )
            for part in _chunks(docs):
                s.execute(
                    update(Document)
                    .where(Document.id.in_(part), Document.status == FAILED)
                    .values(status=REGISTERED, reason="")
                )
                s.execute(
                    update(Document)
                    .where(Document.id.in_(part), Document.status.in_((REGISTERED, QUEUED)))
                    .values(failed_at=None, retry_at=None)
                )
            self.append_audit(s, os_user(), "retry", _detail(batch_id, reason, pages, docs, []))
        return Reset(pages=sorted(pages), documents=docs)

    def purge_failures(
        self, batch_id: int | None = None, reason: str = "", doc_id: str = ""
    ) -> int:
        """Mark failures given up on as purged: they stop counting; an audit line remains.

        Only failures for good are purged; one still retrying is left to its retry. With
        `doc_id`, only that document's.
        """
        page_q, doc_q, file_q = self._failure_selects(batch_id, reason, doc_id)
        with self.session(write=True) as s:  # it ends with an audit row
            pages = sorted((r.doc_id, r.page) for r in s.execute(page_q) if r.final)
            docs = sorted(r.doc_id for r in s.execute(doc_q) if r.final)
            files = [(r.batch_id, r.name) for r in s.execute(file_q)]
            for part in _chunks(pages):
                s.execute(
                    update(Page)
                    .where(tuple_(Page.doc_id, Page.page).in_(part), Page.status == FAILED)
                    .values(status=PURGED)
                )
            for part in _chunks(docs):
                s.execute(
                    update(Document)
                    .where(Document.id.in_(part), Document.status == FAILED)
                    .values(status=PURGED)
                )
            for bid, path in files:
                s.execute(
                    update(BatchFile)
                    .where(BatchFile.batch_id == bid, BatchFile.path == path)
                    .values(status=PURGED)
                )
            paths = [p for _, p in files]
            self.append_audit(s, os_user(), "purge", _detail(batch_id, reason, pages, docs, paths))
        return len(pages) + len(docs) + len(files)


SEES_ALL = Access(level=3, unit="")  # visible only to full clearance over every unit ("*")


def hide_failure(f: Failure) -> Failure:
    """The failure as one who may not see its document is shown it."""
    return replace(f, doc_id="", page=0, name=HIDDEN, reason=HIDDEN)


def _detail(batch_id, reason: str, pages, docs, files) -> dict:
    return {
        "batch_id": batch_id,
        "reason": reason,
        "pages": [f"{d}:{n}" for d, n in pages],
        "docs": list(docs),
        "files": list(files),
    }


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    """Bounded IN lists: SQLite caps the number of bound parameters."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


_FAILURE_FIELDS: tuple[str, ...] = ("batch_id", "doc_id", "page", "name", "reason", "final")
_FAILURE_FIELDS += ("attempts", "retry_at", "at")


def _failure_columns(kind: str, *columns):
    """A SELECT of one kind of failure with the columns every kind shares, by name."""
    labelled = [c.label(n) for c, n in zip(columns, _FAILURE_FIELDS, strict=True)]
    return select(literal(kind).label("kind"), *labelled)


def _contains(column, text: str):
    """Case-insensitive substring match, portable (LIKE with escaping, no ILIKE)."""
    return func.lower(column).contains(text.lower(), autoescape=True)
