"""`kho worker` runs its jobs in one lasting process under a parent that watches it: real
`python -m kho worker` processes, real Redis, a SQLite catalog and embedded index of the
test's own. A job that kills its process or hangs where rq's alarm cannot reach costs only
that job (retried, then failed for good with the reason); the worker goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus

from kho.core import catalog as cat
from kho.core.settings import load_settings
from kho.ingest.register import BatchOptions, register_batch
from kho.workers.context import Context
from kho.workers.jobs import enqueue_pending
from kho.workers.queue import OCR_QUEUE, connect, page_job_id

from .conftest import need_service, write_scans

pytestmark = [pytest.mark.services, pytest.mark.slow]
REDIS_DB = 14  # this module's Redis database, flushed before and after each test
WAIT_S = 90
# job functions the worker imports from the test's folder (PYTHONPATH)
JOBS_MODULE = '''
import signal, time


def hang():
    """Stuck where rq's alarm cannot reach, as inside a C library."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(600)
'''


class Deployment:
    """A storage root, a Redis database and one `kho worker` named "t" on them."""

    def __init__(self, root: Path):
        base = need_service("Redis", "KHO_REDIS_URL").rsplit("/", 1)[0]
        self.root = root
        (root / "testjobs.py").write_text(JOBS_MODULE)
        self.env = {
            "KHO_HOME": str(root / "home"),
            "KHO_REDIS_URL": f"{base}/{REDIS_DB}",
            "KHO_INDEX": "embedded",
        }
        self.conn = connect(self.env["KHO_REDIS_URL"])
        self.conn.flushdb()
        self.ctx = Context(load_settings(self.env))
        self.worker: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
        self.log = open(self.root / "worker.log", "a")  # noqa: SIM115 - closed in close()
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "kho", "worker", "--name", "t", "--maintenance-interval", "1"],
            env={**env, **self.env, "PYTHONPATH": str(self.root)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait("the worker to start", lambda: self.job_process() is not None)

    def job_process(self) -> int | None:
        pid = self.conn.hget(Worker.redis_worker_namespace_prefix + "t", "pid")
        return int(pid) if pid and self.conn.hget("rq:worker:t", "death") is None else None

    def wait(self, what: str, check: Callable[[], object]) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if check():
                return
            assert self.worker is None or self.worker.poll() is None, self.logs()
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}\n{self.logs()}")

    def logs(self) -> str:
        return (self.root / "worker.log").read_text()[-4000:]

    def register(self, path: Path, batch: str = "b") -> int:
        ctx = self.ctx
        limits = ctx.settings.limits
        return register_batch(
            ctx.catalog, ctx.storage, [path], BatchOptions(batch), limits
        ).batch_id

    def only_page(self, batch_id: int) -> tuple[str, int]:
        (page,) = self.ctx.catalog.pending_pages(batch_id)
        return page

    def close(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
            self.log.close()
        self.conn.flushdb()
        self.ctx.close()


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    texts = ["QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ.", "BÁO CÁO\nKết quả công tác dân vận."]
    return write_scans(tmp_path_factory.mktemp("scans"), texts, ["Trang một."])


@pytest.fixture
def deployment(tmp_path) -> Iterator[Deployment]:
    d = Deployment(tmp_path)
    try:
        yield d
    finally:
        d.close()


def finished(d: Deployment, job: Job) -> bool:
    return job.get_status(refresh=True) == JobStatus.FINISHED


def read_the_rest(d: Deployment, path: Path) -> None:
    """The worker still reads a batch after what went wrong."""
    batch_id = d.register(path, "next")
    enqueue_pending(d.ctx, d.conn, batch_id)

    def indexed() -> bool:
        c = d.ctx.catalog.batch_counts(batch_id)
        return c.pages_done == c.pages_total and c.docs_indexed == c.docs_total

    d.wait("the next batch to be indexed", indexed)


def test_jobs_run_in_the_workers_lasting_process(deployment, scans):
    d = deployment
    d.start()
    q = Queue(OCR_QUEUE, connection=d.conn)
    jobs = [q.enqueue(os.getpid) for _ in range(3)]
    d.wait("the jobs", lambda: all(finished(d, j) for j in jobs))
    pid = d.job_process()
    assert [j.return_value() for j in jobs] == [pid] * 3  # no process forked per job
    assert Path(f"/proc/{pid}/stat").read_text().split()[3] == str(d.worker.pid)
    read_the_rest(d, scans / "page0.png")
    assert d.job_process() == pid  # the same process read the page and indexed it


def test_a_job_that_kills_its_process_is_retried_then_failed(deployment, scans):
    d = deployment
    batch_id = d.register(scans / "page0.png")
    doc_id, page = d.only_page(batch_id)
    d.start()
    first = d.job_process()
    # a crash in a C library, twice: the first attempt is put back, the second fails for good
    Queue(OCR_QUEUE, connection=d.conn).enqueue(
        os.abort, job_id=page_job_id(doc_id, page), retry=Retry(max=1)
    )

    def failed() -> bool:
        return d.ctx.catalog.page_status(doc_id, page) == cat.FAILED

    d.wait("the page to fail for good", failed)
    (record,) = [p for p in d.ctx.catalog.pages(doc_id) if p.page == page]
    assert "abandoned: worker t (pid" in record.reason and "died" in record.reason
    assert record.reason.endswith("(gave up: no retries left)")
    d.wait("a new job process", lambda: d.job_process() not in (None, first))
    read_the_rest(d, scans / "page1.png")
    assert d.worker.poll() is None


def test_a_job_stuck_past_its_time_limit_is_stopped_and_failed(deployment, scans):
    d = deployment
    batch_id = d.register(scans / "page0.png")
    doc_id, page = d.only_page(batch_id)
    d.start()
    first = d.job_process()
    Queue(OCR_QUEUE, connection=d.conn).enqueue(
        "testjobs.hang", job_id=page_job_id(doc_id, page), job_timeout=1
    )
    t0 = time.monotonic()

    def failed() -> bool:
        return d.ctx.catalog.page_status(doc_id, page) == cat.FAILED

    d.wait("the stuck page to fail", failed)
    assert time.monotonic() - t0 < 30  # the job's 1 s limit and a short grace, not rq's minute
    (record,) = [p for p in d.ctx.catalog.pages(doc_id) if p.page == page]
    assert "past its time limit of 1 s: stopped" in record.reason, record.reason
    d.wait("a new job process", lambda: d.job_process() not in (None, first))
    read_the_rest(d, scans / "plan.tif")
