"""The distributed executor: rq tasks over the pipeline's stages, fed from the catalog.

`read_page_job` and `index_document_job` run the same `process_page` / `process_document`
as the local pool; payloads are catalog ids only. When a page is read, the job claims its
document for indexing in the catalog (a conditional UPDATE, so exactly one page job wins)
and enqueues the index job in the same transaction.

Errors are sorted by `pipeline.run_task`, as the local pool sorts them: bad input is a
page's recorded failure and the job ends normally; an unexpected error is recorded the same
way (a bug must not block the queue); system trouble (a service down, the disk full, a
stored file missing, a timeout) is noted as "retrying at <time>" and re-raised so rq retries
it with backoff, and recorded as a failure for good once the retries run out. Jobs run
in one long-lived process per `kho worker` (`supervisor.py`: no fork per job), under
`[limits] worker_memory_mb`, as pool workers do. `enqueue_pending`
rebuilds the queues from the catalog after Redis lost them (`kho resume`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException
from rq.worker import SimpleWorker

from kho.core import catalog as cat
from kho.core.errors import MissingDependencyError, ServiceError
from kho.core.settings import Settings, load_settings

from . import pipeline
from .context import Context
from .local import RunStats, document_deadline_s, page_deadline_s
from .pool import apply_memory_limit
from .queue import (
    INDEX_QUEUE,
    MAINTENANCE_INTERVAL_S,
    OCR_QUEUE,
    TRANSIENT_ERRORS,
    JobTarget,
    active_job_ids,
    connect,
    doc_job_id,
    enqueue_unique,
    free_dead_namesake,
    page_job_id,
    reap_abandoned,
    release_dead_scheduler_locks,
    worker_ttl,
)
from .sources import close_kept

log = logging.getLogger("kho.jobs")
RETRYABLE = (*TRANSIENT_ERRORS, JobTimeoutException)
RESUME_LOCK_S = 600  # seconds one resume may hold its lock (then it expires)
RESUME_WAIT_S = 60  # seconds a second resume waits for the first

_ctx: Context | None = None
_pid = 0


def job_context() -> Context:
    """This process's Context, built once from the settings (KHO_* environment).

    The supervisor forks the job process from its warm state: the child keeps the warm
    Context (imports, taxonomy, model) but must not share its database or HTTP
    connections, so on a new pid the SQLAlchemy pool is disposed without closing and the
    index rebuilt.
    """
    global _ctx, _pid
    if _ctx is None:
        _ctx, _pid = Context(load_settings()), os.getpid()
    elif _pid != os.getpid():
        if "catalog" in _ctx.__dict__:
            _ctx.catalog.after_fork()
        _ctx.__dict__.pop("index", None)  # its pooled sockets belong to the parent
        _pid = os.getpid()
    return _ctx


def use_context(ctx: Context | None) -> None:
    """Run this process's jobs with `ctx` (None: build it from the settings on next use)."""
    global _ctx, _pid
    _ctx, _pid = ctx, os.getpid()


def warm_up() -> Context:
    """Build what every job needs before the supervisor forks the job process.

    The stages import their heavy modules lazily; imported here once, a job process (and
    its replacement after a crash) starts with them loaded.
    """
    import importlib

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one tesseract thread: one worker per core
    ctx = job_context()
    _ = ctx.catalog, ctx.taxonomy, ctx.classifier
    backend = "elastic" if ctx.settings.backend == "elasticsearch" else "embedded"
    for module in (
        "kho.ocr.read",
        "kho.ocr.searchable_pdf",
        "kho.classify.metadata",
        "kho.classify.model",
        "kho.classify.review",
        f"kho.index.{backend}",
    ):
        importlib.import_module(module)
    from kho.classify.model import classify_document
    from kho.ocr.tesseract import library_api, resolve_engine, sweep_orphans, tessdata_dir

    classify_document("", ctx.taxonomy, ctx.classifier)  # compiles the keyword rules
    opts = ctx.settings.ocr
    with contextlib.suppress(MissingDependencyError):  # an index-only host may lack tesseract
        tessdata_dir()
        if resolve_engine(opts.engine) == "library":  # models loaded once, not per process
            library_api(opts.lang, opts.psm, opts.oem, opts.tessdata, opts.tone_marks)
    sweep_orphans()
    # what the parent built stays shared with the job process: without this its garbage
    # collections walk (and so copy) every object the parent made
    gc.collect()
    gc.freeze()
    return ctx


def page_timeout(settings: Settings) -> int:
    """rq's hard limit for one page job, in seconds: the local pool's page deadline."""
    return math.ceil(page_deadline_s(settings.limits))


def index_timeout(pages: int) -> int:
    """rq's hard limit for one document's index job, in seconds."""
    return math.ceil(document_deadline_s(pages))


