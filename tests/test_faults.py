"""Faults under real worker processes (`python -m kho worker`) and real services.

Each test gets a fresh PostgreSQL database, its own Redis database (flushed), its own
Elasticsearch index and storage root, then breaks something mid-batch: a worker killed
with SIGKILL, Redis emptied, Elasticsearch or PostgreSQL stopped and started again (with
scripts/services, as an operator would). The batch must still finish, every page indexed
once. Redis is emptied with FLUSHDB on the test's own database, not FLUSHALL, so other
users of the development server keep their data.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from kho.core import catalog as cat
from kho.core.errors import ServiceError
from kho.core.settings import load_settings
from kho.index.elastic_query import DOCUMENTS_ONLY, PAGES_ONLY
from kho.ingest.register import BatchOptions, register_batch
from kho.synth.scratch import descendants, scratch_pg_database
from kho.workers.context import Context
from kho.workers.queue import INDEX_QUEUE, OCR_QUEUE, connect

from .conftest import REPO, es_env, need_service, run_kho, write_scans

pytestmark = [pytest.mark.services, pytest.mark.slow]
TEXTS = [
    "QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ và Đảng ủy Trung đoàn 9 năm 2024.",
    "BÁO CÁO\nKết quả công tác dân vận của Sư đoàn 5 tại địa phương.",
    "THÔNG BÁO\nKết luận kiểm tra của Ủy ban Kiểm tra Đảng ủy Quân khu 7.",
]
TIFF_TEXTS = [
    "KẾ HOẠCH\nTuyên truyền kỷ niệm ngày thành lập Quân đội nhân dân.",
    "Các cơ quan báo chí phối hợp tổ chức triển lãm ảnh truyền thống.",
    "Đồng chí bí thư chịu trách nhiệm tổ chức thực hiện kế hoạch này.",
]
PAGES = len(TEXTS) + len(TIFF_TEXTS)
DONE_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    return write_scans(tmp_path_factory.mktemp("scans"), TEXTS, TIFF_TEXTS)


def services(action: str, name: str) -> None:
    """scripts/services down|up NAME, with this environment's ports and state dir."""
    subprocess.run(
        [str(REPO / "scripts" / "services"), action, name],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a worker and everything it started (job process, scheduler): a dead machine."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


class Cluster:
    """One isolated kho deployment: catalog database, Redis database, index, storage."""

    def __init__(self, root: Path, db_url: str, redis_db: int):
        redis = need_service("Redis", "KHO_REDIS_URL").rsplit("/", 1)[0] + f"/{redis_db}"
        self.root = root
        self.env = {
            "KHO_HOME": str(root / "home"),
            "KHO_DATABASE_URL": db_url,
            "KHO_REDIS_URL": redis,
            **es_env(),
            "KHO_INDEX_NAME": f"kho-t-{uuid.uuid4().hex[:8]}",
        }
        self.ctx = Context(load_settings(self.env))
        self.conn = connect(redis)
        self.conn.flushdb()
        self.workers: list[subprocess.Popen] = []

    def register(self, scans: Path) -> int:
        s = self.ctx.settings
        return register_batch(
            self.ctx.catalog, self.ctx.storage, [scans], BatchOptions("b"), s.limits
        ).batch_id

    def kho(self, *args: str) -> subprocess.CompletedProcess:
        return run_kho(*args, home=Path(self.env["KHO_HOME"]), env=self.env)

    def start_worker(self, name: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
        log = open(self.root / f"worker-{name}.log", "a")  # noqa: SIM115 - closed with the file
        proc = subprocess.Popen(
            [sys.executable, "-m", "kho", "worker", "--name", name, "--maintenance-interval", "2"],
            env={**env, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def logs(self, tail: int = 0) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-tail:]}" for p in self.root.glob("worker-*.log")
        )

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float = DONE_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except ServiceError:
                pass  # the catalog is being restarted: ask again
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs(3000)}")

    def counts(self, batch_id: int) -> cat.BatchCounts:
        return self.ctx.catalog.batch_counts(batch_id)

    def wait_done(self, batch_id: int) -> None:
        def done() -> bool:
            c = self.counts(batch_id)
            return c.pages_done == PAGES and c.docs_indexed == c.docs_total == 4

        self.wait_until("the batch to finish", done)

    def indexed(self, kind: dict = PAGES_ONLY) -> dict[str, int]:
        """Elasticsearch id -> version, for every page record (or `kind`) in the index."""
        es = self.ctx.index.es
        name = self.ctx.settings.index_name
        es.indices.refresh(index=name)
        res = es.search(index=name, size=1000, version=True, query=kind)
        assert res["hits"]["total"]["value"] == len(res["hits"]["hits"])  # nothing left unseen
        return {h["_id"]: h["_version"] for h in res["hits"]["hits"]}

    def check_complete(self, batch_id: int, once: bool = False) -> None:
        """Catalog all done; each page in the index once (and written once, if `once`)."""
        pages = [p for d, _ in self._docs(batch_id) for p in self.ctx.catalog.pages(d)]
        assert len(pages) == PAGES
        assert all(p.status == cat.DONE and p.attempts >= 1 for p in pages)
        indexed = self.indexed()
        assert sorted(indexed) == sorted(f"{p.doc_id}:{p.page}" for p in pages)
        assert sorted(self.indexed(DOCUMENTS_ONLY)) == sorted({p.doc_id for p in pages})
        if once:
            assert set(indexed.values()) == {1}, indexed

    def _docs(self, batch_id: int):
        with self.ctx.catalog.session() as s:
            q = select(cat.BatchFile.doc_id, cat.BatchFile.path).where(
                cat.BatchFile.batch_id == batch_id
            )
            return list(s.execute(q))

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_tree(proc)
        with contextlib.suppress(Exception):
            name = self.ctx.settings.index_name
            self.ctx.index.es.indices.delete(index=f"{name}-v*", allow_no_indices=True)
        self.conn.flushdb()
        self.ctx.close()


