"""The audit log is tamper-evident, on SQLite and PostgreSQL, through the real CLI: rows
changed, deleted or reordered behind kho's back (sqlite3, psycopg2) are named by
`kho audit verify`; rows cut from the end are found against an exported head; many processes
writing at once keep one linear chain; and on PostgreSQL the application's role cannot
UPDATE or DELETE audit rows at all."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

from kho.synth.scratch import scratch_pg_database

from ..conftest import need_service, run_kho


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request, tmp_path):
    """A storage root and its catalog URL (a SQLite file, or a scratch PostgreSQL database)."""
    home = tmp_path / "home"
    if request.param == "sqlite":
        yield {"home": home, "url": f"sqlite:///{home / 'catalog.sqlite'}", "env": {}}
        return
    server = need_service("PostgreSQL", "KHO_DATABASE_URL")
    with scratch_pg_database(server) as url:
        yield {"home": home, "url": url, "env": {"KHO_DATABASE_URL": url}}


def kho(store, *args, check=0, env=None):
    return run_kho(*args, home=store["home"], env={**store["env"], **(env or {})}, check=check)


def connect(url: str):
    """A DB-API connection straight to the catalog, in autocommit: the tamperer's tool."""
    if url.startswith("sqlite:///"):
        return sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg2.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database
    )
    conn.autocommit = True
    return conn


def sql(url: str, *statements: str) -> list:
    conn = connect(url)
    try:
        cur = conn.cursor()
        for statement in statements:
            cur.execute(statement)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def make_rows(store) -> None:
    """Six audit rows by real commands: search, denied, search, status, search, failed-list."""
    for args in (
        ["search", "quyết định"],
        ["show", "ffffffffffff"],
        ["search", "chi bộ"],
        ["status"],
        ["search", "ke hoach"],
        ["failed", "list"],
    ):
        kho(store, *args, check=None)
    assert [r[0] for r in sql(store["url"], "SELECT action FROM audit_log ORDER BY id")] == [
        "search",
        "denied",
        "search",
        "status",
        "search",
        "failed-list",
    ]


def verify_ok(store, *args) -> str:
    out = kho(store, "audit", "verify", *args).stdout
    assert out.startswith("ok: "), out
    return out


def verify_broken(store, *args) -> str:
    return kho(store, "audit", "verify", *args, check=1).stderr


TAMPERING = [
    # (what the tamperer ran, the first bad row, what verify says)
    ("UPDATE audit_log SET actor = 'someone-else' WHERE id = 2", 2, "was changed"),
    ("""UPDATE audit_log SET detail = '{"query": "x"}' WHERE id = 3""", 3, "was changed"),
    ("UPDATE audit_log SET at = '2026-01-01 00:00:00' WHERE id = 4", 4, "was changed"),
    ("DELETE FROM audit_log WHERE action = 'search'", 2, "does not follow the start"),
    ("DELETE FROM audit_log WHERE id = 4", 5, "does not follow row 3"),
    (  # rows 3 and 4 swap places, each with its own hashes
        "UPDATE audit_log SET id = -3 WHERE id = 3;"
        "UPDATE audit_log SET id = 3 WHERE id = 4;"
        "UPDATE audit_log SET id = 4 WHERE id = -3",
        3,
        "does not follow row 2",
    ),
    (
        "INSERT INTO audit_log (id, at, actor, action, detail) "
        "VALUES (99, '2026-01-01 00:00:00', 'clerk', 'view', '{}')",
        99,
        "has no hash",
    ),
]


def test_verify_names_the_first_changed_deleted_or_moved_row(store):
    make_rows(store)
    out = verify_ok(store)
    assert "6 rows chained" in out and "(row 6)" in out
    head = kho(store, "audit", "head").stdout.split()[-1]
    assert head in out
    url = store["url"]
    sql(url, "CREATE TABLE audit_saved AS SELECT * FROM audit_log")
    for statements, bad_id, problem in TAMPERING:
        sql(url, *statements.split(";"))
        err = verify_broken(store)
        assert f"audit log broken at row {bad_id}:" in err, (statements, err)
        assert problem in err, (statements, err)
        sql(url, "DELETE FROM audit_log", "INSERT INTO audit_log SELECT * FROM audit_saved")
        assert head in verify_ok(store)  # put back exactly, it holds again