# the tasks --------------------------------------------------------------------------------
def read_page_job(doc_id: str, page: int) -> dict:
    """Task of `kho-ocr`: read one page; the document's last page queues its index job."""
    ctx = job_context()
    job = get_current_job()
    if ctx.catalog.page_status(doc_id, page) == cat.DONE:
        report = {"doc_id": doc_id, "page": page, "ok": True, "reason": "already read"}
    else:
        try:
            report = asdict(pipeline.run_task(ctx, doc_id, page, passing=RETRYABLE))
        except Exception as err:  # system trouble: noted, and rq tries again
            settle_failure(ctx, job, describe(err))
            raise
    queue_index_if_complete(ctx, job.connection if job else None, doc_id)
    return report


def index_document_job(doc_id: str) -> dict:
    """Task of `kho-index`: searchable PDF, classification and index for one document."""
    ctx = job_context()
    try:
        report = pipeline.run_task(ctx, doc_id, passing=RETRYABLE)
    except Exception as err:  # system trouble: noted, and rq tries again
        settle_failure(ctx, get_current_job(), describe(err))
        raise
    # waiting: a failed page is being read again, and its job claims the document anew
    if isinstance(report, pipeline.DocReport) and report.status == "waiting":
        ctx.catalog.unclaim_for_index(doc_id)
    return asdict(report)


def describe(err: BaseException) -> str:
    """An error as the one-line reason the catalog keeps."""
    if isinstance(err, JobTimeoutException):
        return f"job ran past its time limit: {err}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def settle_failure(ctx: Context, job: Job | None, reason: str, retry_in: float | None = None):
    """Record a failed attempt: retrying (and when), or failed for good when none is left.

    Runs before rq decides, so `job.retries_left` still counts this failure's retry. If the
    catalog itself is down the note is skipped: the page stays pending, and rq's retry or
    `kho resume` brings it back.
    """
    if job is None:
        return
    target = JobTarget.of(job.id)
    if target is None:
        return
    try:
        if job.retries_left:
            delay = job.get_retry_interval() if retry_in is None else retry_in
            at = cat.now() + timedelta(seconds=delay)
            if target.page:
                ctx.catalog.note_page_retry(target.doc_id, target.page, reason, at)
            else:
                ctx.catalog.note_document_retry(target.doc_id, reason, at)
            return
        final = f"{reason} (gave up: no retries left)"
        if target.page:
            ctx.catalog.fail_page(target.doc_id, target.page, final)
            queue_index_if_complete(ctx, job.connection, target.doc_id)
        else:
            ctx.catalog.set_document(target.doc_id, status=cat.FAILED, reason=final)
    except TRANSIENT_ERRORS as err:
        log.warning("job %s: could not record the failure (%s): %s", job.id, reason, err)


# feeding the queues -----------------------------------------------------------------------
def enqueue_page(ctx: Context, conn: Redis, doc_id: str, page: int) -> bool:
    return enqueue_unique(
        conn,
        OCR_QUEUE,
        read_page_job,
        (doc_id, page),
        page_job_id(doc_id, page),
        page_timeout(ctx.settings),
    )


def enqueue_index(ctx: Context, conn: Redis, doc_id: str) -> bool:
    doc = ctx.catalog.get_document(doc_id)
    pages = doc.page_count if doc else 1
    return enqueue_unique(
        conn, INDEX_QUEUE, index_document_job, (doc_id,), doc_job_id(doc_id), index_timeout(pages)
    )


def queue_index_if_complete(ctx: Context, conn: Redis | None, doc_id: str) -> bool:
    """If no page of the document is left to read, queue its index job (exactly once)."""
    if conn is None:  # run outside a worker (tests, embedding): nobody to hand it to
        return False
    return ctx.catalog.claim_for_index(doc_id, then=lambda: enqueue_index(ctx, conn, doc_id))


@dataclass(frozen=True)
class Enqueued:
    pages: int  # page jobs enqueued
    documents: int  # index jobs enqueued
    skipped: int  # already waiting, scheduled or running
    reaped: int = 0  # abandoned jobs put back first (resume)


def enqueue_pending(ctx: Context, conn: Redis, batch_id: int | None = None) -> Enqueued:
    """Queue every page left to read and every document left to index (of a batch, or all)."""
    pages = ctx.catalog.pending_pages(batch_id)
    ids = [page_job_id(d, n) for d, n in pages]
    active = active_job_ids(conn, ids)
    queued = sum(
        enqueue_page(ctx, conn, d, n)
        for (d, n), j in zip(pages, ids, strict=True)
        if j not in active
    )
    skipped = len(pages) - queued
    docs = 0
    for doc_id, status in ctx.catalog.documents_to_index(batch_id):
        if status == cat.REGISTERED:
            done = queue_index_if_complete(ctx, conn, doc_id)
        else:  # queued before, its job lost with Redis (or failed): again
            done = enqueue_index(ctx, conn, doc_id)
        docs += done
        skipped += not done
    return Enqueued(queued, docs, skipped)


