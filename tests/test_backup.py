"""Backup sets through the real CLI, on the bundled samples/: incremental, verified,
refused when damaged, and restored onto an empty storage root and an empty catalog of
either backend with every row (the audit chain whole) and every file back."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from sqlalchemy import create_engine, select

from kho.core.models import Base
from kho.synth.scratch import scratch_pg_database

from .conftest import need_service, run_kho
from .test_fixity import docs, flip_byte, home, ingest_samples, original, sample_home, tree

__all__ = ["home", "sample_home"]  # fixtures shared with test_fixity


def test_backup_is_incremental_verified_and_refused_when_damaged(home, tmp_path):
    bset, other = tmp_path / "set1", tmp_path / "media-b" / "set2"
    first = run_kho("backup", "create", str(bset), str(other), home=home)
    stored = len(
        {  # what the storage root holds, each content once
            hashlib.sha256(f.read_bytes()).hexdigest()
            for part in ("originals", "docs", "models")
            for f in (home / part).rglob("*")
            if f.is_file()
        }
    )
    assert first.stdout.count(f"{stored} new objects") == 2, first.stdout  # two sets
    second = run_kho("backup", "create", str(bset), home=home)
    assert f"0 new objects (0 bytes) copied, {stored} already in the set" in second.stdout
    snaps = sorted((bset / "snapshots").glob("*.json"))
    assert len(snaps) == 2
    manifest = json.loads(snaps[-1].read_text())
    assert manifest["counts"]["documents"] == 6 and manifest["counts"]["pages"] == 7
    assert not any(p.endswith((".key", ".toml", ".sqlite")) for p in manifest["files"])
    assert "2 snapshots" in run_kho("backup", "verify", str(bset), home=home).stdout
    listed = run_kho("backup", "list", str(bset), home=home).stdout
    assert manifest["id"] in listed

    doc = docs(home)["ket-luan-kiem-tra.png"]
    flip_byte(bset / "objects" / doc[:2] / doc)  # an original's object is named by its id
    bad = run_kho("backup", "verify", str(bset), home=home, check=1)
    assert f"changed object objects/{doc[:2]}/{doc}" in bad.stdout
    target = tmp_path / "restored"
    refused = run_kho("backup", "restore", str(bset), "--to", str(target), home=home, check=1)
    assert "does not verify" in refused.stderr
    assert not (target / "catalog.sqlite").exists() and not (target / "originals").exists()

    # a changed manifest and a missing object are found too
    snaps[0].write_text(snaps[0].read_text().replace('"pages": 7', '"pages": 8'))
    victim = manifest["files"][f"docs/{doc}/page-00001.json"]["sha256"]
    (bset / "objects" / victim[:2] / victim).unlink()
    bad = run_kho("backup", "verify", str(bset), home=home, check=1)
    assert f"snapshot {snaps[0].stem}'s manifest was changed" in bad.stdout
    assert f"missing object {victim[:16]}" in bad.stdout
    # the other medium's set stands on its own, and restores
    assert "0 problems" in run_kho("backup", "verify", str(other), home=home).stdout
    run_kho("backup", "restore", str(other), "--to", str(target), home=home)
    assert tree(target) == tree(home)


def test_backup_keeps_the_good_copy_of_an_original_changed_since(home, tmp_path):
    bset = tmp_path / "set1"
    run_kho("backup", "create", str(bset), home=home)
    doc = docs(home)["ket-luan-kiem-tra.png"]
    flip_byte(original(home, doc))
    res = run_kho("backup", "create", str(bset), home=home, check=1)
    assert "ALARM" in res.stderr and "0 new objects" in res.stdout
    latest = sorted((bset / "snapshots").glob("*.json"))[-1]
    files = json.loads(latest.read_text())["files"]
    assert files[original(home, doc).relative_to(home).as_posix()]["sha256"] == doc


def rows_of(url: str) -> dict[str, list[dict]]:
    """Every row of every catalog table, in primary-key order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: [
                    dict(r._mapping)
                    for r in conn.execute(select(t).order_by(*t.primary_key.columns))
                ]
                for t in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite-to-sqlite", "sqlite-to-pg", "pg-to-sqlite"])
def round_trip(request, tmp_path, sample_home):
    """(source home, its env, target env) for each pair of catalog backends."""
    source_pg, target_pg = request.param.startswith("pg"), request.param.endswith("pg")
    with scratch(source_pg) as source_url, scratch(target_pg) as target_url:
        if source_pg:
            env = {"KHO_DATABASE_URL": source_url}
            home = ingest_samples(tmp_path / "home", env)
        else:
            home = tmp_path / "home"
            shutil.copytree(sample_home, home)
            env, source_url = {}, f"sqlite:///{home / 'catalog.sqlite'}"
        yield home, env, source_url, target_url


class scratch:  # noqa: N801 - a context manager read as a phrase
    """A scratch PostgreSQL database URL when `pg`, else None."""

    def __init__(self, pg: bool):
        self.pg, self.cm = pg, None

    def __enter__(self):
        if not self.pg:
            return None
        self.cm = scratch_pg_database(need_service("PostgreSQL", "KHO_DATABASE_URL"))
        return self.cm.__enter__()

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc) if self.cm else None


@pytest.mark.slow
def test_restore_onto_an_empty_home_gives_every_record_back(round_trip, tmp_path):
    home, env, source_url, target_url = round_trip
    bset = tmp_path / "set1"
    before = rows_of(source_url)  # the create's own audit row follows its dump
    run_kho("backup", "create", str(bset), home=home, env=env)

    new = tmp_path / "new-home"
    target_env = {"KHO_DATABASE_URL": target_url} if target_url else {}
    res = run_kho("backup", "restore", str(bset), "--to", str(new), home=new, env=target_env)
    assert "restored snapshot" in res.stdout
    target_url = target_url or f"sqlite:///{new / 'catalog.sqlite'}"
    after = rows_of(target_url)
    for table, rows in before.items():
        if table == "audit_log":  # the restore adds its own row after them
            assert after[table][: len(rows)] == rows
            assert after[table][-1]["action"] == "backup-restore"
        else:
            assert after[table] == rows, table
    assert before["pages"] and before["fixity"] and before["audit_log"]
    assert tree(new) == tree(home)
    assert not (new / "cursor.key").exists() and not (new / "kho.toml").exists()

    shutil.copy2(home / "kho.toml", new / "kho.toml")  # carried by hand, as the README says
    run_kho("audit", "verify", home=new, env=target_env)
    run_kho("reindex", home=new, env=target_env)  # the index is not in a backup
    for doc in before["documents"]:
        shown = run_kho("show", doc["id"][:12], home=new, env=target_env).stdout
        assert doc["filename"] in shown and f"{doc['page_count']}" in shown
    hits = run_kho("search", "quyết định", "--json", home=new, env=target_env).stdout
    assert json.loads(hits), "nothing found after restore + reindex"
    assert "0 alarms" in run_kho("verify", home=new, env=target_env).stdout
    run_kho("audit", "verify", home=new, env=target_env)  # new rows chain on (ids, sequences)

    again = run_kho(
        "backup", "restore", str(bset), "--to", str(new), home=new, env=target_env, check=2
    )
    assert "not empty" in again.stderr
