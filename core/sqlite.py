"""What every SQLite file of kho (catalog, embedded index) sets on each connection."""

from __future__ import annotations

import sqlite3
import time

BUSY_TIMEOUT_S = 30.0


def prepare(conn: sqlite3.Connection, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Wait for locks up to `busy_timeout_s`, write-ahead log, fsync at checkpoints only."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    use_wal(conn, busy_timeout_s)
    conn.execute("PRAGMA synchronous = NORMAL")


def use_wal(conn: sqlite3.Connection, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Switch the database to WAL (once: the mode is kept in the file).

    Switching needs the database to itself, and SQLite answers "database is locked" at once
    instead of waiting: processes opening a new file together (workers started at once)
    would fail. So this waits and tries again, up to `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
