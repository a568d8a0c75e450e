"""Logging: every process appends to `$KHO_HOME/logs/kho.log`, the record of what happened.

Worker processes log there only (their lines would break a progress bar); doors print
summaries themselves.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kho.core.secrets import redact_text


def os_user() -> str:
    """The operating-system account running this process ("" if it has no name)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Every line (tracebacks included) with the passwords of URLs in it masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def setup_logging(home: Path, level: int = logging.INFO) -> Path:
    """Send kho's log lines to the storage root's log file; returns its path."""
    path = Path(home) / "logs" / "kho.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("kho")
    if not any(getattr(h, "kho_file", None) == str(path) for h in logger.handlers):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(RedactingFormatter(FORMAT))
        handler.kho_file = str(path)
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    os.environ.setdefault("KHO_LOG", str(path))
    return path
