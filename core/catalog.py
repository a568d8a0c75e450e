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

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    cast,
    create_engine,
    event,
    func,
    literal,
    null,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .errors import ServiceError

# document and page states; a document is QUEUED once all its pages are read and its index
# job was handed to a queue (distributed mode only)
REGISTERED, QUEUED, DONE, FAILED, INDEXED = "registered", "queued", "done", "failed", "indexed"
PENDING, PURGED = "pending", "purged"
# batch file states
FILE_NEW, FILE_DUPLICATE, FILE_FAILED, FILE_SKIPPED = "new", "duplicate", "failed", "skipped"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    operator: Mapped[str] = mapped_column(String(100), default="")
    unit: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[int] = mapped_column(Integer, default=0)
    lang: Mapped[str] = mapped_column(String(50), default="vie+eng")
    sources: Mapped[list] = mapped_column(JSON, default=list)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the bytes
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(10), default="")  # tiff png jpeg pdf
    size: Mapped[int] = mapped_column(Integer, default=0)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    unit: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[int] = mapped_column(Integer, default=0)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    lang: Mapped[str] = mapped_column(String(50), default="vie+eng")
    category: Mapped[str] = mapped_column(String(100), default="", index=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    review: Mapped[str] = mapped_column(String(20), default="")  # "" | pending | accepted
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=REGISTERED, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now, onupdate=now)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime)  # next attempt, if retrying


class BatchFile(Base):
    """One source path seen by one batch: the batch's manifest of what happened to it."""

    __tablename__ = "batch_files"
    __table_args__ = (
        UniqueConstraint("batch_id", "path"),
        Index("ix_batch_files_status_created", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    doc_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (Index("ix_pages_status_updated", "status", "updated_at"),)
    doc_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    page: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based
    status: Mapped[str] = mapped_column(String(20), default=PENDING, index=True)
    source: Mapped[str] = mapped_column(String(20), default="")  # ocr | text-layer
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    skew: Mapped[float] = mapped_column(Float, default=0.0)
    chars: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now, onupdate=now)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime)  # next attempt, if retrying


