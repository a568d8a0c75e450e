"""The catalog: batches, documents, pages and their states (SQLAlchemy 2).

The catalog is the source of truth: queues and indexes can be rebuilt from it. The same
code runs on SQLite (embedded) and PostgreSQL (scaled): portable SQL only. State moves are
single conditional UPDATEs, so two workers can never finish one page twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .errors import ServiceError

# document and page states
REGISTERED, DONE, FAILED, INDEXED = "registered", "done", "failed", "indexed"
PENDING = "pending"
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


class BatchFile(Base):
    """One source path seen by one batch: the batch's manifest of what happened to it."""

    __tablename__ = "batch_files"
    __table_args__ = (UniqueConstraint("batch_id", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    doc_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Page(Base):
    __tablename__ = "pages"
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


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Catalog:
    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        try:
            Base.metadata.create_all(self.engine)
        except OperationalError as err:
            raise ServiceError(
                f"catalog database {self.safe_url} is unavailable: {err.orig}"
            ) from err

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()

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
        """Record an unreadable file as a failed document (kept for `kho failed`)."""
        with self.session() as s:
            existing = s.get(Document, doc.id)
            if existing is None:
                s.add(doc)
            elif existing.status == FAILED:
                existing.reason = doc.reason

    def set_document(self, doc_id: str, **values) -> None:
        with self.session() as s:
            s.execute(update(Document).where(Document.id == doc_id).values(**values))

    # pages ---------------------------------------------------------------------------------
    def pending_pages(self, batch_id: int) -> list[tuple[str, int]]:
        """Pages of the batch's documents that still need reading, in document order."""
        with self.session() as s:
            q = (
                select(Page.doc_id, Page.page)
                .join(Document, Document.id == Page.doc_id)
                .where(Document.id.in_(self._batch_doc_ids(batch_id)), Page.status == PENDING)
                .order_by(Page.doc_id, Page.page)
            )
            return [(d, n) for d, n in s.execute(q)]

    def unfinished_documents(self, batch_id: int) -> list[str]:
        """Documents of the batch not yet indexed and not failed."""
        with self.session() as s:
            q = (
                select(Document.id)
                .where(
                    Document.id.in_(self._batch_doc_ids(batch_id)),
                    Document.status.in_((REGISTERED, DONE)),
                )
                .order_by(Document.id)
            )
            return list(s.scalars(q))

    @staticmethod
    def _batch_doc_ids(batch_id: int):
        return select(BatchFile.doc_id).where(
            BatchFile.batch_id == batch_id, BatchFile.doc_id.is_not(None)
        )

    def finish_page(self, doc_id: str, page: int, outcome: PageOutcome) -> bool:
        """Mark a page done; False if another worker already did (nothing changes then)."""
        with self.session() as s:
            res = s.execute(
                update(Page)
                .where(Page.doc_id == doc_id, Page.page == page, Page.status != DONE)
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
                    updated_at=now(),
                )
            )
            return res.rowcount == 1

    def fail_page(self, doc_id: str, page: int, reason: str) -> None:
        with self.session() as s:
            s.execute(
                update(Page)
                .where(Page.doc_id == doc_id, Page.page == page, Page.status != DONE)
                .values(status=FAILED, reason=reason, attempts=Page.attempts + 1, updated_at=now())
            )

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
            pages = dict(
                s.execute(
                    select(Page.status, func.count())
                    .where(Page.doc_id.in_(docs))
                    .group_by(Page.status)
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
            pages_total=sum(pages.values()),
            pages_done=pages.get(DONE, 0),
            pages_failed=pages.get(FAILED, 0),
            docs_total=sum(v for k, v in dstates.items() if k != FAILED),
            docs_indexed=dstates.get(INDEXED, 0),
            docs_failed=dstates.get(FAILED, 0),
        )

    def failures(self, batch_id: int | None = None, limit: int = 100) -> list[tuple[str, str, str]]:
        """(path or doc:page, status, reason) of failed files and pages, newest first."""
        out: list[tuple[str, str, str]] = []
        with self.session() as s:
            q = select(BatchFile.path, BatchFile.reason).where(BatchFile.status == FILE_FAILED)
            if batch_id is not None:
                q = q.where(BatchFile.batch_id == batch_id)
            out += [
                (p, "file", r) for p, r in s.execute(q.order_by(BatchFile.id.desc()).limit(limit))
            ]
            q2 = select(Page.doc_id, Page.page, Page.reason).where(Page.status == FAILED)
            if batch_id is not None:
                q2 = q2.where(Page.doc_id.in_(self._batch_doc_ids(batch_id)))
            q2 = q2.order_by(Page.updated_at.desc()).limit(limit)
            out += [(f"{d[:12]}:{n}", "page", r) for d, n, r in s.execute(q2)]
        return out


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
