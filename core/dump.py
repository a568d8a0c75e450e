"""The catalog as a portable dump: every table of the models, in JSON lines, read in one
consistent transaction, and loaded back into an empty catalog of either backend.

    {"format": "kho-catalog-dump", "version": 1, "revision": "0006", "backend": ..., ...}
    {"table": "batches", "columns": [["id", "INTEGER"], ...]}
    {"r": [1, "hs-2024", "2026-12-01T09:45:28.123456", ...]}      one line per row
    ...

Tables come in `Base.metadata.sorted_tables` order (parents first), so a table added to the
models is in the next dump without a change here; rows in primary-key order. Values are typed
by their column: times as ISO 8601, JSON columns as JSON, bytes as base64. Ids are kept, so
the audit log's hash chain still holds after a load; PostgreSQL's sequences are set past them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import IO

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    func,
    select,
    text,
)

from .errors import KhoError, UsageError
from .models import Base

FORMAT, VERSION = "kho-catalog-dump", 1
BATCH_ROWS = 1000


class DumpError(KhoError):
    """A dump this kho cannot load (another format, a newer schema, a damaged line)."""


def dump_catalog(engine: Engine, out: IO[bytes]) -> dict[str, int]:
    """Write every table of the catalog to `out` as JSON lines, all read in one transaction
    (SQLite: one read transaction; PostgreSQL: REPEATABLE READ, read only); returns the
    rows written per table."""
    from kho.migrations import current_revision

    tables = Base.metadata.sorted_tables
    counts: dict[str, int] = {}
    with read_snapshot(engine) as conn:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "revision": current_revision(conn),
            "backend": engine.dialect.name,
            "tables": [t.name for t in tables],
        }
        _line(out, header)
        for table in tables:
            _line(out, {"table": table.name, "columns": [[c.name, str(c.type)] for c in table.c]})
            q = select(table).order_by(*table.primary_key.columns)
            n = 0
            for row in conn.execution_options(yield_per=BATCH_ROWS).execute(q):
                _line(out, {"r": [_encode(v) for v in row]})
                n += 1
            counts[table.name] = n
    return counts


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose every read sees the catalog as of one moment."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")  # deferred: the first read fixes the snapshot (WAL)
            try:
                yield conn
            finally:
                conn.rollback()
        return
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def empty_catalog(engine: Engine) -> bool:
    """True if no table of the models holds a row."""
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if conn.execute(select(func.count()).select_from(table)).scalar():
                return False
    return True


def load_catalog(
    engine: Engine, lines: Iterable[bytes], on_rows: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Write a dump into an empty catalog (migrated to this kho's schema) in one
    transaction, ids kept; returns the rows loaded per table. UsageError if the catalog
    holds anything; DumpError if the dump is not one this kho can load."""
    if not empty_catalog(engine):
        raise UsageError(
            f"the catalog {engine.url.render_as_string()} is not empty: "
            "restore into a new, empty database"
        )
    stream = iter(lines)
    header = _header(stream)
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        table, names, decoders = None, [], []
        batch: list[dict] = []
        for raw in stream:
            item = _parse(raw)
            if "table" in item:
                _insert(conn, table, batch, on_rows)
                table, names, decoders = _columns(tables, item)
                counts[table.name] = 0
                batch = []
                continue
            if table is None:
                raise DumpError("the catalog dump has a row before any table: it is damaged")
            batch.append({n: d(v) for n, d, v in zip(names, decoders, item["r"], strict=True)})
            counts[table.name] += 1
            if len(batch) >= BATCH_ROWS:
                _insert(conn, table, batch, on_rows)
                batch = []
        _insert(conn, table, batch, on_rows)
        if conn.dialect.name == "postgresql":
            reset_sequences(conn)
    missing = set(header["tables"]) - set(counts)
    if missing:
        raise DumpError(f"the catalog dump ends early (no {', '.join(sorted(missing))})")
    return counts


def reset_sequences(conn: Connection) -> None:
    """PostgreSQL: each table's id sequence past the ids loaded, so new rows follow them."""
    for table in Base.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            continue
        name, col = table.name, pk[0].name
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), "
                f"COALESCE((SELECT MAX({col}) FROM {name}), 0) + 1, false)"
            ),
            {"t": name, "c": col},
        )


def _header(stream: Iterator[bytes]) -> dict:
    from kho.migrations import known_revision

    try:
        header = _parse(next(stream))
    except StopIteration:
        raise DumpError("the catalog dump is empty") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DumpError(f"not a {FORMAT} version {VERSION} file")
    revision = header.get("revision")
    if revision and not known_revision(revision):
        raise DumpError(
            f"the catalog dump is of schema {revision}, newer than this kho knows: "
            "restore it with the kho version that made it (see `kho backup list`)"
        )
    return header


def _columns(tables: dict, item: dict):
    table = tables.get(item["table"])
    if table is None:
        raise DumpError(f"the catalog dump has a table {item['table']!r} this kho does not know")
    names = [name for name, _type in item["columns"]]
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise DumpError(f"the catalog dump's {table.name} has columns this kho lacks: {unknown}")
    return table, names, [_decoder(table.c[n].type) for n in names]


def _insert(conn: Connection, table, batch: list[dict], on_rows) -> None:
    if table is not None and batch:
        conn.execute(table.insert(), batch)
        if on_rows:
            on_rows(len(batch))


def _line(out: IO[bytes], obj: dict) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")


def _parse(raw: bytes) -> dict:
    try:
        item = json.loads(raw)
    except ValueError as err:
        raise DumpError(f"the catalog dump has a damaged line: {err}") from None
    if not isinstance(item, dict):
        raise DumpError("the catalog dump has a damaged line")
    return item


def _encode(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(kind) -> Callable:
    """How a column's JSON value becomes the Python value its type takes."""

    def typed(parse):
        return lambda v: None if v is None else parse(v)

    if isinstance(kind, DateTime):
        return typed(datetime.fromisoformat)
    if isinstance(kind, Date):
        return typed(date.fromisoformat)
    if isinstance(kind, LargeBinary):
        return typed(base64.b64decode)
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return typed(Decimal)
    return lambda v: v