class AuditEntry(Base):
    """For the record: what an operator did by hand (retry, purge) and every read of the
    archive (search, view, page, file, export) or refusal (denied), by whom."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_action_at", "action", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


@dataclass(frozen=True)
class PageOutcome:
    """What a finished page tells the catalog."""

    source: str
    confidence: float
    rotation: int
    skew: float
    chars: int
    seconds: float


@dataclass(frozen=True)
class BatchCounts:
    name: str
    files: int
    new: int
    duplicate: int
    failed_files: int
    skipped: int
    pages_total: int
    pages_done: int
    pages_failed: int
    docs_total: int
    docs_indexed: int
    docs_failed: int
    pages_retrying: int = 0  # pending, with a failure noted and a retry to come
    pages_purged: int = 0
    docs_queued: int = 0


@dataclass(frozen=True)
class Failure:
    """One failure an operator can act on: a page, a document, or a file of a batch."""

    kind: str  # page | document | file
    batch: str
    doc_id: str
    page: int  # 0 for documents and files
    name: str  # file name (pages, documents) or source path (files)
    reason: str
    final: bool  # failed for good; False: a retry is coming at `retry_at`
    attempts: int
    retry_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class Reset:
    """What `reset_failures` put back to work: pages to read, documents to index."""

    pages: list[tuple[str, int]]
    documents: list[str]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Catalog:
    def __init__(self, url: str, *, migrate: bool = True):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": 30})
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
        return self.engine.url.render_as_string(hide_password=True)

    def _unavailable(self, err: Exception) -> ServiceError:
        cause = getattr(err, "orig", None) or err
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        return ServiceError(f"catalog database {self.safe_url} is unavailable: {first}")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; a lost database connection becomes ServiceError (retry later)."""
        try:
            with self._session() as s, s.begin():
                yield s
        except (OperationalError, InterfaceError) as err:
            raise self._unavailable(err) from err

    def close(self) -> None:
        self.engine.dispose()

    def after_fork(self) -> None:
        """In a forked child: drop the parent's pooled connections without closing them."""
        self.engine.dispose(close=False)

    def audit_log(
        self, limit: int = 50, actor: str = "", action: str = "", before_id: int | None = None
    ) -> list[AuditEntry]:
        """Newest first; `before_id` pages on from the last entry of the previous page."""
        q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if actor:
            q = q.where(AuditEntry.actor == actor)
        if action:
            q = q.where(AuditEntry.action == action)
        if before_id is not None:
            q = q.where(AuditEntry.id < before_id)
        with self.session() as s:
            return list(s.scalars(q))

    def record_access(self, actor: str, action: str, **detail) -> None:
        """One line of the access audit: who read what (or was refused), through which door."""
        with self.session() as s:
            s.add(AuditEntry(actor=actor, action=action, detail=detail))

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

    def find_documents(self, prefix: str, limit: int = 2) -> list[Document]:
        """Documents whose id starts with `prefix` (users type short ids)."""
        with self.session() as s:
            q = select(Document).where(Document.id.startswith(prefix)).limit(limit)
            return list(s.scalars(q))

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

    def claim_for_index(self, doc_id: str, then: Callable[[], None] | None = None) -> bool:
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
            if res.rowcount != 1:
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
            return res.rowcount == 1

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
            return res.rowcount == 1

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
            return res.rowcount == 1

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

    def page_states(self, doc_id: str) -> dict[str, int]:
        with self.session() as s:
            q = select(Page.status, func.count()).where(Page.doc_id == doc_id).group_by(Page.status)
            return {st: n for st, n in s.execute(q)}

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
            pages = dict(
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

    def failures(self, batch_id: int | None = None, limit: int = 100) -> list[tuple[str, str, str]]:
        """(path or doc:page, kind, reason) of failed files and pages, newest first."""
        rows, _ = self.list_failures(batch_id, limit=limit)
        return [
            (f.name if f.kind == "file" else f"{f.doc_id[:12]}:{f.page}", f.kind, f.reason)
            for f in rows
        ]

    def _failure_selects(self, batch_id: int | None, reason: str):
        """One SELECT per kind of failure, with the same columns, for a UNION ALL."""
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
        if reason:
            pages = pages.where(_contains(Page.reason, reason))
            docs = docs.where(_contains(Document.reason, reason))
            files = files.where(_contains(BatchFile.reason, reason))
        return pages, docs, files

    def list_failures(
        self, batch_id: int | None = None, reason: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[list[Failure], int]:
        """Failures (retrying or for good), newest first, one page of them; and their total."""
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
        return [
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
        ], total

    def reset_failures(self, batch_id: int | None = None, reason: str = "") -> Reset:
        """Put failed pages and documents back to work (pending / registered); returns them.

        Files that failed registration are not touched: re-run `kho ingest` on them.
        """
        page_q, doc_q, _ = self._failure_selects(batch_id, reason)
        again = {"status": PENDING, "reason": "", "failed_at": None, "retry_at": None}
        with self.session() as s:
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
            s.add(_audit("retry", batch_id, reason, pages, docs, []))
        return Reset(pages=sorted(pages), documents=docs)

    def purge_failures(self, batch_id: int | None = None, reason: str = "") -> int:
        """Mark failures given up on as purged: they stop counting; an audit line remains.

        Only failures for good are purged; one still retrying is left to its retry.
        """
        page_q, doc_q, file_q = self._failure_selects(batch_id, reason)
        with self.session() as s:
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
            s.add(_audit("purge", batch_id, reason, pages, docs, [p for _, p in files]))
        return len(pages) + len(docs) + len(files)


def _audit(action: str, batch_id, reason: str, pages, docs, files) -> AuditEntry:
    detail = {
        "batch_id": batch_id,
        "reason": reason,
        "pages": [f"{d}:{n}" for d, n in pages],
        "docs": list(docs),
        "files": list(files),
    }
    return AuditEntry(actor=_actor(), action=action, detail=detail)


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    """Bounded IN lists: SQLite caps the number of bound parameters."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


_FAILURE_FIELDS = ("batch_id", "doc_id", "page", "name", "reason", "final", "attempts")
_FAILURE_FIELDS += ("retry_at", "at")


def _failure_columns(kind: str, *columns):
    """A SELECT of one kind of failure with the columns every kind shares, by name."""
    labelled = [c.label(n) for c, n in zip(columns, _FAILURE_FIELDS, strict=True)]
    return select(literal(kind).label("kind"), *labelled)


def _contains(column, text: str):
    """Case-insensitive substring match, portable (LIKE with escaping, no ILIKE)."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
