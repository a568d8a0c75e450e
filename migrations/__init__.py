"""Catalog schema migrations (Alembic), run by `Catalog(url)` up to the newest revision.

The same revisions run on SQLite and PostgreSQL. A catalog made before migrations existed
(tables but no `alembic_version`) is stamped at the baseline, then upgraded. Concurrent
starters wait for one another: a PostgreSQL advisory lock, or a lock file beside a SQLite
database. Developers can also run `alembic -c migrations/alembic.ini upgrade head`.
"""

from __future__ import annotations

if __name__ != "kho.migrations":  # the repository root is the package `kho`: never a second copy
    raise ImportError(f"import kho.migrations, not {__name__}: install the project (scripts/setup)")

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
LOCK_KEY = 0x6B686F  # "kho": the advisory lock all migrating processes share


def config(connection: Connection | None = None):
    """An Alembic Config for these scripts, bound to `connection` if given (no ini file)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head()


def known_revision(revision: str) -> bool:
    """True if `revision` is one of these migrations (a catalog this kho can read)."""
    from alembic.script import ScriptDirectory

    return any(
        s.revision == revision for s in ScriptDirectory.from_config(config()).walk_revisions()
    )


def current_revision(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the catalog schema to the newest revision; cheap when it already is."""
    with engine.connect() as conn:
        if current_revision(conn) == head_revision():
            return
    from alembic import command

    with _exclusive(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        cfg = config(conn)
        tables = set(inspect(conn).get_table_names())
        if "documents" in tables and "alembic_version" not in tables:
            command.stamp(cfg, BASELINE)  # made by create_all before migrations existed
        command.upgrade(cfg, "head")


@contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    """A lock file beside a SQLite database (SQLite DDL does not wait in a transaction)."""
    db = engine.url.database if engine.dialect.name == "sqlite" else None
    if not db or db == ":memory:":
        yield
        return
    with open(f"{db}.migrate-lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
