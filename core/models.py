"""The catalog's tables (SQLAlchemy 2 models) and the plain values its queries return.

States: a page is pending, done, failed or purged; a document registered, queued (its index
job handed to a queue), indexed, failed or purged. The queries that move them are in
`catalog.Catalog` (and `failures.FailureQueries`); Alembic migrations in `kho.migrations`
keep databases in step with these models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .settings import DEFAULT_LANG
from .types import Access

# document and page states; a document is QUEUED once all its pages are read and its index
# job was handed to a queue (distributed mode only)
REGISTERED, QUEUED, DONE, FAILED, INDEXED = "registered", "queued", "done", "failed", "indexed"
PENDING, PURGED = "pending", "purged"
# a document of a withdrawn dossier (here, or by the origin of a record received): its rows
# and files are kept, it is never indexed again
WITHDRAWN = "withdrawn"
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
    lang: Mapped[str] = mapped_column(String(50), default=DEFAULT_LANG)
    sources: Mapped[list] = mapped_column(JSON, default=list)


class Fonds(Base):
    """A phông: the records of one organ, under a code; its fields are `archival.FONDS_FIELDS`."""

    __tablename__ = "fonds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(13), unique=True)
    name: Mapped[str] = mapped_column(String(500), default="")
    organ_id: Mapped[str] = mapped_column(String(13), default="")
    status: Mapped[str] = mapped_column(String(10), default="mở")
    history: Mapped[str] = mapped_column(Text, default="")
    scheme: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now, onupdate=now)


class Dossier(Base):
    """A hồ sơ of a fonds, known in it by its notation; its fields are
    `archival.DOSSIER_FIELDS` (the computed ones are worked out from its documents).
    Its access is the one its documents without their own inherit, and its level is
    never below its most secret document's."""

    __tablename__ = "dossiers"
    __table_args__ = (UniqueConstraint("fonds_id", "file_notation"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fonds_id: Mapped[int] = mapped_column(ForeignKey("fonds.id"), index=True)
    organ_id: Mapped[str] = mapped_column(String(13), default="")
    file_catalog: Mapped[int | None] = mapped_column(Integer)
    file_notation: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(500), default="")
    maintenance: Mapped[str] = mapped_column(String(20), default="")
    rights: Mapped[str] = mapped_column(String(50), default="")
    creator: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    keyword: Mapped[str] = mapped_column(String(500), default="")
    access_mode: Mapped[str] = mapped_column(String(50), default="")
    sheet_total: Mapped[int | None] = mapped_column(Integer)
    physical_state: Mapped[str] = mapped_column(String(100), default="")
    info_sign: Mapped[str] = mapped_column(String(30), default="")
    reliability: Mapped[str] = mapped_column(String(50), default="")
    paper_code: Mapped[str] = mapped_column(String(50), default="")
    backup_mode: Mapped[str] = mapped_column(String(50), default="")
    backup_state: Mapped[str] = mapped_column(String(50), default="")
    unit: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[int] = mapped_column(Integer, default=0)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now, onupdate=now)
    # withdrawn by a person here (`kho dossier withdraw`): when, by whom, why
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    withdrawn_by: Mapped[str] = mapped_column(String(100), default="")
    withdrawn_reason: Mapped[str] = mapped_column(Text, default="")

    @property
    def access(self) -> Access:
        return Access(level=self.level, unit=self.unit, groups=tuple(self.groups or ()))


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
    lang: Mapped[str] = mapped_column(String(50), default=DEFAULT_LANG)
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
    # the archive: its dossier, its place there, and the Annex VI fields (archival.py);
    # header fields read from the page are proposals until `confirmed` names them
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id"), index=True)
    doc_ordinal: Mapped[int | None] = mapped_column(Integer)
    type_name: Mapped[str] = mapped_column(String(100), default="")
    code_number: Mapped[str] = mapped_column(String(11), default="")
    code_notation: Mapped[str] = mapped_column(String(30), default="")
    issued_date: Mapped[date | None] = mapped_column(Date, index=True)
    organ_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str] = mapped_column(String(100), default="")
    page_amount: Mapped[int | None] = mapped_column(Integer)
    signer_position: Mapped[str] = mapped_column(String(100), default="")
    signer_name: Mapped[str] = mapped_column(String(100), default="")
    urgency: Mapped[str] = mapped_column(String(20), default="")
    recipients: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    declassify_date: Mapped[date | None] = mapped_column(Date)
    confirmed: Mapped[list] = mapped_column(JSON, default=list)  # fields a person settled
    access_inherited: Mapped[bool] = mapped_column(Boolean, default=False)  # from its dossier

    @property
    def access(self) -> Access:
        """Who may see this document (see `types.can_see`)."""
        return Access(level=self.level, unit=self.unit, groups=tuple(self.groups or ()))


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
    archive (search, view, page, file, export) or refusal (denied), by whom.

    Rows are hash-chained (`audit.append`, `audit.verify`): `hash` covers `prev_hash` and
    the row's fields. Rows are only ever added, never changed or removed.
    """

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
    prev_hash: Mapped[str | None] = mapped_column(String(64))  # the row before's hash
    hash: Mapped[str | None] = mapped_column(String(64))  # sha256(prev_hash, this row)


class WebSession(Base):
    """A web login: the cookie carries a random id, the catalog only its SHA-256, so a
    session ends for good on logout, expiry, or a change of the principal's password."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(100), index=True)
    password_tag: Mapped[str] = mapped_column(String(64))  # digest of the hash logged in with
    client: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


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


