"""Fixity: every stored file of a document is recorded (SHA-256, size) when kho writes it,
and re-hashed against that record by `kho verify` and by backups.

An original's digest is its document's id (ids are the SHA-256 of the bytes): an original
that no longer hashes to its id is corrupt, an alarm to restore it from a backup set. Nothing
is ever derived from it again (`checked_original` refuses); a derivative (page image, page
text, searchable PDF) that changed or vanished can be derived again with `kho reocr`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kho.core.errors import StorageError
from kho.core.fixity import FileRecord, add_fixity, document_kinds, fixity_of, replace_fixity
from kho.core.storage import Storage, sha256_file

log = logging.getLogger("kho.fixity")
ORIGINAL, PAGE_IMAGE, PAGE_TEXT, PDF, MASTER, OTHER = (
    "original",
    "page-image",
    "page-text",
    "pdf",
    "master",
    "other",
)
_PAGE_FILE = re.compile(r"^page-\d{5}(\.screen)?\.(jpg|json)$")  # .screen: a rendition
CHECKED_FOR_S = 300.0  # an original hashed this recently (unchanged on disk) is not hashed again
_checked: dict[str, tuple[tuple, float]] = {}


class CorruptOriginalError(StorageError):
    """A stored original no longer hashes to its document's id: restore it, never re-derive."""


def kind_of(relpath: str) -> str:
    """What a stored file is, by its fixed name."""
    parts = relpath.split("/")
    if parts[0] == "originals":
        return ORIGINAL
    name = parts[-1]
    if _PAGE_FILE.match(name):
        return PAGE_IMAGE if name.endswith(".jpg") else PAGE_TEXT
    if name == "searchable.pdf":
        return PDF
    if name.startswith("master"):
        return MASTER
    return OTHER


def is_temporary(path: Path) -> bool:
    """A writer's `.part` file, not yet a stored file."""
    return path.name.startswith(".") and path.name.endswith(".part")


def document_files(storage: Storage, doc_id: str) -> list[Path]:
    """Every stored file of a document: its original, everything under docs/<id>/."""
    originals = sorted((storage.root / "originals" / doc_id[:2]).glob(f"{doc_id}.*"))
    folder = storage.doc_dir(doc_id)
    derived = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return [p for p in originals + derived if not is_temporary(p)]


def relative(storage: Storage, path: Path) -> str:
    return path.relative_to(storage.root).as_posix()


def record_fixity(catalog, storage: Storage, doc_id: str) -> int:
    """Record every stored file of a document as it is now (its original under its id);
    returns how many. Run after kho writes a document's files."""
    records = []
    for path in document_files(storage, doc_id):
        rel = relative(storage, path)
        kind = kind_of(rel)
        digest = doc_id if kind == ORIGINAL else sha256_file(path)
        records.append(FileRecord(rel, doc_id, kind, digest, path.stat().st_size))
    return replace_fixity(catalog, doc_id, records)


def record_file(catalog, storage: Storage, doc_id: str, path: Path) -> None:
    """Record one stored file of a document (written after its others were recorded)."""
    rel = relative(storage, path)
    record = FileRecord(rel, doc_id, kind_of(rel), sha256_file(path), path.stat().st_size)
    add_fixity(catalog, record)


def checked_original(storage: Storage, doc_id: str, ext: str) -> Path:
    """The stored original of a document, once it is known to hash to its id; else
    CorruptOriginalError (a missing one raises FileNotFoundError, as any stored file).
    A file hashed in this process within CHECKED_FOR_S and unchanged on disk is trusted."""
    path = storage.original(doc_id, ext)
    st = path.stat()
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    seen = _checked.get(str(path))
    if seen and seen[0] == key and time.monotonic() - seen[1] < CHECKED_FOR_S:
        return path
    digest = sha256_file(path)
    if digest != doc_id:
        log.error("doc %s: original %s hashes to %s, not its id", doc_id[:12], path, digest)
        raise CorruptOriginalError(
            f"the original of document {doc_id[:12]} ({path}) no longer matches its id "
            f"(sha256 {digest[:12]}...): restore it from a backup set "
            "(kho backup restore); nothing is derived from it, its stored pages stay as they are"
        )
    _checked[str(path)] = (key, time.monotonic())
    return path