@pytest.fixture
def make_cluster(tmp_path) -> Iterator[Callable[[], Cluster]]:
    server = need_service("PostgreSQL", "KHO_DATABASE_URL")
    with contextlib.ExitStack() as stack:

        def make() -> Cluster:
            n = len(made)
            db = stack.enter_context(scratch_pg_database(server))
            root = tmp_path / f"c{n}"
            root.mkdir()
            cluster = Cluster(root, db, redis_db=11 + n)
            made.append(cluster)
            return cluster

        made: list[Cluster] = []
        yield make
        for cluster in made:
            cluster.close()


@pytest.fixture
def cluster(make_cluster) -> Cluster:
    return make_cluster()


def started_job_of(cluster: Cluster, worker: str) -> str | None:
    """The page job `worker` is running, if any, while its page is still unread."""
    from rq import Queue
    from rq.executions import Execution

    registry = Queue(OCR_QUEUE, connection=cluster.conn).started_job_registry
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        try:
            execution = Execution.fetch(execution_id, job_id, connection=cluster.conn)
        except Exception:  # noqa: BLE001 - finished between the two reads
            continue
        _, doc_id, page = job_id.split("-")
        if (
            execution.worker_name == worker
            and cluster.ctx.catalog.page_status(doc_id, int(page)) == cat.PENDING
        ):
            return job_id
    return None


def scheduler_pids(cluster: Cluster) -> set[int]:
    """Pids of the scheduler processes holding the queues' scheduler locks."""
    from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

    pids = set()
    for q in (OCR_QUEUE, INDEX_QUEUE):
        owner = cluster.conn.get(RQScheduler.get_locking_key(q))
        pid = owner and cluster.conn.hget(SCHEDULER_KEY_TEMPLATE % owner.decode(), "pid")
        pids.add(int(pid) if pid else 0)
    return pids


def job_process(cluster: Cluster, worker: str) -> int | None:
    """The process running `worker`'s jobs (under its `kho worker` parent), as rq knows it."""
    from rq import Worker

    pid = cluster.conn.hget(Worker.redis_worker_namespace_prefix + worker, "pid")
    return int(pid) if pid else None


