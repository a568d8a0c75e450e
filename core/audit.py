"""The audit log's hash chain: every row carries the hash of the row before it.

    hash = sha256(prev_hash + "\\n" + canonical row)    canonical row: stable JSON of
                                                        at, actor, action, detail

The first row chains onto GENESIS. Changing a row's fields breaks its own hash; deleting,
inserting or reordering rows breaks the next row's link; `verify` walks the log in id order
and names the first row that does not hold. Rows cut from the end leave a shorter chain that
is still valid: only a head exported before (`export_head`: `[audit] head_file`, syslog, or
`kho audit head` copied by hand) shows that, through `verify(heads=...)`.

The chain stays linear with many writers (web, CLI, workers on several hosts) because each
append runs under one lock: SQLite's write lock taken at BEGIN IMMEDIATE
(`Catalog.session(write=True)`), PostgreSQL's transaction-scoped advisory lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .errors import KhoError
from .models import AuditEntry, now
from .settings import AuditOptions

GENESIS = "0" * 64  # what the first row chains onto
LOCK_KEY = 0x6B686F_0A0D17  # the PostgreSQL advisory lock every audit append takes
WALK_PAGE = 2000  # rows read per query while verifying
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
log = logging.getLogger("kho.audit")


class HeadError(KhoError):
    """An exported head that cannot be read (a usage error: exit 2)."""


def canonical(at: datetime | None, actor: str, action: str, detail) -> str:
    """The row as one stable string: sorted keys, no spaces, microsecond UTC time."""
    row = {
        "at": at.isoformat(timespec="microseconds") if at else None,
        "actor": actor,
        "action": action,
        "detail": detail,
    }
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def row_hash(prev_hash: str, at: datetime | None, actor: str, action: str, detail) -> str:
    body = f"{prev_hash}\n{canonical(at, actor, action, detail)}"
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Appended:
    """A row just chained on: the new head, and the id of the row before it (0: none)."""

    row_id: int
    digest: str
    at: datetime
    prev_id: int


def append(session: Session, actor: str, action: str, detail: dict) -> Appended:
    """Chain one row onto the log inside `session`'s transaction.

    On SQLite the session must hold the write lock before it reads (a session from
    `Catalog.session(write=True)`); on PostgreSQL this takes the advisory lock itself.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev = (last.hash if last else None) or GENESIS
    detail = json.loads(json.dumps(detail))  # what the JSON column gives back (tuples -> lists)
    at = now()
    digest = row_hash(prev, at, actor, action, detail)
    entry = AuditEntry(
        at=at, actor=actor, action=action, detail=detail, prev_hash=prev, hash=digest
    )
    session.add(entry)
    session.flush()  # the id, for the head's export
    return Appended(entry.id, digest, at, last.id if last else 0)


def export_head(opts: AuditOptions, head: Appended) -> None:
    """Copy the head to `[audit] head_file` and syslog, on every `head_every`-th row.

    Runs after the commit; a failure is logged, and the row stands.
    """
    if not (opts.head_file or opts.syslog):
        return
    if head.row_id // opts.head_every == head.prev_id // opts.head_every:
        return
    line = head_line(head.row_id, head.digest, head.at)
    if opts.head_file:
        try:
            fd = os.open(opts.head_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, (line + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            log.error("audit head %s not written to %s: %s", head.row_id, opts.head_file, err)
    if opts.syslog:
        _to_syslog(opts.syslog_address, line)


def head_line(row_id: int, digest: str, at: datetime | None) -> str:
    """One exported head: "2026-12-01T09:45:28Z 1234 <hash>"."""
    stamp = f"{at:%Y-%m-%dT%H:%M:%S}Z" if at else "-"
    return f"{stamp} {row_id} {digest}"


def _to_syslog(address: str, line: str) -> None:
    from logging.handlers import SysLogHandler

    host, _, port = address.rpartition(":")
    target = (host, int(port)) if host and port.isdigit() else address

    class Handler(SysLogHandler):
        def handleError(self, record: logging.LogRecord) -> None:
            # a line in kho.log, not a traceback
            log.error("audit head not sent to syslog %s", address, exc_info=True)

    try:
        handler = Handler(address=target, facility=SysLogHandler.LOG_AUTH)
    except OSError as err:
        log.error("audit head not sent to syslog %s: %s", address, err)
        return
    handler.ident = "kho-audit: "
    try:
        handler.emit(logging.LogRecord("kho.audit", logging.INFO, "", 0, line, (), None))
    finally:
        handler.close()


@dataclass(frozen=True)
class Head:
    """A head exported earlier: the hash of row `row_id` (None: any row)."""

    digest: str
    row_id: int | None = None


def read_heads(value: str) -> Head:
    """`--head`: a hash, "ID HASH", or a head file (the newest line counts).

    Every earlier head in a file is implied: the chain up to the newest one fixes every row
    before it.
    """
    if HASH_RE.match(value.strip().lower()):
        return Head(value.strip().lower())
    path = Path(value)
    if not path.is_file():
        raise HeadError(f"--head {value!r} is neither a 64-hex-digit hash nor a readable head file")
    newest: Head | None = None
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if not line.strip():
            continue
        head = _parse_line(line)
        if head is None:
            raise HeadError(f"{path}:{number}: not a head line (AT ID HASH): {line[:80]!r}")
        if newest is None or (head.row_id or 0) > (newest.row_id or 0):
            newest = head
    if newest is None:
        raise HeadError(f"{path} holds no head yet")
    return newest


def _parse_line(line: str) -> Head | None:
    parts = line.split()
    if len(parts) < 2 or not HASH_RE.match(parts[-1]) or not parts[-2].isdigit():
        return None
    return Head(parts[-1], int(parts[-2]))


@dataclass(frozen=True)
class Verdict:
    """What `verify` found: ok, or the first row that does not hold and why."""

    count: int
    head_id: int
    head: str
    bad_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.bad_id is None


def verify(rows: Iterable[AuditEntry], head: Head | None = None) -> Verdict:
    """Walk the log (rows in id order) and check every link; with `head`, also that the
    chain reaches that exported head."""
    prev, prev_id, count, found = GENESIS, 0, 0, head is None
    for row in rows:
        if not row.hash:
            return Verdict(count, prev_id, prev, row.id, "has no hash: written around kho")
        if row.hash != row_hash(row.prev_hash or "", row.at, row.actor, row.action, row.detail):
            return Verdict(count, prev_id, prev, row.id, "was changed: its fields no longer match")
        if row.prev_hash != prev:
            where = f"row {prev_id}" if prev_id else "the start of the log"
            why = f"does not follow {where}: a row before it was deleted, or rows were reordered"
            return Verdict(count, prev_id, prev, row.id, why)
        if head is not None and head.row_id == row.id and head.digest != row.hash:
            why = "differs from the exported head: the log was rewritten from here on"
            return Verdict(count, prev_id, prev, row.id, why)
        found = found or (head is not None and row.hash == head.digest)
        prev, prev_id, count = row.hash, row.id, count + 1
    if not found and head is not None:
        where = f"row {head.row_id}, " if head.row_id else ""
        why = (
            f"the exported head ({where}{head.digest[:16]}...) is not in the log: rows were "
            "cut from its end, or it was rewritten"
        )
        return Verdict(count, prev_id, prev, head.row_id or prev_id + 1, why)
    return Verdict(count, prev_id, prev)
