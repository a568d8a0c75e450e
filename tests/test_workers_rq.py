"""The rq job flow in-process (`SimpleWorker(...).work(burst=True)`), with real Redis,
real tesseract, and a catalog and index of the test's own."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus

from kho.core import catalog as cat
from kho.core.settings import load_settings
from kho.ingest.register import BatchOptions, register_batch
from kho.workers import jobs, queue
from kho.workers.context import Context
from kho.workers.queue import INDEX_QUEUE, OCR_QUEUE, connect, doc_job_id, page_job_id

from .conftest import es_client, need_service, run_kho, write_scans

pytestmark = [pytest.mark.services, pytest.mark.slow]
REDIS_DB = 10  # this module's Redis database, flushed before and after each test
DEAD_URL = "https://127.0.0.1:9"  # nothing listens there: Elasticsearch is "down"
TEXTS = [
    "QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ Đảng ủy Trung đoàn 9.",
    "BÁO CÁO\nKết quả công tác dân vận năm 2024 của Sư đoàn 5.",
]
TIFF_TEXTS = ["KẾ HOẠCH tuyên truyền trang một.", "Trang hai của kế hoạch.", "Trang ba, hết."]


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    return write_scans(tmp_path_factory.mktemp("scans"), TEXTS, TIFF_TEXTS)


@pytest.fixture
def redis_url() -> str:
    base = need_service("Redis", "KHO_REDIS_URL")
    return base.rsplit("/", 1)[0] + f"/{REDIS_DB}"


@pytest.fixture
def env(tmp_path, monkeypatch, redis_url):
    """Distributed settings over a fresh storage root; SQLite catalog, embedded index."""
    for var in ("KHO_DATABASE_URL", "KHO_CONFIG", "KHO_INDEX_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KHO_INDEX", "embedded")
    monkeypatch.setenv("KHO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KHO_REDIS_URL", redis_url)
    conn = connect(redis_url)
    conn.flushdb()
    jobs.use_context(None)
    yield conn
    jobs.use_context(None)
    conn.flushdb()


def register(scans: Path, paths=None) -> tuple[Context, int]:
    ctx = jobs.job_context()  # the same Context the in-process worker runs jobs with
    s = ctx.settings
    reg = register_batch(ctx.catalog, ctx.storage, paths or [scans], BatchOptions("b"), s.limits)
    return ctx, reg.batch_id


def work(conn, *names: str, scheduler: bool = False) -> None:
    queues = [Queue(n, connection=conn) for n in names or (INDEX_QUEUE, OCR_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, with_scheduler=scheduler)


def test_index_job_is_queued_once_per_document(env, scans):
    conn = env
    ctx, batch_id = register(scans)
    assert jobs.enqueue_pending(ctx, conn, batch_id) == jobs.Enqueued(5, 0, 0)
    assert jobs.enqueue_pending(ctx, conn, batch_id) == jobs.Enqueued(0, 0, 5)  # no duplicates
    work(conn, OCR_QUEUE)
    docs = [d for d, _ in ctx.catalog.documents_to_index(batch_id)]
    assert len(docs) == 3
    index_q = Queue(INDEX_QUEUE, connection=conn)
    assert sorted(index_q.job_ids) == sorted(doc_job_id(d) for d in docs)
    # a page job delivered again after it finished: no second index job
    tiff = next(d for d in docs if ctx.catalog.get_document(d).page_count == 3)
    assert jobs.enqueue_page(ctx, conn, tiff, 3)
    work(conn, OCR_QUEUE)
    assert Job.fetch(page_job_id(tiff, 3), connection=conn).return_value()["reason"] == (
        "already read"
    )
    assert index_q.count == 3
    work(conn, INDEX_QUEUE)
    counts = ctx.catalog.batch_counts(batch_id)
    assert (counts.pages_done, counts.docs_indexed) == (5, 3)
    assert jobs.enqueue_pending(ctx, conn, batch_id) == jobs.Enqueued(0, 0, 0)
    from kho.core.types import Principal
    from kho.index.base import SearchQuery

    hits = ctx.index.search(SearchQuery("trang ba"), Principal("t", 0, ("*",))).hits
    assert [(h.doc_id, h.page) for h in hits] == [(tiff, 3)]


def test_resume_rebuilds_lost_queues_without_duplicates(env, scans):
    conn = env
    ctx, batch_id = register(scans)
    jobs.enqueue_pending(ctx, conn, batch_id)
    conn.flushdb()  # Redis lost everything: the catalog still knows
    assert jobs.resume(ctx, conn, batch_id) == jobs.Enqueued(5, 0, 0)
    work(conn, OCR_QUEUE)
    conn.flushdb()  # now the index jobs are lost, their documents claimed (queued)
    assert {s for _, s in ctx.catalog.documents_to_index(batch_id)} == {cat.QUEUED}
    assert jobs.resume(ctx, conn, batch_id) == jobs.Enqueued(0, 3, 0)
    assert jobs.resume(ctx, conn, batch_id) == jobs.Enqueued(0, 0, 3)
    work(conn)
    counts = ctx.catalog.batch_counts(batch_id)
    assert (counts.pages_done, counts.docs_indexed) == (5, 3)


def test_a_corrupted_original_is_an_alarm_never_read(env, scans):
    """A stored original that no longer matches its id is never derived from: its page
    waits for a retry (by then restored from a backup set) with the alarm as its reason,
    nothing is written for it, and the queue moves on."""
    conn = env
    ctx, batch_id = register(scans, [scans / "page0.png", scans / "page1.png"])
    bad = ctx.catalog.pending_pages(batch_id)[0][0]
    ctx.storage.original(bad, "png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    jobs.enqueue_pending(ctx, conn, batch_id)
    work(conn)
    job = Job.fetch(page_job_id(bad, 1), connection=conn)
    assert job.get_status() == JobStatus.SCHEDULED  # a retry, not a failure for good
    page = ctx.catalog.pages(bad)[0]
    assert page.status == cat.PENDING and "no longer matches its id" in page.reason
    assert not ctx.storage.page_text_path(bad, 1).exists()
    assert Queue(OCR_QUEUE, connection=conn).failed_job_registry.count == 0
    counts = ctx.catalog.batch_counts(batch_id)
    assert (counts.docs_indexed, counts.pages_done, counts.pages_retrying) == (1, 1, 1)
    # what operators see: status, failures, metrics
    from prometheus_client import CollectorRegistry, generate_latest

    from kho.workers.metrics import KhoCollector
    from kho.workers.status import collect_status

    st = collect_status(ctx, conn, batch_id, failures=10)
    assert st.mode == "distributed" and not st.batches[0].finished
    assert [(f.kind, f.final) for f in st.failures] == [("page", False)]
    registry = CollectorRegistry()
    registry.register(KhoCollector(ctx, conn))
    text = generate_latest(registry).decode()
    assert 'kho_pages{state="done"} 1.0' in text
    assert "kho_pages_processed_total 1.0" in text
    listed = json.loads(
        run_kho("failed", "list", "--json", home=ctx.settings.home, env=_env(conn)).stdout
    )
    assert listed["total"] == 1 and not listed["failures"][0]["final"]


def _env(conn) -> dict:
    kw = conn.connection_pool.connection_kwargs
    login = f":{kw['password']}@" if kw.get("password") else ""
    return {"KHO_REDIS_URL": f"redis://{login}{kw['host']}:{kw['port']}/{kw['db']}"}


@pytest.fixture
def elastic(monkeypatch):
    url = need_service("Elasticsearch", "KHO_ELASTICSEARCH_URL")
    name = f"kho-t-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("KHO_INDEX_NAME", name)
    monkeypatch.setenv("KHO_INDEX", "elasticsearch")
    yield url
    es = es_client(url)
    es.indices.delete(index=f"{name}-v*", ignore_unavailable=True, allow_no_indices=True)
    es.close()


def test_service_error_is_retried_with_backoff(env, scans, elastic, monkeypatch):
    conn = env
    monkeypatch.setenv("KHO_ELASTICSEARCH_URL", DEAD_URL)
    ctx, batch_id = register(scans, [scans / "page1.png"])
    jobs.enqueue_pending(ctx, conn, batch_id)
    t0 = cat.now()
    work(conn)
    ((doc_id, _),) = ctx.catalog.documents_to_index(batch_id)
    job = Job.fetch(doc_job_id(doc_id), connection=conn)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == len(queue.RETRY_INTERVALS_S) - 1
    (failure,), _ = ctx.catalog.list_failures(batch_id)
    assert failure.kind == "document" and not failure.final
    assert "Elasticsearch is unavailable" in failure.reason
    wait = (failure.retry_at - t0).total_seconds()
    assert queue.RETRY_INTERVALS_S[0] - 1 <= wait <= queue.RETRY_INTERVALS_S[0] + 5
    # Elasticsearch is back: the scheduled retry indexes the document
    monkeypatch.setenv("KHO_ELASTICSEARCH_URL", elastic)
    jobs.use_context(None)
    time.sleep(max(0.0, (failure.retry_at - cat.now()).total_seconds()) + 1.0)
    work(conn, scheduler=True)
    ctx = jobs.job_context()
    assert ctx.catalog.get_document(doc_id).status == cat.INDEXED
    assert ctx.catalog.list_failures(batch_id)[1] == 0
    ctx.index.refresh()
    from kho.index.elastic_query import PAGES_ONLY

    assert ctx.index.es.count(index=ctx.settings.index_name, query=PAGES_ONLY)["count"] == 1


def test_retries_run_out_into_a_failure_for_good(env, scans, elastic, monkeypatch):
    conn = env
    monkeypatch.setattr(queue, "RETRY_INTERVALS_S", (0,))  # one immediate retry
    monkeypatch.setenv("KHO_ELASTICSEARCH_URL", DEAD_URL)
    ctx, batch_id = register(scans, [scans / "page0.png", scans / "page1.png"])
    jobs.enqueue_pending(ctx, conn, batch_id)
    work(conn)  # each index job fails, retries once, fails again; nothing blocks
    failed = Queue(INDEX_QUEUE, connection=conn).failed_job_registry
    assert failed.count == 2
    rows, total = ctx.catalog.list_failures(batch_id)
    assert total == 2 and all(r.final and "gave up" in r.reason for r in rows)
    assert ctx.catalog.batch_counts(batch_id).pages_done == 2
    # the operator retries them once Elasticsearch is back
    env_vars = {**_env(conn), "KHO_ELASTICSEARCH_URL": elastic, "KHO_INDEX": "elasticsearch"}
    env_vars["KHO_INDEX_NAME"] = ctx.settings.index_name
    proc = run_kho("failed", "retry", "--batch", "b", home=ctx.settings.home, env=env_vars)
    assert "queued 0 page jobs and 2 index jobs" in proc.stdout
    monkeypatch.setenv("KHO_ELASTICSEARCH_URL", elastic)
    jobs.use_context(None)
    work(conn)
    ctx = jobs.job_context()
    assert ctx.catalog.batch_counts(batch_id).docs_indexed == 2
    assert ctx.catalog.list_failures(batch_id)[1] == 0
    assert failed.count == 0


def dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("started", [True, False])
def test_job_of_a_worker_killed_on_this_host_is_requeued(env, started):
    # killed after taking the job off the queue: with its work horse running (started), or
    # before the horse marked it started (rq has registered the execution, status queued)
    from rq import Worker
    from rq.executions import prepare_execution

    q = Queue(OCR_QUEUE, connection=env)
    q.enqueue(time.time, job_id="page-abc-1", retry=queue.retry_policy())
    ghost = Worker([q], connection=env, name="ghost")
    ghost.register_birth()
    job, _ = Queue.dequeue_any([q], None, connection=env)
    prepare_execution(ghost, job)
    if started:
        with env.pipeline() as pipe:
            job.prepare_for_execution("ghost", pipe)
            pipe.execute()
    env.hset(ghost.key, "pid", dead_pid())  # the worker is gone; its key has not expired
    assert q.count == 0 and job.id in q.started_job_registry
    seen: list[str] = []
    assert queue.reap_abandoned(env, [OCR_QUEUE], lambda j, why: seen.append(why)) == 1
    assert seen == [
        f"abandoned: worker ghost (pid {int(env.hget(ghost.key, 'pid'))}) died "
        "while running this job"
    ]
    assert q.job_ids == [job.id] and job.id not in q.started_job_registry
    again = Job.fetch(job.id, connection=env)
    assert again.get_status() == JobStatus.QUEUED
    assert again.retries_left == len(queue.RETRY_INTERVALS_S) - 1
    assert queue.reap_abandoned(env, [OCR_QUEUE]) == 0  # nothing left to take back
    work(env, OCR_QUEUE)
    assert Job.fetch(job.id, connection=env).get_status() == JobStatus.FINISHED


def test_resume_takes_back_a_job_lost_between_dequeue_and_start(env):
    # a worker popped the job and died before registering it: "queued", yet in no queue
    def enqueue() -> bool:
        return queue.enqueue_unique(env, OCR_QUEUE, time.time, (), "page-abc-2", 60)

    assert enqueue()
    assert not enqueue()  # waiting in its queue: not doubled
    env.lrem(Queue(OCR_QUEUE, connection=env).key, 0, "page-abc-2")
    assert Job.fetch("page-abc-2", connection=env).get_status() == JobStatus.QUEUED
    assert enqueue()  # lost: enqueued again
    assert Queue(OCR_QUEUE, connection=env).job_ids == ["page-abc-2"]


def test_settings_pick_the_executor(env, scans, tmp_path):
    """`execute_batch` queues in distributed mode and runs the pool in local mode."""
    from kho.commands.workers import execute_batch

    conn = env
    ctx, batch_id = register(scans, [scans / "page0.png"])
    assert execute_batch(ctx, batch_id, 1) is None  # queued, not waited for
    assert Queue(OCR_QUEUE, connection=conn).count == 1
    local = Context(load_settings({"KHO_HOME": str(tmp_path / "local")}))
    reg = register_batch(
        local.catalog,
        local.storage,
        [scans / "page0.png"],
        BatchOptions("l"),
        local.settings.limits,
    )
    stats = execute_batch(local, reg.batch_id, 1)
    assert (stats.pages_done, stats.docs_done) == (1, 1)
    local.close()
