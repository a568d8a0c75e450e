"""The catalog's state moves and migrations, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text

from kho.core import catalog as cat
from kho.core.catalog import Catalog, PageOutcome
from kho.migrations import config, current_revision, head_revision
from kho.synth.scratch import scratch_pg_database

from .conftest import need_service

OUTCOME = PageOutcome(source="ocr", confidence=90.0, rotation=0, skew=0.0, chars=100, seconds=1.5)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
        return
    server = need_service("PostgreSQL", "KHO_DATABASE_URL")
    with scratch_pg_database(server) as db:
        yield db


@pytest.fixture
def catalog(url) -> Iterator[Catalog]:
    c = Catalog(url)
    yield c
    c.close()


def add_doc(c: Catalog, batch: str, doc_id: str, pages: int, path: str | None = None) -> int:
    batch_id = c.batch_id(batch) or c.open_batch(batch, unit="", level=0, lang="vie", sources=[])
    c.add_document(
        cat.Document(id=doc_id, batch_id=batch_id, filename=f"{doc_id}.tif", page_count=pages)
    )
    c.record_file(batch_id, path or f"/scans/{doc_id}.tif", cat.FILE_NEW, doc_id)
    return batch_id


def test_upgrade_from_empty_gives_the_models_schema(url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    c = Catalog(url)
    with c.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), cat.Base.metadata
        )
    assert diff == [], diff
    Catalog(url).close()  # a second start finds the head and changes nothing
    c.close()


def test_catalog_made_before_migrations_is_stamped_and_upgraded(url):
    from alembic import command

    c = Catalog(url, migrate=False)
    with c.engine.begin() as conn:  # what create_all made before Alembic: revision 0001
        command.upgrade(config(conn), "0001")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(
            text(
                "INSERT INTO documents (id, filename, kind, size, page_count, unit, level, "
                "groups, lang, category, confidence, review, meta, status, reason, created_at, "
                "updated_at) VALUES ('d1', 'a.tif', 'tiff', 1, 1, '', 0, '[]', 'vie', '', 0, "
                "'', '{}', 'registered', '', :t, :t)"
            ),
            {"t": cat.now()},
        )
        conn.execute(
            text(
                "INSERT INTO pages (doc_id, page, status, source, confidence, rotation, skew, "
                "chars, seconds, attempts, reason, updated_at) VALUES ('d1', 1, 'failed', '', "
                "0, 0, 0, 0, 0, 1, 'cannot decode image', :t)"
            ),
            {"t": cat.now()},
        )
    c.close()
    c = Catalog(url)
    assert "audit_log" in inspect(c.engine).get_table_names()
    rows, total = c.list_failures()
    assert total == 1 and rows[0].reason == "cannot decode image" and rows[0].final
    c.close()


def test_page_moves_are_conditional(catalog):
    add_doc(catalog, "b", "d1", 2)
    assert catalog.finish_page("d1", 1, OUTCOME)
    assert not catalog.finish_page("d1", 1, OUTCOME)  # a second worker changes nothing
    catalog.fail_page("d1", 1, "late failure")  # never undoes a done page
    assert catalog.page_status("d1", 1) == cat.DONE
    soon = cat.now() + timedelta(seconds=30)
    catalog.note_page_retry("d1", 2, "ServiceError: catalog down", soon)
    rows, _ = catalog.list_failures()
    assert [(r.page, r.final, r.retry_at) for r in rows] == [(2, False, soon)]
    assert catalog.page_status("d1", 2) == cat.PENDING
    assert catalog.batch_counts(catalog.batch_id("b")).pages_retrying == 1
    catalog.fail_page("d1", 2, "gave up")
    rows, _ = catalog.list_failures()
    assert rows[0].final and rows[0].retry_at is None
    assert catalog.pages("d1")[1].attempts == 2
    reread = PageOutcome(source="ocr", confidence=97.0, rotation=0, skew=0.0, chars=90, seconds=2)
    assert catalog.update_page("d1", 1, reread)  # a new reading replaces a done page's
    assert catalog.pages("d1")[0].confidence == 97.0
    assert not catalog.update_page("d1", 9, reread)


def test_claim_for_index_happens_once_and_only_when_complete(catalog):
    add_doc(catalog, "b", "d1", 2)
    assert not catalog.claim_for_index("d1")  # a page is still pending
    catalog.finish_page("d1", 1, OUTCOME)
    catalog.fail_page("d1", 2, "unreadable")
    calls = []

    def broken_enqueue():
        calls.append(1)
        raise ConnectionError("queue unavailable")

    with pytest.raises(ConnectionError):
        catalog.claim_for_index("d1", then=broken_enqueue)
    assert catalog.get_document("d1").status == cat.REGISTERED  # rolled back: claim again
    assert catalog.claim_for_index("d1", then=lambda: calls.append(2))
    assert not catalog.claim_for_index("d1", then=lambda: calls.append(3))
    assert calls == [1, 2]
    assert catalog.get_document("d1").status == cat.QUEUED
    assert catalog.documents_to_index() == [("d1", cat.QUEUED)]
    # the operator retries the failed page while the index job waits: back to registered
    assert catalog.reset_failures().pages == [("d1", 2)]
    assert catalog.get_document("d1").status == cat.REGISTERED
    assert not catalog.unclaim_for_index("d1")  # only a queued document with unread pages
    catalog.set_document("d1", status=cat.QUEUED)
    assert catalog.unclaim_for_index("d1")
    catalog.finish_page("d1", 2, OUTCOME)
    assert catalog.claim_for_index("d1")  # the page's job claims it again, once
    assert not catalog.unclaim_for_index("d1")


def test_an_index_job_racing_a_retry_leaves_the_document_to_be_indexed_again(catalog):
    add_doc(catalog, "b", "d1", 2)
    catalog.finish_page("d1", 1, OUTCOME)
    catalog.fail_page("d1", 2, "unreadable")
    assert catalog.claim_for_index("d1")  # its index job starts with page 1 only
    catalog.reset_failures()  # meanwhile `kho failed retry`: page 2 is to be read again
    assert not catalog.finish_index("d1", "page 2: unreadable")  # the job ends: not indexed
    assert catalog.get_document("d1").status == cat.REGISTERED
    catalog.finish_page("d1", 2, OUTCOME)
    assert catalog.claim_for_index("d1")  # page 2's job claims the document again
    assert catalog.finish_index("d1")
    doc = catalog.get_document("d1")
    assert doc.status == cat.INDEXED and doc.reason == "" and doc.failed_at is None


def test_low_confidence_pages_least_confident_first(catalog):
    from dataclasses import replace

    add_doc(catalog, "b", "d1", 3)
    add_doc(catalog, "other", "d2", 1)
    catalog.finish_page("d1", 1, replace(OUTCOME, confidence=41.5))
    catalog.finish_page("d1", 2, replace(OUTCOME, confidence=88.0))
    catalog.finish_page("d1", 3, replace(OUTCOME, confidence=12.0, source="text-layer"))
    catalog.finish_page("d2", 1, replace(OUTCOME, confidence=20.0))
    got = [(p.doc_id, p.page, name) for p, name in catalog.low_confidence_pages(60.0)]
    assert got == [("d2", 1, "d2.tif"), ("d1", 1, "d1.tif")]  # text layers are not OCR
    only_b = catalog.low_confidence_pages(60.0, catalog.batch_id("b"))
    assert [(p.doc_id, p.page) for p, _ in only_b] == [("d1", 1)]
    assert [p.doc_id for p, _ in catalog.low_confidence_pages(30.0)] == ["d2"]
    assert [p.page for p, _ in catalog.low_confidence_pages(60.0, limit=1, offset=1)] == [1]


def test_racing_workers_claim_each_document_once(url):
    """Two 'workers' (own engines) finish the two pages of each document at the same time."""
    setup = Catalog(url)
    docs = [f"doc{i:02d}" for i in range(20)]
    for d in docs:
        add_doc(setup, "b", d, 2)
    claims: list[str] = []
    barrier = threading.Barrier(2)

    def work(page: int) -> None:
        c = Catalog(url)
        barrier.wait()
        for d in docs:
            c.finish_page(d, page, OUTCOME)
            if c.claim_for_index(d):
                claims.append(d)
        c.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claims) == docs  # every document once, none twice
    setup.close()


def test_failures_list_retry_and_purge(catalog):
    b1 = add_doc(catalog, "b1", "d1", 3)
    add_doc(catalog, "b2", "d2", 1)
    catalog.record_file(b1, "/scans/bad.pdf", cat.FILE_FAILED, reason="PDF is encrypted")
    catalog.finish_page("d1", 1, OUTCOME)
    catalog.fail_page("d1", 2, "image is empty")
    catalog.fail_page("d1", 3, "tesseract timed out")
    catalog.fail_page("d2", 1, "image is empty")
    rows, total = catalog.list_failures()
    assert total == 4
    assert rows[0].doc_id == "d2"  # newest first
    rows, total = catalog.list_failures(limit=2, offset=2)
    assert total == 4 and len(rows) == 2
    rows, total = catalog.list_failures(b1)
    assert total == 3 and {r.kind for r in rows} == {"page", "file"}
    assert {r.batch for r in rows} == {"b1"}
    rows, total = catalog.list_failures(reason="EMPTY")
    assert total == 2 and {r.doc_id for r in rows} == {"d1", "d2"}
    # the document was indexed with its good page: a retry reads the failed one and re-indexes
    catalog.set_document("d1", status=cat.INDEXED)
    reset = catalog.reset_failures(b1, "timed out")
    assert reset.pages == [("d1", 3)] and reset.documents == ["d1"]
    assert catalog.page_status("d1", 3) == cat.PENDING
    assert catalog.get_document("d1").status == cat.REGISTERED
    assert catalog.pending_pages(b1) == [("d1", 3)]
    assert catalog.purge_failures(b1) == 2  # page d1:2 and the file
    counts = catalog.batch_counts(b1)
    assert (counts.pages_failed, counts.pages_purged, counts.failed_files) == (0, 1, 0)
    assert counts.pages_total == 2  # purged pages stop counting
    _, total = catalog.list_failures()
    assert total == 1  # d2's page is still there
    purge, retry = catalog.audit_log()[:2]
    assert purge.action == "purge" and purge.detail["pages"] == ["d1:2"]
    assert purge.detail["files"] == ["/scans/bad.pdf"]
    assert retry.action == "retry" and retry.detail["pages"] == ["d1:3"]


def test_document_failures_settle_on_status(catalog):
    add_doc(catalog, "b", "d1", 1)
    catalog.finish_page("d1", 1, OUTCOME)
    catalog.claim_for_index("d1")
    catalog.note_document_retry("d1", "Elasticsearch is unavailable", cat.now())
    rows, _ = catalog.list_failures()
    assert rows[0].kind == "document" and not rows[0].final
    catalog.set_document("d1", status=cat.INDEXED)
    assert catalog.list_failures()[1] == 0
    catalog.set_document("d1", status=cat.FAILED, reason="refused by the index")
    rows, _ = catalog.list_failures()
    assert rows[0].final and rows[0].reason == "refused by the index"


@pytest.mark.slow
def test_failure_listing_pages_through_many_rows(catalog):
    """30k failed pages: the newest page of results and the total, through the indexes."""
    n_docs, per_doc = 300, 100
    batch_id = catalog.open_batch("big", unit="", level=0, lang="vie", sources=[])
    t0 = cat.now()
    with catalog.session() as s:
        s.execute(
            cat.Document.__table__.insert(),
            [
                dict(
                    id=f"d{i:05d}",
                    batch_id=batch_id,
                    filename="",
                    kind="tiff",
                    size=0,
                    page_count=per_doc,
                    unit="",
                    level=0,
                    groups=[],
                    lang="vie",
                    category="",
                    confidence=0.0,
                    review="",
                    meta={},
                    status=cat.INDEXED,
                    reason="",
                    created_at=t0,
                    updated_at=t0,
                )
                for i in range(n_docs)
            ],
        )
        s.execute(
            cat.BatchFile.__table__.insert(),
            [
                dict(
                    batch_id=batch_id,
                    path=f"/s/{i}",
                    doc_id=f"d{i:05d}",
                    status="new",
                    reason="",
                    created_at=t0,
                )
                for i in range(n_docs)
            ],
        )
        s.execute(
            cat.Page.__table__.insert(),
            [
                dict(
                    doc_id=f"d{i:05d}",
                    page=p,
                    status=cat.FAILED,
                    source="",
                    confidence=0.0,
                    rotation=0,
                    skew=0.0,
                    chars=0,
                    seconds=0.0,
                    attempts=1,
                    reason=f"reason {p % 7}",
                    updated_at=t0,
                    failed_at=t0 + timedelta(seconds=i * per_doc + p),
                )
                for i in range(n_docs)
                for p in range(1, per_doc + 1)
            ],
        )
    rows, total = catalog.list_failures(batch_id, limit=20)
    assert total == n_docs * per_doc
    assert (rows[0].doc_id, rows[0].page) == (f"d{n_docs - 1:05d}", per_doc)
    rows, total = catalog.list_failures(batch_id, "reason 3", limit=20, offset=20)
    assert total == sum(1 for p in range(1, per_doc + 1) if p % 7 == 3) * n_docs
    assert all(r.reason == "reason 3" for r in rows) and len(rows) == 20
    with catalog.session() as s:
        newest = s.scalar(select(cat.Page.failed_at).order_by(cat.Page.failed_at.desc()).limit(1))
    assert rows[0].at < newest


OPEN_AT = """
import sys, time
from pathlib import Path
what, path, start = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
if what == "catalog":
    from kho.core.catalog import Catalog as Opener
    target = f"sqlite:///{path}"
else:
    from kho.index.embedded import EmbeddedIndex as Opener
    target = path
while time.time() < start:  # every process opens at the same moment
    time.sleep(0.001)
Opener(target).close()
"""


@pytest.mark.parametrize("what", ["catalog", "index"])
def test_processes_opening_a_new_sqlite_file_at_once_all_succeed(tmp_path, what):
    # `kho worker` processes started together on a fresh storage root: before, one of them
    # could fail at once with "database is locked" while another switched the file to WAL
    import subprocess
    import sys

    for round_ in range(3):
        path = tmp_path / f"r{round_}" / f"{what}.sqlite"
        start = str(time.time() + 1.5)  # after every interpreter has started and imported
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT, what, str(path), start],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, errors