@dataclass(frozen=True)
class Alarm:
    """A stored file that is not what it was: changed (another digest) or missing."""

    doc_id: str
    path: str
    kind: str
    problem: str  # changed | missing
    expected: str
    actual: str = ""

    @property
    def line(self) -> str:
        what = "original" if self.kind == ORIGINAL else f"derivative ({self.kind})"
        if self.problem == "changed":
            state = f"changed (sha256 {self.actual[:12]}..., recorded {self.expected[:12]}...)"
        else:
            state = "missing"
        if self.kind == ORIGINAL:
            todo = "restore the original from a backup set (kho backup restore); never re-derive"
        else:
            todo = f"re-derive it with: kho reocr {self.doc_id[:12]}"
        return f"ALARM {what} {state}: {self.path} of document {self.doc_id[:12]}: {todo}"


@dataclass
class VerifyReport:
    documents: int = 0
    files: int = 0
    bytes: int = 0
    unrecorded: int = 0  # documents with no fixity records (only their original was checked)
    alarms: list[Alarm] = field(default_factory=list)

    @property
    def summary(self) -> str:
        originals = sum(a.kind == ORIGINAL for a in self.alarms)
        missing = sum(a.problem == "missing" for a in self.alarms)
        text = (
            f"verify: {self.documents} documents, {self.files} files ({self.bytes:,} bytes) "
            f"checked; {len(self.alarms)} alarms ({originals} originals, "
            f"{len(self.alarms) - originals} derivatives; {missing} missing)"
        )
        if self.unrecorded:
            text += (
                f"; {self.unrecorded} documents without fixity records (only their originals "
                "checked; kho reindex records the files of those indexed)"
            )
        return text


def verify_documents(
    catalog,
    storage: Storage,
    doc_ids: Iterable[str] | None = None,
    on_doc: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Re-hash the stored files of the documents (default: all) against their fixity
    records, and every original against its id; each file that changed or vanished is an
    Alarm (logged as an error). Nothing is written."""
    docs = document_kinds(catalog, doc_ids)
    report = VerifyReport(documents=len(docs))
    for i, (doc_id, _kind, status) in enumerate(docs, start=1):
        records = fixity_of(catalog, [doc_id]).get(doc_id, [])
        if not records:
            report.unrecorded += 1
            records = _original_only(storage, doc_id, status)
        for record in records:
            alarm = _check(storage, record, report)
            if alarm is not None:
                log.error("fixity %s", alarm.line)
                report.alarms.append(alarm)
        if on_doc:
            on_doc(i, len(docs))
    return report


def _original_only(storage: Storage, doc_id: str, status: str) -> list[FileRecord]:
    """What can be checked of a document with no records: its original, by its id (one an
    indexed document lacks is missing; others may never have been stored)."""
    found = [
        p for p in document_files(storage, doc_id) if kind_of(relative(storage, p)) == ORIGINAL
    ]
    if not found and status == "indexed":
        where = f"originals/{doc_id[:2]}/{doc_id}.*"
        return [FileRecord(where, doc_id, ORIGINAL, doc_id, -1)]
    return [FileRecord(relative(storage, p), doc_id, ORIGINAL, doc_id, -1) for p in found]


def _check(storage: Storage, record: FileRecord, report: VerifyReport) -> Alarm | None:
    path = storage.root / record.path
    if not path.is_file():
        return Alarm(record.doc_id, record.path, record.kind, "missing", record.sha256)
    digest = sha256_file(path)
    report.files += 1
    report.bytes += path.stat().st_size
    if digest != record.sha256:
        return Alarm(record.doc_id, record.path, record.kind, "changed", record.sha256, digest)
    return None