class Fixity(Base):
    """What a stored file of a document was when kho last wrote it: its SHA-256 and size,
    so `kho verify` and backups can tell a file that changed or vanished behind kho's back.

    `path` is relative to the storage root. An original's digest is its document's id
    (ids are the SHA-256 of the bytes); derivatives are hashed when written.
    """

    __tablename__ = "fixity"
    path: Mapped[str] = mapped_column(String(500), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # original|page-image|page-text|pdf|master|other
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Peer(Base):
    """Another kho node this one trusts, registered from its identity file (`kho peers
    add`). A peer with `units` may send records of those unit subtrees here; a peer without
    units is one this node sends to (its receipts are checked against its key). A revoked
    peer's key is never accepted again; the row stays for the record.
    """

    __tablename__ = "peers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    organ_id: Mapped[str] = mapped_column(String(13), default="")
    unit: Mapped[str] = mapped_column(String(200), default="")
    sign_key: Mapped[str] = mapped_column(String(64))  # Ed25519 public key, base64
    seal_key: Mapped[str] = mapped_column(String(64))  # X25519 public key, base64
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)  # SHA-256 of sign_key
    units: Mapped[list] = mapped_column(JSON, default=list)  # subtrees it may send for
    added_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    added_by: Mapped[str] = mapped_column(String(100), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str] = mapped_column(String(100), default="")


class Transfer(Base):
    """One transfer package, sent (`out`) to or received (`in`) from a peer. `seq` counts
    per peer and direction from 1; `digest` is the SHA-512 of the package's signed tag
    manifest (its content hash), `prev_digest` the one before it to that peer.

    Sent: `sent`, then `delivered` once the peer's signed receipt is checked. Received:
    `staged` while an import runs (a kill leaves it to be completed by the next run),
    `held` when an earlier package is missing (`path` keeps it), `imported` when done.
    """

    __tablename__ = "transfers"
    __table_args__ = (UniqueConstraint("direction", "peer_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3))  # out | in
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(128), index=True)
    prev_digest: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(20))
    records: Mapped[list] = mapped_column(JSON, default=list)  # [{record, version, kind}]
    path: Mapped[str] = mapped_column(Text, default="")
    operator: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class RecordOrigin(Base):
    """Where a dossier held here came from: the record id it travels under (the first
    node's fingerprint and dossier id, `<fp16>-<id>`), the node and unit that made it, the
    chain of nodes it passed (each hop signed), its version and whether it was withdrawn.
    A dossier made here has no row (its origin is this node)."""

    __tablename__ = "record_origins"
    record: Mapped[str] = mapped_column(String(80), primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), unique=True)
    origin_node: Mapped[str] = mapped_column(String(100), index=True)
    origin_fingerprint: Mapped[str] = mapped_column(String(64))
    origin_unit: Mapped[str] = mapped_column(String(200), default="", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    digest: Mapped[str] = mapped_column(String(128), default="")  # of this version
    chain: Mapped[list] = mapped_column(JSON, default=list)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)


class SentRecord(Base):
    """The last version of a record sent to a peer, and whether the peer's receipt for it
    came back: what `kho transfer export --since-last` compares against."""

    __tablename__ = "sent_records"
    peer_id: Mapped[int] = mapped_column(ForeignKey("peers.id"), primary_key=True)
    record: Mapped[str] = mapped_column(String(80), primary_key=True)
    digest: Mapped[str] = mapped_column(String(128))  # of the record version sent
    version: Mapped[int] = mapped_column(Integer, default=1)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A token for the JSON API (`kho web token create`): it acts as `principal`, with that
    principal's access exactly. Only the SHA-256 of the token is kept; the token itself is
    printed once. A revoked or expired token is refused; the row stays for the record."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    principal: Mapped[str] = mapped_column(String(100), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str] = mapped_column(String(100), default="")
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
