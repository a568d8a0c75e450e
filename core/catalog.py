"""The catalog: batches, documents, pages and their states (SQLAlchemy 2).

The catalog is the source of truth: queues and indexes can be rebuilt from it. The same
code runs on SQLite (embedded) and PostgreSQL (scaled): portable SQL only, schema changes
through Alembic (`kho.migrations`). State moves are single conditional UPDATEs, so two
workers can never finish one page twice nor queue one document's index job twice.

Failures are states an operator can act on: a page or document with `failed_at` set is
either retrying (still pending/queued, `retry_at` says when) or failed for good (status
failed, with its reason). `purge_failures` moves the ones given up on to `purged`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import CursorResult, Result, and_, case, create_engine, event, func, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kho.core.secrets import redact_url

from . import audit, sqlite
from .errors import ServiceError
from .failures import FailureQueries
from .hierarchy import HierarchyQueries
from .models import (  # noqa: F401 - the catalog's names, as callers know them (cat.Page)
    DONE,
    FAILED,
    FILE_DUPLICATE,
    FILE_FAILED,
    FILE_NEW,
    FILE_SKIPPED,
    INDEXED,
    PENDING,
    PURGED,
    QUEUED,
    REGISTERED,
    AuditEntry,
    Base,
    Batch,
    BatchCounts,
    BatchFile,
    Document,
    Failure,
    Page,
    PageOutcome,
    Reset,
    now,
)
from .origins import OriginQueries
from .peers import PeerQueries
from .reports import ReportQueries
from .settings import AuditOptions
from .tokens import TokenQueries
from .transfers import TransferQueries
from .types import Access, check_document_id
from .withdrawal import WithdrawalQueries


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    sqlite.prepare(dbapi_conn)
    dbapi_conn.execute("PRAGMA foreign_keys = ON")


def _rowcount(res: Result) -> int:
    """The rows an UPDATE matched: `Session.execute` is typed to give a plain `Result`, but
    for a DML statement it is a `CursorResult`, which has the count."""
    return cast(CursorResult, res).rowcount


def _id_starts(prefix: str):
    """Document ids starting with `prefix`, checked as hex first (LIKE would read '%')."""
    return Document.id.startswith(check_document_id(prefix), autoescape=True)


class Catalog(
    FailureQueries,
    ReportQueries,
    HierarchyQueries,
    PeerQueries,
    OriginQueries,
    TransferQueries,
    WithdrawalQueries,
    TokenQueries,
):
    def __init__(self, url: str, *, migrate: bool = True, audit: AuditOptions | None = None):
        self.url = url
        self.audit_options = audit or AuditOptions()  # where new audit heads are exported
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": sqlite.BUSY_TIMEOUT_S})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            from kho.migrations import upgrade_to_head

            try:
                upgrade_to_head(self.engine)
            except (OperationalError, InterfaceError) as err:
                raise self._unavailable(err) from err

    @property
    def safe_url(self) -> str:
        return redact_url(self.engine.url.render_as_string(hide_password=False))

    def _unavailable(self, err: Exception) -> ServiceError:
        cause = getattr(err, "orig", None) or err
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        return ServiceError(f"catalog database {self.safe_url} is unavailable: {first}")

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """One transaction; a lost database connection becomes ServiceError (retry later).

        `write`: take SQLite's write lock at the start (BEGIN IMMEDIATE), as a transaction
        that appends to the audit log must, so that what it reads is still the head.
        """
        try:
            with self._session() as s, s.begin():
                if write and self.engine.dialect.name == "sqlite":
                    s.connection().exec_driver_sql("BEGIN IMMEDIATE")
                yield s
        except (OperationalError, InterfaceError) as err:
            raise self._unavailable(err) from err

    def close(self) -> None:
        self.engine.dispose()

    def after_fork(self) -> None:
        """In a forked child: drop the parent's pooled connections without closing them."""
        self.engine.dispose(close=False)

    def audit_log(
        self,
        limit: int = 50,
        actor: str = "",
        action: str = "",
        before_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first; `before_id` pages on from the last entry of the previous page;
        `since` (inclusive) and `until` (exclusive) bound the time (naive UTC)."""
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if since is not None:
            q = q.where(AuditEntry.at >= since)
        if until is not None:
            q = q.where(AuditEntry.at < until)
        if actor:
            q = q.where(AuditEntry.actor == actor)
        if action:
            q = q.where(AuditEntry.action == action)
        if before_id is not None:
            q = q.where(AuditEntry.id < before_id)
        with self.session() as s:
            return list(s.scalars(q))

    def count_audit(self, actor: str, action: str, since: datetime) -> int:
        """How many `action` lines `actor` has in the audit log since `since` (UTC)."""
        q = select(func.count()).where(
            AuditEntry.actor == actor, AuditEntry.action == action, AuditEntry.at >= since
        )
        with self.session() as s:
            return int(s.scalar(q) or 0)

    def record_access(self, actor: str, action: str, **detail) -> None:
        """One line of the access audit: who read what (or was refused), through which door."""
        with self.session(write=True) as s:
            self.append_audit(s, actor, action, detail)

    def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None:
        """Chain an audit row onto the log in the transaction of `s` (opened with
        `write=True`); its head is exported once that transaction commits."""
        head = audit.append(s, actor, action, detail)
        event.listen(
            s, "after_commit", lambda _s: audit.export_head(self.audit_options, head), once=True
        )

    def audit_rows(self) -> Iterator[AuditEntry]:
        """Every audit row in id order, read a page at a time (for `audit.verify`)."""
        last = None
        while True:
            q = select(AuditEntry).order_by(AuditEntry.id).limit(audit.WALK_PAGE)
            if last is not None:
                q = q.where(AuditEntry.id > last)
            with self.session() as s:
                rows = list(s.scalars(q))
            yield from rows
            if len(rows) < audit.WALK_PAGE:
                return
            last = rows[-1].id

    def verify_audit(self, head: audit.Head | None = None) -> audit.Verdict:
        """Check the audit log's chain (and, given an exported head, that it reaches it)."""
        return audit.verify(self.audit_rows(), head)

    def audit_head(self) -> AuditEntry | None:
        """The newest audit row: its hash is the head to export."""
        with self.session() as s:
            return s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))

    # batches -----------------------------------------------------------------------------
    def open_batch(
        self, name: str, *, unit: str, level: int, lang: str, sources: list[str], operator: str = ""
    ) -> int:
        """Get or create the batch called `name` (re-running a batch resumes it)."""
        with self.session() as s:
            batch = s.scalar(select(Batch).where(Batch.name == name))
            if batch is None:
                batch = Batch(
                    name=name, unit=unit, level=level, lang=lang, sources=sources, operator=operator
                )
                s.add(batch)
                try:
                    s.flush()
                except IntegrityError:  # created concurrently: take that one
                    s.rollback()
                    return self.open_batch(
                        name, unit=unit, level=level, lang=lang, sources=sources, operator=operator
                    )
            return batch.id

    def batch_id(self, name: str) -> int | None:
        with self.session() as s:
            return s.scalar(select(Batch.id).where(Batch.name == name))

    def batches(self, limit: int = 50) -> list[Batch]:
        with self.session() as s:
            return list(s.scalars(select(Batch).order_by(Batch.id.desc()).limit(limit)))

    def batch_names(self, ids) -> dict[int, str]:
        with self.session() as s:
            return dict(
                s.execute(select(Batch.id, Batch.name).where(Batch.id.in_(list(ids)))).all()
            )

    # documents and files -------------------------------------------------------------------
    def record_file(
        self, batch_id: int, path: str, status: str, doc_id: str | None = None, reason: str = ""
    ) -> None:
        """Note what happened to one source path in a batch (replacing an earlier note)."""
        with self.session() as s:
            row = s.scalar(
                select(BatchFile).where(BatchFile.batch_id == batch_id, BatchFile.path == path)
            )
            if row is None:
                s.add(
                    BatchFile(
                        batch_id=batch_id, path=path, status=status, doc_id=doc_id, reason=reason
                    )
                )
            else:
                row.status, row.doc_id, row.reason = status, doc_id, reason

    def other_path_with_doc(self, batch_id: int, doc_id: str, path: str) -> bool:
        with self.session() as s:
            q = select(BatchFile.id).where(
                BatchFile.batch_id == batch_id, BatchFile.doc_id == doc_id, BatchFile.path != path
            )
            return s.scalar(q.limit(1)) is not None

    def file_status(self, batch_id: int, path: str) -> BatchFile | None:
        with self.session() as s:
            return s.scalar(
                select(BatchFile).where(BatchFile.batch_id == batch_id, BatchFile.path == path)
            )

    def get_document(self, doc_id: str) -> Document | None:
        with self.session() as s:
            return s.get(Document, doc_id)

    def document(self, doc_id: str) -> Document:
        """A document known to be in the catalog (one missing is a bug: RuntimeError)."""
        doc = self.get_document(doc_id)
        if doc is None:
            raise RuntimeError(f"document {doc_id} is not in the catalog")
        return doc

    def find_documents(self, prefix: str, limit: int | None = 2) -> list[Document]:
        """Documents whose id starts with `prefix` (users type short ids): 6-64 lowercase
        hex characters, checked before the query (NotFoundError); `limit` None is all."""
        with self.session() as s:
            q = select(Document).where(_id_starts(prefix)).order_by(Document.id)
            return list(s.scalars(q.limit(limit)))

    def document_accesses(self, prefix: str) -> list[tuple[str, Access]]:
        """(id, access) of every document whose id starts with `prefix` (checked as in
        find_documents): plain rows, so weighing a hidden one costs next to nothing."""
        q = select(Document.id, Document.level, Document.unit, Document.groups)
        with self.session() as s:
            rows = s.execute(q.where(_id_starts(prefix)).order_by(Document.id)).all()
        return [(i, Access(level, unit, tuple(groups or ()))) for i, level, unit, groups in rows]

    def add_document(self, doc: Document) -> bool:
        """Insert a registered document and its pending pages; False if it already exists."""
        with self.session() as s:
            if s.get(Document, doc.id) is not None:
                return False
            s.add(doc)
            s.flush()
            s.add_all(Page(doc_id=doc.id, page=n) for n in range(1, doc.page_count + 1))
            try:
                s.flush()
            except IntegrityError:
                s.rollback()
                return False
        return True

    def add_failed_document(self, doc: Document) -> None:
        """Record an unreadable file as a failed document (listed by `kho failed` as a file)."""
        with self.session() as s:
            existing = s.get(Document, doc.id)
            if existing is None:
                s.add(doc)
            elif existing.status == FAILED:
                existing.reason = doc.reason

    def set_document(self, doc_id: str, **values) -> None:
        """Update a document; moving it to failed or indexed also settles its failure fields."""
        status = values.get("status")
        if status == FAILED:
            values.setdefault("failed_at", now())
            values.setdefault("retry_at", None)
        elif status == INDEXED:
            values.setdefault("failed_at", None)
            values.setdefault("retry_at", None)
        with self.session() as s:
            s.execute(update(Document).where(Document.id == doc_id).values(**values))

    def raise_level(self, doc_id: str, level: int) -> bool:
        """Set a document's level to `level` if it is lower (never lowers); True if raised.
        Its dossier's level follows (never below its most secret document's)."""
        with self.session() as s:
            res = s.execute(
                update(Document)
                .where(Document.id == doc_id, Document.level < level)
                .values(level=level, updated_at=now())
                .execution_options(synchronize_session=False)
            )
            self.raise_dossier_level(s, doc_id, level)
            return _rowcount(res) == 1

    def claim_for_index(self, doc_id: str, then: Callable[[], object] | None = None) -> bool:
        """Move a document whose pages are all read from registered to queued, exactly once.

        `then` (the enqueue) runs inside the same transaction: if it raises, the document
        stays registered and the next finished page (or `kho resume`) claims it again.
        """
        unread = select(Page.doc_id).where(Page.doc_id == doc_id, Page.status == PENDING)
        with self.session() as s:
            res = s.execute(
                update(Document)
                .where(Document.id == doc_id, Document.status == REGISTERED, ~unread.exists())
                .values(status=QUEUED, updated_at=now())
                .execution_options(synchronize_session=False)
            )
            if _rowcount(res) != 1:
                return False
            if then is not None:
                then()
        return True

    def finish_index(self, doc_id: str, reason: str = "") -> bool:
        """Mark the document indexed, unless a page became unread meanwhile (`kho failed
        retry` while its index job ran): then it stays registered, and that page's job
        claims it again when the page is read. Returns whether it was marked."""
        unread = select(Page.doc_id).where(Page.doc_id == doc_id, Page.status == PENDING)
        with self.session() as s:
            res = s.execute(
                update(Document)
                .where(Document.id == doc_id, ~unread.exists())
                .values(status=INDEXED, reason=reason, failed_at=None, retry_at=None)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(res) == 1

    def unclaim_for_index(self, doc_id: str) -> bool:
        """Back from queued to registered while a page is unread again (a retried failure),
        so that page's job claims the document anew when it is read."""
        unread = select(Page.doc_id).where(Page.doc_id == doc_id, Page.status == PENDING)
        with self.session() as s:
            res = s.execute(
                update(Document)
                .where(Document.id == doc_id, Document.status == QUEUED, unread.exists())
                .values(status=REGISTERED, updated_at=now())
                .execution_options(synchronize_session=False)
            )
            return _rowcount(res) == 1

    def note_document_retry(self, doc_id: str, reason: str, retry_at: datetime) -> None:
        """The index step failed for a passing reason and will run again at `retry_at`."""
        with self.session() as s:
            s.execute(
                update(Document)
                .where(Document.id == doc_id, Document.status.in_((REGISTERED, QUEUED)))
                .values(reason=reason, failed_at=now(), retry_at=retry_at, updated_at=now())
            )

    def documents_to_index(self, batch_id: int | None = None) -> list[tuple[str, str]]:
        """(id, status) of registered or queued documents with no page left to read."""
        unread = select(Page.doc_id).where(Page.doc_id == Document.id, Page.status == PENDING)
        q = select(Document.id, Document.status).where(
            Document.status.in_((REGISTERED, QUEUED)), Document.page_count > 0, ~unread.exists()
        )
        if batch_id is not None:
            q = q.where(Document.id.in_(self._batch_doc_ids(batch_id)))
        with self.session() as s:
            return [(d, st) for d, st in s.execute(q.order_by(Document.id))]

    # pages ---------------------------------------------------------------------------------
    def pending_pages(self, batch_id: int | None = None) -> list[tuple[str, int]]:
        """Pages that still need reading (of one batch, or of all), in document order."""
        q = select(Page.doc_id, Page.page).where(Page.status == PENDING)
        if batch_id is not None:
            q = q.where(Page.doc_id.in_(self._batch_doc_ids(batch_id)))
        with self.session() as s:
            return [(d, n) for d, n in s.execute(q.order_by(Page.doc_id, Page.page))]

    def unfinished_documents(self, batch_id: int) -> list[str]:
        """Documents of the batch not yet indexed and not failed."""
        with self.session() as s:
            q = (
                select(Document.id)
                .where(
                    Document.id.in_(self._batch_doc_ids(batch_id)),
                    Document.status.in_((REGISTERED, QUEUED, DONE)),
                )
                .order_by(Document.id)
            )
            return list(s.scalars(q))

    @staticmethod
    def _batch_doc_ids(batch_id: int):
        return select(BatchFile.doc_id).where(
            BatchFile.batch_id == batch_id, BatchFile.doc_id.is_not(None)
        )

    def low_confidence_pages(
        self, below: float, batch_id: int | None = None, limit: int = 50, offset: int = 0
    ) -> list[tuple[Page, str]]:
        """OCR'd pages read with a mean confidence under `below`, least confident first,
        with their document's file name: the pages a person should look at (or re-read)."""
        q = (
            select(Page, Document.filename)
            .join(Document, Document.id == Page.doc_id)
            .where(Page.status == DONE, Page.source == "ocr", Page.confidence < below)
            .order_by(Page.confidence, Page.doc_id, Page.page)
            .limit(limit)
            .offset(offset)
        )
        if batch_id is not None:
            q = q.where(Page.doc_id.in_(self._batch_doc_ids(batch_id)))
        with self.session() as s:
            return [(page, name) for page, name in s.execute(q)]

    def finish_page(self, doc_id: str, page: int, outcome: PageOutcome) -> bool:
        """Mark a page done; False if another worker already did (nothing changes then)."""
        return self._record_page(doc_id, page, outcome, Page.status != DONE)

    def update_page(self, doc_id: str, page: int, outcome: PageOutcome) -> bool:
        """Record a new reading of a page, done or not (`kho reocr`); False if no such page."""
        return self._record_page(doc_id, page, outcome)

    def _record_page(self, doc_id: str, page: int, outcome: PageOutcome, *only_if) -> bool:
        with self.session() as s:
            res = s.execute(
                update(Page)
                .where(Page.doc_id == doc_id, Page.page == page, *only_if)
                .values(
                    status=DONE,
                    reason="",
                    attempts=Page.attempts + 1,
                    source=outcome.source,
                    confidence=outcome.confidence,
                    rotation=outcome.rotation,
                    skew=outcome.skew,
                    chars=outcome.chars,
                    seconds=outcome.seconds,
                    failed_at=None,
                    retry_at=None,
                    updated_at=now(),
                )
            )
            return _rowcount(res) == 1

    def fail_page(self, doc_id: str, page: int, reason: str) -> None:
        """A page failed for good (bad input, or retries exhausted); never undoes a done page."""
        with self.session() as s:
            s.execute(
                update(Page)
                .where(Page.doc_id == doc_id, Page.page == page, Page.status.in_((PENDING, FAILED)))
                .values(
                    status=FAILED,
                    reason=reason,
                    attempts=Page.attempts + 1,
                    failed_at=now(),
                    retry_at=None,
                    updated_at=now(),
                )
            )

    def note_page_retry(self, doc_id: str, page: int, reason: str, retry_at: datetime) -> None:
        """A page failed for a passing reason (a service was down) and runs again at `retry_at`."""
        with self.session() as s:
            s.execute(
                update(Page)
                .where(Page.doc_id == doc_id, Page.page == page, Page.status == PENDING)
                .values(
                    reason=reason,
                    attempts=Page.attempts + 1,
                    failed_at=now(),
                    retry_at=retry_at,
                    updated_at=now(),
                )
            )

    def page_status(self, doc_id: str, page: int) -> str | None:
        with self.session() as s:
            return s.scalar(select(Page.status).where(Page.doc_id == doc_id, Page.page == page))

    def reset_pages(self, doc_id: str, count: int) -> None:
        """Forget a document's pages and register `count` pending ones (re-ingest after failure)."""
        with self.session() as s:
            for page in s.scalars(select(Page).where(Page.doc_id == doc_id)):
                s.delete(page)
            s.flush()
            s.add_all(Page(doc_id=doc_id, page=n) for n in range(1, count + 1))

    def pages(self, doc_id: str) -> list[Page]:
        with self.session() as s:
            return list(s.scalars(select(Page).where(Page.doc_id == doc_id).order_by(Page.page)))

    # reporting -----------------------------------------------------------------------------
    def batch_counts(self, batch_id: int) -> BatchCounts:
        with self.session() as s:
            name = s.scalar(select(Batch.name).where(Batch.id == batch_id)) or ""
            files = dict(
                s.execute(
                    select(BatchFile.status, func.count())
                    .where(BatchFile.batch_id == batch_id)
                    .group_by(BatchFile.status)
                ).all()
            )
            docs = self._batch_doc_ids(batch_id)
            bucket = case(
                (and_(Page.status == PENDING, Page.failed_at.is_not(None)), "retrying"),
                else_=Page.status,
            )
            pages: dict[str, int] = dict(
                s.execute(
                    select(bucket, func.count()).where(Page.doc_id.in_(docs)).group_by(bucket)
                ).all()
            )
            dstates = dict(
                s.execute(
                    select(Document.status, func.count())
                    .where(Document.id.in_(docs))
                    .group_by(Document.status)
                ).all()
            )
        return BatchCounts(
            name=name,
            files=sum(files.values()),
            new=files.get(FILE_NEW, 0),
            duplicate=files.get(FILE_DUPLICATE, 0),
            failed_files=files.get(FILE_FAILED, 0),
            skipped=files.get(FILE_SKIPPED, 0),
            pages_total=sum(v for k, v in pages.items() if k != PURGED),
            pages_done=pages.get(DONE, 0),
            pages_failed=pages.get(FAILED, 0),
            docs_total=sum(v for k, v in dstates.items() if k not in (FAILED, PURGED)),
            docs_indexed=dstates.get(INDEXED, 0),
            docs_failed=dstates.get(FAILED, 0),
            pages_retrying=pages.get("retrying", 0),
            pages_purged=pages.get(PURGED, 0),
            docs_queued=dstates.get(QUEUED, 0),
        )
