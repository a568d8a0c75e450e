"""One error tree for kho, and the exit codes only the CLI maps them to.

Every message says what to do next. Bad input is a *result* recorded on its file
(`BadInputError`); a bad command line, query or argument is the caller's to fix
(`UsageError`); system trouble (`ServiceError`, and `StorageError` under it: a full disk, a
storage root that lost a file) propagates so a queue can retry it and a batch can resume.
`storage_trouble` tells system trouble apart from bad data for the errors libraries raise.
"""

from __future__ import annotations

import errno
import sqlite3
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    ok = 0
    files_failed = 1  # the batch ran, but at least one file or page failed (see `kho status`)
    usage = 2  # bad command line, query, cursor or argument
    not_found = 3  # no such document / path, or not visible to the principal
    missing_dependency = 4  # tesseract or a language pack is missing
    config = 5  # invalid configuration file or environment
    service_unavailable = 6  # Redis, PostgreSQL or Elasticsearch did not answer
    storage = 7  # the storage root is full or unwritable, or lacks a file the catalog names
    refused = 8  # a transfer package or receipt was refused: nothing of it was imported
    held = 9  # a transfer package is kept until an earlier one from its sender arrives
    internal_error = 70  # a bug: the traceback is in the log file
    interrupted = 130  # Ctrl-C: re-run the same command to finish what is missing


class KhoError(Exception):
    """Root of every error kho raises on purpose."""

    exit_code = ExitCode.usage


class UsageError(KhoError):
    """A bad argument, query, cursor or category: the caller fixes the command, not a file."""

    exit_code = ExitCode.usage


class ConfigError(KhoError):
    exit_code = ExitCode.config


class MissingDependencyError(KhoError):
    exit_code = ExitCode.missing_dependency


class ServiceError(KhoError):
    """A service (Redis, PostgreSQL, Elasticsearch) is down or refused: retry later."""

    exit_code = ExitCode.service_unavailable


class StorageError(ServiceError):
    """The storage root cannot take or give a file (disk full, I/O error, read-only): the
    work stays pending and is done again once the storage is back."""

    exit_code = ExitCode.storage


class StoredFileMissingError(StorageError):
    """The catalog names a stored file the storage root does not have."""


class NotFoundError(KhoError):
    exit_code = ExitCode.not_found


class IngestError(KhoError):
    pass


class BadInputError(IngestError):
    """The file itself is unusable (corrupt, encrypted, empty, too big...).

    Recorded on the file with `str(err)` as the reason; never retried. Only for files:
    a bad argument is a `UsageError`.
    """

    exit_code = ExitCode.files_failed


class LimitExceededError(BadInputError):
    """A configured limit (bytes, pixels, pages, seconds, memory) was exceeded."""


class OcrError(KhoError):
    pass


class IndexError_(KhoError):  # noqa: N801 - avoid shadowing the builtin IndexError
    pass


# What the disk or the storage behind it says when it, not the file, is the trouble.
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
STORAGE_ERRNOS = DISK_FULL | {errno.EIO, errno.EROFS, errno.ESTALE, errno.ENOTCONN}
_SQLITE_FULL = {sqlite3.SQLITE_FULL}
_SQLITE_STORAGE = _SQLITE_FULL | {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY}


def storage_trouble(err: BaseException, root: Path | str) -> StorageError | None:
    """The StorageError behind `err` (or its causes), if the storage is the trouble.

    A full disk or quota, an I/O error or a read-only file system, from an OSError or from
    SQLite (the embedded catalog and index live under the storage root too); a missing file
    under the storage root `root` is a file the catalog names and the storage lost. None
    for anything else: a library's OSError without an errno (a corrupt image) is the file's.
    """
    root = Path(root)
    for cause in _causes(err):
        if isinstance(cause, StorageError):
            return cause
        if isinstance(cause, OSError) and cause.errno in STORAGE_ERRNOS:
            where = cause.filename or root
            if cause.errno in DISK_FULL:
                return disk_full(where)
            return StorageError(
                f"storage error at {where}: {cause.strerror or cause}; "
                "check the disk or mount and run the same command again"
            )
        if isinstance(cause, FileNotFoundError) and _under(cause.filename, root):
            return StoredFileMissingError(
                f"{cause.filename} is in the catalog but missing from the storage root {root}: "
                "was it moved, or restored from an older copy? Point KHO_HOME at the storage "
                "root this catalog was filled from"
            )
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(cause, sqlite3.Error) and code is not None and code & 0xFF in _SQLITE_STORAGE:
            if code & 0xFF in _SQLITE_FULL:
                return disk_full(root)
            return StorageError(f"storage error at {root}: {cause}; check the disk and retry")
    return None


def disk_full(where: Path | str) -> StorageError:
    return StorageError(f"disk full at {where}: free space and run the same command again")


def _causes(err: BaseException):
    """`err`, then what it was raised from (and SQLAlchemy's wrapped driver error)."""
    seen: set[int] = set()
    stack: list[object] = [err]
    while stack:
        e = stack.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, getattr(e, "orig", None)]


def _under(name: object, root: Path) -> bool:
    if not isinstance(name, str | Path):
        return False
    try:
        return Path(name).resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False