def test_an_older_catalogs_audit_rows_are_chained_on_upgrade(store):
    from alembic import command

    from kho.core.catalog import Catalog
    from kho.migrations import config

    old = Catalog(store["url"], migrate=False)
    with old.engine.begin() as conn:  # a catalog of the revision before the chain
        command.upgrade(config(conn), "0003")
    old.close()
    for n, action in enumerate(("search", "view", "denied"), start=1):
        sql(
            store["url"],
            "INSERT INTO audit_log (at, actor, action, detail) VALUES "
            f"('2026-11-30 08:00:0{n}.25', 'clerk', '{action}', '{json.dumps({'doc_id': n})}')",
        )
    assert "3 rows chained" in verify_ok(store)  # the first command upgrades, then checks
    kho(store, "search", "chi bộ")  # new rows chain on
    assert "4 rows chained" in verify_ok(store)
    sql(store["url"], "UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
    assert "audit log broken at row 2:" in verify_broken(store)


def test_rows_cut_from_the_end_are_found_against_an_exported_head(store, tmp_path):
    heads = tmp_path / "other-disk" / "kho-audit.heads"
    heads.parent.mkdir()
    config = tmp_path / "kho.toml"
    config.write_text(f'[audit]\nhead_file = "{heads}"\n', encoding="utf-8")
    store["env"]["KHO_CONFIG"] = str(config)
    make_rows(store)
    lines = heads.read_text(encoding="ascii").splitlines()
    assert [line.split()[1] for line in lines] == ["1", "2", "3", "4", "5", "6"]
    assert lines[-1] == kho(store, "audit", "head").stdout.strip()  # every new head appended
    row3 = lines[2].split()[-1]
    url = store["url"]
    sql(url, "CREATE TABLE audit_saved AS SELECT * FROM audit_log")

    sql(url, "DELETE FROM audit_log WHERE id > 4")  # the last two rows cut
    assert "4 rows chained" in verify_ok(store)  # what is left is a valid chain...
    err = verify_broken(store, "--head", str(heads))  # ...that no longer reaches the head
    assert "audit log broken at row 6:" in err and "cut from its end" in err
    verify_ok(store, "--head", row3)  # row 3 is still there
    sql(url, "DELETE FROM audit_log WHERE id > 2")
    assert "cut from its end" in verify_broken(store, "--head", row3)

    # a tamperer who knows the algorithm changes row 2 and rehashes every row after it
    from kho.core.audit import row_hash

    sql(url, "DELETE FROM audit_log", "INSERT INTO audit_log SELECT * FROM audit_saved")
    sql(url, "UPDATE audit_log SET actor = 'someone-else' WHERE id = 2")
    rows = sql(url, "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id")
    prev = "0" * 64
    for row_id, at, actor, action, detail in rows:
        at = at if not isinstance(at, str) else _parse_time(at)
        detail = json.loads(detail) if isinstance(detail, str) else detail
        digest = row_hash(prev, at, actor, action, detail)
        sql(
            url, f"UPDATE audit_log SET prev_hash = '{prev}', hash = '{digest}' WHERE id = {row_id}"
        )
        prev = digest
    verify_ok(store)  # consistent in itself
    err = verify_broken(store, "--head", str(heads))
    assert "audit log broken at row 6:" in err and "rewritten" in err
    verify_broken(store, "--head", row3)


def _parse_time(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_heads_go_to_syslog_every_nth_row(tmp_path):
    address = tmp_path / "log.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(address))
    listener.settimeout(10)
    config = tmp_path / "kho.toml"
    config.write_text(
        f'[audit]\nsyslog = true\nsyslog_address = "{address}"\nhead_every = 2\n', encoding="utf-8"
    )
    store = {"home": tmp_path / "home", "env": {"KHO_CONFIG": str(config)}}
    try:
        for query in ("một", "hai", "ba", "bốn"):
            kho(store, "search", query)
        messages = [listener.recv(4096).decode("ascii").rstrip("\0") for _ in range(2)]
    finally:
        listener.close()
    head = kho(store, "audit", "head").stdout.strip()
    assert [m.split()[-2] for m in messages] == ["2", "4"]  # rows 2 and 4, not 1 and 3
    assert messages[-1] == f"<38>kho-audit: {head}"  # auth.info, the head of row 4


WRITER = """
import sys, time
from kho.core.catalog import Catalog
url, name, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
catalog = Catalog(url)
while time.time() < start:
    time.sleep(0.001)
for i in range(count):
    catalog.record_access(name, "search", via="web", query=f"{name}-{i}")
"""


@pytest.mark.slow
def test_concurrent_writers_keep_one_linear_chain(store):
    kho(store, "status")  # the catalog exists, migrated
    env = {**store["env"], "KHO_HOME": str(store["home"])}
    start = time.time() + 4
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store["url"], f"w{n}", "50", str(start)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    time.sleep(max(0.0, start - time.time() - 1))
    doors = [  # CLI commands writing at the same time: reads, and a retry's own transaction
        subprocess.Popen(
            [sys.executable, "-m", "kho", *args],
            env={**env, "KHO_HOME": str(store["home"])},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["search", "chi bộ"], ["failed", "retry"], ["search", "ke hoach"])
    ]
    for proc in writers + doors:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    out = verify_ok(store)
    assert "204 rows chained" in out, out  # status + 4 x 50 + 3
    rows = sql(store["url"], "SELECT actor, prev_hash FROM audit_log ORDER BY id")
    assert len({prev for _, prev in rows}) == len(rows)  # no two rows chained onto one
    assert sorted({a for a, _ in rows if a.startswith("w")}) == ["w0", "w1", "w2", "w3"]


@pytest.mark.services
def test_the_application_role_cannot_change_or_remove_audit_rows(tmp_path):
    import psycopg2
    from psycopg2 import errors
    from sqlalchemy.engine import make_url

    server = need_service("PostgreSQL", "KHO_DATABASE_URL")
    role, password = f"kho_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with scratch_pg_database(server) as owner_url:
        owner = {
            "home": tmp_path / "home",
            "url": owner_url,
            "env": {"KHO_DATABASE_URL": owner_url},
        }
        make_rows(owner)  # migrated and written by the owner
        grants = kho(owner, "audit", "grant-sql", role).stdout
        app_url = make_url(owner_url).set(username=role, password=password)
        app_url = app_url.render_as_string(hide_password=False)
        sql(owner_url, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'", grants)
        try:
            app = {**owner, "url": app_url, "env": {"KHO_DATABASE_URL": app_url}}
            kho(app, "search", "chi bộ")  # the application works as that role...
            kho(app, "failed", "retry")
            assert "8 rows chained" in verify_ok(app)
            for statement in (
                "UPDATE audit_log SET actor = 'someone-else' WHERE id = 2",
                "DELETE FROM audit_log WHERE action = 'search'",
                "TRUNCATE audit_log",
            ):
                with pytest.raises(errors.InsufficientPrivilege):  # ...but cannot rewrite
                    sql(app_url, statement)
            sql(app_url, "UPDATE documents SET reason = '' WHERE id = 'none'")  # the rest: yes
            assert "8 rows chained" in verify_ok(owner)
        finally:
            conn = psycopg2.connect(**_admin(owner_url))
            conn.autocommit = True
            conn.cursor().execute(f"DROP OWNED BY {role}")
            conn.close()
    sql_admin = psycopg2.connect(**{**_admin(server), "dbname": "postgres"})
    sql_admin.autocommit = True
    sql_admin.cursor().execute(f"DROP ROLE IF EXISTS {role}")
    sql_admin.close()


def _admin(url: str) -> dict:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return dict(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database)


def test_head_file_must_be_a_head(store, tmp_path):
    make_rows(store)
    bad = tmp_path / "heads"
    bad.write_text("not a head\n", encoding="ascii")
    proc = kho(store, "audit", "verify", "--head", str(bad), check=2)
    assert f"{bad}:1: not a head line" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = kho(store, "audit", "verify", "--head", "abc", check=2)
    assert "neither a 64-hex-digit hash nor a readable head file" in proc.stderr
