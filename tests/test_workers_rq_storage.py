"""The rq executor sorts a full disk as the local pool does: system trouble, retried by the
queue, never a page recorded as bad input. Real Redis, a real small file system."""

from __future__ import annotations

import subprocess
import time

import pytest
from rq import Queue, SimpleWorker

from kho.ingest.register import BatchOptions, register_batch
from kho.workers import jobs
from kho.workers.queue import OCR_QUEUE, connect

from .conftest import need_service, write_scans
from .test_local_workers import fill

pytestmark = [pytest.mark.services, pytest.mark.slow]
REDIS_DB = 12  # this module's Redis database, flushed before and after


@pytest.fixture
def small_home(tmp_path, monkeypatch):
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    url = need_service("Redis", "KHO_REDIS_URL").rsplit("/", 1)[0] + f"/{REDIS_DB}"
    for var in ("KHO_CONFIG", "KHO_INDEX_NAME", "KHO_ELASTICSEARCH_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KHO_INDEX", "embedded")
    monkeypatch.setenv("KHO_HOME", str(mount / "home"))
    monkeypatch.setenv("KHO_DATABASE_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    monkeypatch.setenv("KHO_REDIS_URL", url)
    conn = connect(url)
    conn.flushdb()
    jobs.use_context(None)
    try:
        yield mount, conn
    finally:
        jobs.use_context(None)
        conn.flushdb()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_retried_by_the_queue_not_failed(small_home, tmp_path):
    mount, conn = small_home
    scans = tmp_path / "scans"
    scans.mkdir()
    write_scans(scans, ["QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ Trung đoàn 9."], ["KẾ HOẠCH."])
    ctx = jobs.job_context()
    batch = register_batch(
        ctx.catalog, ctx.storage, [scans], BatchOptions("b"), ctx.settings.limits
    ).batch_id
    fill(mount / "filler")
    jobs.enqueue_pending(ctx, conn, batch)
    queues = [Queue(OCR_QUEUE, connection=conn)]
    SimpleWorker(queues, connection=conn).work(burst=True)
    pending = ctx.catalog.pending_pages(batch)
    assert len(pending) == 2  # left to do, not bad input
    for doc_id, n in pending:
        page = next(p for p in ctx.catalog.pages(doc_id) if p.page == n)
        assert "disk full at" in page.reason and page.retry_at is not None
    assert ctx.catalog.batch_counts(batch).pages_failed == 0
    (mount / "filler").unlink()
    time.sleep(3)  # the first retry is due after 2 s
    SimpleWorker(queues, connection=conn).work(burst=True, with_scheduler=True)
    deadline = time.monotonic() + 60
    while ctx.catalog.batch_counts(batch).pages_done < 2 and time.monotonic() < deadline:
        SimpleWorker(queues, connection=conn).work(burst=True, with_scheduler=True)
        time.sleep(1)
    counts = ctx.catalog.batch_counts(batch)
    assert (counts.pages_done, counts.pages_failed) == (2, 0)