def resume(ctx: Context, conn: Redis, batch_id: int | None = None) -> Enqueued:
    """Rebuild the queues from the catalog: abandoned jobs back, missing jobs enqueued.

    Idempotent: jobs already waiting or running are skipped; one resume at a time.
    """
    from redis.exceptions import LockError

    try:
        with conn.lock("kho:resume", timeout=RESUME_LOCK_S, blocking_timeout=RESUME_WAIT_S):
            reaped = reap_abandoned(conn, (OCR_QUEUE, INDEX_QUEUE), on_abandoned=settle_abandoned)
            done = enqueue_pending(ctx, conn, batch_id)
    except LockError as err:
        raise ServiceError(f"another kho resume is running ({err}); try again later") from err
    return Enqueued(done.pages, done.documents, done.skipped, reaped)


def settle_abandoned(job: Job, reason: str) -> None:
    """Record a job a dead worker left: retrying at once, or failed for good."""
    settle_failure(job_context(), job, reason, retry_in=0)


class KhoWorker(SimpleWorker):
    """rq's worker running its jobs in its own process (no work horse per job: the models,
    connections and caches stay), plus a look for what dead workers left: at start, then
    every maintenance interval (abandoned jobs, scheduler locks). `kho worker` runs it
    under `supervisor.Supervisor`, which replaces it when it dies or a job hangs in C."""

    def run_maintenance_tasks(self) -> None:
        try:
            self._register_again()
            reap_abandoned(self.connection, self.queue_names(), on_abandoned=settle_abandoned)
            release_dead_scheduler_locks(self.connection, self.queue_names())
            close_kept()  # the source file kept open for page jobs (it may since be deleted)
        except Exception:  # noqa: BLE001 - maintenance must not kill the worker
            log.exception("looking for what dead workers left failed")
        super().run_maintenance_tasks()

    def _register_again(self) -> None:
        """Redis lost its data (restarted empty): be listed again, for `kho status`."""
        from rq import worker_registration

        if self.birth_date and not self.connection.sismember(self.redis_workers_keys, self.key):
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, pipe)
                pipe.expire(self.key, self.worker_ttl + 60)
                pipe.execute()


def make_worker(
    conn: Redis,
    queue_names: list[str],
    *,
    name: str | None = None,
    maintenance_interval: int = MAINTENANCE_INTERVAL_S,
) -> KhoWorker:
    """The job process's worker on these queues; a name whose last owner died here is
    taken over."""
    if name:
        free_dead_namesake(conn, name, on_abandoned=settle_abandoned)
    return KhoWorker(
        [Queue(q, connection=conn) for q in queue_names],
        connection=conn,
        name=name,
        maintenance_interval=maintenance_interval,
        worker_ttl=worker_ttl(maintenance_interval),
    )


def run_worker(
    name: str,
    *,
    redis_url: str,
    queue_names: list[str],
    maintenance_interval: int = MAINTENANCE_INTERVAL_S,
    burst: bool = False,
    logging_level: str = "INFO",
) -> None:
    """The job process `kho worker` supervises: rq's worker under the memory limit, until
    it stops (burst: the queues are empty; SIGTERM or SIGINT: after its job)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):  # the parent's handlers are not ours
        signal.signal(sig, signal.SIG_DFL)
    ctx = job_context()  # a new pid: connections of its own
    apply_memory_limit(ctx.settings.limits.worker_memory_mb)
    worker = make_worker(
        connect(redis_url), queue_names, name=name, maintenance_interval=maintenance_interval
    )
    worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)


def wait_for_batch(
    ctx: Context,
    batch_id: int,
    on_progress: Callable[[RunStats], None] | None = None,
    poll_s: float = 1.0,
) -> RunStats:
    """Follow a queued batch in the catalog until nothing is left to read or index."""
    first = ctx.catalog.batch_counts(batch_id)
    stats = RunStats(docs_total=first.docs_total - first.docs_indexed)
    base_done, base_failed = first.pages_done, first.pages_failed
    stats.pages_total = first.pages_total - base_done - base_failed
    base_docs = first.docs_indexed
    while True:
        c = ctx.catalog.batch_counts(batch_id)
        stats.pages_done = c.pages_done - base_done
        stats.pages_failed = c.pages_failed - base_failed
        stats.docs_done = c.docs_indexed - base_docs
        stats.docs_failed = c.docs_failed
        if on_progress:
            on_progress(stats)
        left = c.pages_total - c.pages_done - c.pages_failed
        if left == 0 and c.docs_total == c.docs_indexed:
            break
        time.sleep(poll_s)
    failures, _ = ctx.catalog.list_failures(batch_id, limit=50)
    stats.failures = [
        f"{f.doc_id[:12]} page {f.page}: {f.reason}" if f.page else f"{f.name}: {f.reason}"
        for f in failures
        if f.final
    ]
    return stats
