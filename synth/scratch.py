"""Throwaway stores for tests and benchmarks: a fresh PostgreSQL database, dropped after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_pg_database(url: str, prefix: str = "kho_t") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `url` (SQLAlchemy URL); its URL.

    Dropped afterwards, even while connections remain (WITH FORCE).
    """
    import psycopg2
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = dict(
        host=base.host,
        port=base.port,
        user=base.username,
        password=base.password,
        dbname="postgres",
    )

    def execute(sql: str) -> None:  # a new connection each time: the server may restart
        conn = psycopg2.connect(**admin)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def descendants(pid: int) -> list[int]:
    """Every live process under `pid` (children, theirs, ...), from /proc (Linux)."""
    out = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child in children.read_text().split():
                out += [int(child), *descendants(int(child))]
    return out
