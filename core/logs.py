"""Logging: every process appends to `$KHO_HOME/logs/kho.log`, the record of what happened.

Worker processes log there only (their lines would break a progress bar); doors print
summaries themselves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from pathlib import Path

from kho.core.secrets import redact_text

# what a line is about (batch, doc, page): set by the stage that runs, added to every line
_scope: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("kho_log_scope", default=())


def os_user() -> str:
    """The operating-system account running this process ("" if it has no name)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s%(scope)s: %(message)s"


@contextmanager
def log_scope(**fields: object) -> Iterator[None]:
    """Every log line written inside says what it is about, e.g. `[doc=3f2a9c01b7de page=2]`."""
    merged = dict(_scope.get())
    merged.update({k: str(v) for k, v in fields.items() if v not in (None, "")})
    token = _scope.set(tuple(merged.items()))
    try:
        yield
    finally:
        _scope.reset(token)


def scoped(func: Callable) -> Callable:
    """A stage `f(ctx, doc_id, page=None, ...)` whose log lines name its document and page."""

    @wraps(func)
    def wrapper(ctx, doc_id, *args, **kwargs):
        page = args[0] if args and isinstance(args[0], int) else kwargs.get("page")
        with log_scope(doc=str(doc_id)[:12], page=page):
            return func(ctx, doc_id, *args, **kwargs)

    return wrapper


class RedactingFormatter(logging.Formatter):
    """Every line (tracebacks included) with what it is about (`log_scope`) and the passwords
    of URLs in it masked."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _scope.get()
        record.scope = " [" + " ".join(f"{k}={v}" for k, v in fields) + "]" if fields else ""
        return redact_text(super().format(record))


class _LogFile(logging.FileHandler):
    """The handler of kho's log file, which knows the file's path (`kho_file`)."""

    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8")
        self.kho_file = str(path)


def setup_logging(home: Path, level: int = logging.INFO) -> Path:
    """Send kho's log lines to the storage root's log file; returns its path."""
    path = Path(home) / "logs" / "kho.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("kho")
    if not any(getattr(h, "kho_file", None) == str(path) for h in logger.handlers):
        handler = _LogFile(path)
        handler.setFormatter(RedactingFormatter(FORMAT))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # a log line that cannot be written (the disk is full) is lost, not a traceback on the
    # screen: the error itself is reported where it happens
    logging.raiseExceptions = False
    os.environ.setdefault("KHO_LOG", str(path))
    return path


def log_file() -> Path | None:
    """The log file this process writes to (None before `setup_logging`)."""
    for handler in logging.getLogger("kho").handlers:
        name = getattr(handler, "kho_file", None)
        if name:
            return Path(name)
    return None


def log_crash(err: BaseException, home: Path) -> Path | None:
    """Write `err` with its traceback to the log file; returns where (None if no log can be
    written: the caller then shows the traceback itself)."""
    path = log_file()
    if path is None:
        try:
            path = setup_logging(home)
        except OSError:
            return None
    logging.getLogger("kho.cli").error(
        "unexpected %s: %s", type(err).__name__, err, exc_info=(type(err), err, err.__traceback__)
    )
    return path
