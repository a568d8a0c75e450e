"""The catalog's read-only listings for the doors and stages: pages to read again, documents
to reclassify, the review queue, counts for the metrics and the page rate. Mixed into
`catalog.Catalog` (needs its `session()`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

from .models import (
    DONE,
    FAILED,
    FILE_FAILED,
    INDEXED,
    PENDING,
    QUEUED,
    REGISTERED,
    Batch,
    BatchFile,
    Document,
    Page,
)


class ReportQueries:
    """Listings and counts over the catalog, each one query as its caller needs it."""

    if TYPE_CHECKING:  # what `Catalog` gives the mixin

        def session(self, *, write: bool = False) -> AbstractContextManager[Session]: ...

    # pages and documents ----------------------------------------------------------------
    def ocr_pages_of_batch(
        self, batch_id: int, below: float | None = None
    ) -> list[tuple[str, int, Document]]:
        """(doc_id, page, document) of a batch's pages read by OCR (below a confidence if
        given), by document and page."""
        docs = select(BatchFile.doc_id).where(
            BatchFile.batch_id == batch_id, BatchFile.doc_id.is_not(None)
        )
        query = (
            select(Page.doc_id, Page.page, Document)
            .join(Document, Document.id == Page.doc_id)
            .where(Page.doc_id.in_(docs), Page.status == DONE, Page.source == "ocr")
        )
        if below is not None:
            query = query.where(Page.confidence < below)
        with self.session() as s:
            rows = s.execute(query.order_by(Page.doc_id, Page.page))
            return [(doc_id, page, doc) for doc_id, page, doc in rows]

    def indexed_documents(self, batch_id: int | None = None) -> list[Document]:
        """The indexed documents (of one batch if given)."""
        q = select(Document).where(Document.status == "indexed")
        if batch_id is not None:
            q = q.where(
                Document.id.in_(select(BatchFile.doc_id).where(BatchFile.batch_id == batch_id))
            )
        with self.session() as s:
            return list(s.scalars(q))

    def indexed_document_ids(self, after: str = "", limit: int | None = None) -> list[str]:
        """The ids of the indexed documents in id order: those after `after`, the first
        `limit` of them if given (keyset paging: each page one index range scan)."""
        q = select(Document.id).where(Document.status == INDEXED, Document.id > after)
        with self.session() as s:
            return list(s.scalars(q.order_by(Document.id).limit(limit)))

    def count_indexed_documents(self, after: str = "") -> int:
        """How many documents are indexed (with an id before or equal to `after` if given)."""
        q = select(func.count()).select_from(Document).where(Document.status == INDEXED)
        if after:
            q = q.where(Document.id <= after)
        with self.session() as s:
            return int(s.scalar(q) or 0)

    # review -----------------------------------------------------------------------------
    def documents_in_review(self, review: str, limit: int = 50, offset: int = 0) -> list[Document]:
        """Documents in review state `review`, least confident first, paginated."""
        with self.session() as s:
            q = (
                select(Document)
                .where(Document.review == review)
                .order_by(Document.confidence, Document.id)
                .limit(limit)
                .offset(offset)
            )
            return list(s.scalars(q))

    def documents_reviewed(self, states: Sequence[str]) -> list[Document]:
        """Documents whose review state is one of `states`."""
        with self.session() as s:
            return list(s.scalars(select(Document).where(Document.review.in_(states))))

    # counts -----------------------------------------------------------------------------
    def pages_finished_since(self, batch_id: int, since: datetime) -> tuple[int, datetime | None]:
        """How many of a batch's pages were finished (done or failed for good) since
        `since`, and when the first of them was."""
        docs = select(BatchFile.doc_id).where(
            BatchFile.batch_id == batch_id, BatchFile.doc_id.is_not(None)
        )
        q = select(func.count(), func.min(Page.updated_at)).where(
            Page.doc_id.in_(docs),
            Page.status.in_((DONE, FAILED)),
            Page.updated_at >= since,
        )
        with self.session() as s:
            count, first = s.execute(q).one()
        return count, first

    def pages_finished_span(self, batch_id: int) -> tuple[int, datetime | None, datetime | None]:
        """How many of a batch's pages are finished (done or failed for good), when the
        batch was opened and when its last page finished: the batch's working time."""
        docs = select(BatchFile.doc_id).where(
            BatchFile.batch_id == batch_id, BatchFile.doc_id.is_not(None)
        )
        q = select(func.count(), func.max(Page.updated_at)).where(
            Page.doc_id.in_(docs), Page.status.in_((DONE, FAILED))
        )
        with self.session() as s:
            count, last = s.execute(q).one()
            opened = s.scalar(select(Batch.created_at).where(Batch.id == batch_id))
        return count, opened, last

    def state_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Pages by state (pending pages that failed once: "retrying"), documents by state."""
        bucket = case(
            (
                (Page.status == PENDING) & Page.failed_at.is_not(None),
                "retrying",
            ),
            else_=Page.status,
        )
        with self.session() as s:
            rows = s.execute(select(bucket, func.count()).group_by(bucket)).all()
            page_counts: dict[str, int] = dict(rows)
            doc_counts: dict[str, int] = dict(
                s.execute(select(Document.status, func.count()).group_by(Document.status)).all()
            )
        return page_counts, doc_counts

    def reading_seconds(self, buckets: Sequence[float]) -> list[tuple]:
        """Per source of read pages: (source, count, total seconds, count under each bucket)."""
        P = Page
        cols = [func.sum(case((P.seconds <= b, 1), else_=0)) for b in buckets]
        q = (
            select(P.source, func.count(), func.coalesce(func.sum(P.seconds), 0.0), *cols)
            .where(P.status == DONE)
            .group_by(P.source)
        )
        with self.session() as s:
            return [tuple(row) for row in s.execute(q).all()]

    def open_failure_reasons(self) -> list[tuple[str, str, int]]:
        """(kind, reason, count) of open failures (retrying or for good): pages, documents,
        files."""
        P, D, F = Page, Document, BatchFile
        queries = {
            "page": select(P.reason, func.count())
            .where(P.failed_at.is_not(None), P.status.in_((PENDING, FAILED)))
            .group_by(P.reason),
            "document": select(D.reason, func.count())
            .where(
                D.failed_at.is_not(None),
                D.status.in_((FAILED, REGISTERED, QUEUED)),
                D.page_count > 0,
            )
            .group_by(D.reason),
            "file": select(F.reason, func.count())
            .where(F.status == FILE_FAILED)
            .group_by(F.reason),
        }
        found = []
        with self.session() as s:
            for kind, q in queries.items():
                for reason, n in s.execute(q):
                    found.append((kind, reason, n))
        return found
