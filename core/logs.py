"""Logging: every process appends to `$KHO_HOME/logs/kho.log`, the record of what happened.

Worker processes log there only (their lines would break a progress bar); doors print
summaries themselves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def os_user() -> str:
    """The operating-system account running this process ("" if it has no name)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def setup_logging(home: Path, level: int = logging.INFO) -> Path:
    """Send kho's log lines to the storage root's log file; returns its path."""
    path = Path(home) / "logs" / "kho.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("kho")
    if not any(getattr(h, "kho_file", None) == str(path) for h in logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.kho_file = str(path)
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
        if getattr(handler, "kho_file", None):
            return Path(handler.kho_file)
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