def test_killed_workers_jobs_are_picked_up(cluster, scans):
    batch_id = cluster.register(scans)
    cluster.kho("resume", "--batch", "b")
    victim = cluster.start_worker("a")
    cluster.wait_until(
        "worker a to hold the scheduler locks",
        lambda: scheduler_pids(cluster) <= set(descendants(victim.pid)),
        60,
    )
    other = cluster.start_worker("b")
    cluster.wait_until("worker a to be mid-page", lambda: started_job_of(cluster, "a"), 60)
    kill_tree(victim)  # the whole machine, as it were: worker, job process, scheduler
    jobs: list[int] = []

    def b_mid_page() -> bool:
        pid = job_process(cluster, "b")
        jobs[:] = [pid] if pid and started_job_of(cluster, "b") else []
        return bool(jobs)

    cluster.wait_until("worker b to be mid-page", b_mid_page, 30)
    assert jobs[0] in descendants(other.pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(jobs[0], signal.SIGKILL)  # only b's job process: its parent starts another
    cluster.start_worker("a")  # restarted under its name (b also looks, every 2 s)
    cluster.wait_until(
        "a live scheduler to take the locks over",
        lambda: all(p and p not in descendants(victim.pid) for p in scheduler_pids(cluster)),
        30,
    )
    cluster.wait_done(batch_id)
    cluster.check_complete(batch_id, once=True)
    logs = cluster.logs()
    assert "abandoned: worker a (pid" in logs and f"abandoned: worker b (pid {jobs[0]})" in logs
    assert other.poll() is None  # b's parent lives on


def test_redis_flushed_mid_batch_then_resume(cluster, scans):
    batch_id = cluster.register(scans)
    cluster.kho("resume", "--batch", "b")
    worker = cluster.start_worker("w")
    cluster.wait_until("a first page", lambda: cluster.counts(batch_id).pages_done >= 1)
    cluster.conn.flushdb()  # Redis restarted without persistence: every job is gone
    out = cluster.kho("resume", "--batch", "b").stdout
    assert "resumed:" in out
    cluster.wait_done(batch_id)
    assert worker.poll() is None  # the worker lived through it, and is listed again
    from rq import Worker

    assert [w.name for w in Worker.all(connection=cluster.conn)] == ["w"]
    st = json.loads(cluster.kho("status", "--batch", "b", "--json").stdout)
    assert [w["name"] for w in st["workers"]] == ["w"]
    assert st["workers"][0]["pid"] in descendants(worker.pid)  # its job process
    assert st["batches"][0]["finished"] and st["batches"][0]["pages_done"] == PAGES
    assert {q["name"]: q["queued"] for q in st["queues"]} == {OCR_QUEUE: 0, INDEX_QUEUE: 0}
    cluster.check_complete(batch_id)
    assert "resumed: 0 page jobs and 0 index jobs" in cluster.kho("resume").stdout


def test_elasticsearch_stopped_during_a_batch(cluster, scans):
    batch_id = cluster.register(scans)
    cluster.ctx.index  # noqa: B018 - create the index before Elasticsearch goes away
    cluster.kho("resume", "--batch", "b")
    try:
        services("down", "elasticsearch")
        cluster.start_worker("w")

        def retrying() -> bool:
            rows, _ = cluster.ctx.catalog.list_failures(batch_id)
            return any(r.kind == "document" and not r.final and r.retry_at for r in rows)

        cluster.wait_until("an index job waiting for its retry", retrying)
        listed = cluster.kho("failed", "list", "--batch", "b").stdout
        assert "Elasticsearch is unavailable" in listed and "retry" in listed
        assert cluster.counts(batch_id).pages_done >= 1  # reading goes on meanwhile
        # what an operator sees of the live batch: unfinished, a retry scheduled, the worker
        st = json.loads(cluster.kho("status", "--batch", "b", "--json").stdout)
        (batch,) = st["batches"]
        assert not batch["finished"] and batch["pages_done"] >= 1
        assert batch["docs_indexed"] < batch["docs_total"]
        queues = {q["name"]: q for q in st["queues"]}
        assert queues[INDEX_QUEUE]["scheduled"] >= 1
        assert [w["name"] for w in st["workers"]] == ["w"]
        assert any(f["retry_at"] and not f["final"] for f in st["failures"])
        table = cluster.kho("status", "--batch", "b").stdout
        assert "b" in table and "kho-index" in table and "w" in table
    finally:
        services("up", "elasticsearch")
    cluster.wait_done(batch_id)
    cluster.check_complete(batch_id)
    assert cluster.ctx.catalog.list_failures(batch_id)[1] == 0


def test_postgres_restarted_during_a_batch(cluster, scans):
    batch_id = cluster.register(scans)
    cluster.kho("resume", "--batch", "b")
    cluster.start_worker("w")
    cluster.wait_until("a first page", lambda: cluster.counts(batch_id).pages_done >= 1)
    try:
        services("down", "postgres")
        cluster.wait_until(
            "a job to meet the stopped database",
            lambda: "is unavailable" in cluster.logs(),
            30,
        )
    finally:
        services("up", "postgres")
    cluster.wait_done(batch_id)
    cluster.check_complete(batch_id)


def test_two_racing_workers_give_what_one_gives(make_cluster, scans):
    results = []
    for n in (1, 2):
        c = make_cluster()
        batch_id = c.register(scans)
        c.kho("resume", "--batch", "b")
        for i in range(n):
            c.start_worker(f"w{i}")
        c.wait_done(batch_id)
        c.check_complete(batch_id, once=True)
        texts = {
            (d, p.page): (p.status, c.ctx.storage.read_page_text(d, p.page).text)
            for d, _ in c._docs(batch_id)
            for p in c.ctx.catalog.pages(d)
        }
        docs = {d: c.ctx.catalog.get_document(d).category for d, _ in c._docs(batch_id)}
        results.append((texts, docs, sorted(c.indexed())))
    assert results[0] == results[1]
