"""The executors behind one interface: configuration alone picks which runs a batch.

`executor_for(settings, ctx)` is a LocalExecutor (the process pool of workers/local.py)
without KHO_REDIS_URL, else a QueueExecutor (the rq queues of workers/jobs.py, run by
`kho worker` processes on any host with the same settings). Each has `run`, `resume`,
`retry` and `reread`, and returns plain values for the doors to print.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from kho.core.failures import Reset
from kho.core.settings import OcrOptions, Settings

from .context import Context
from .local import RunStats


@dataclass(frozen=True)
class Queued:
    """Jobs handed to the queues."""

    pages: int  # page jobs enqueued
    documents: int  # index jobs enqueued
    skipped: int = 0  # already waiting, scheduled or running
    reaped: int = 0  # abandoned jobs put back first (resume)


@dataclass(frozen=True)
class Outcome:
    """What `resume` or `retry` did: pages read here, or jobs queued for the workers."""

    pages_read: int = 0
    queued: Queued | None = None  # None: the work was done in this process


class Executor:
    """What both executors share: the catalog's batches, and re-reading pages in-process."""

    mode = ""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    @property
    def conn(self):
        """The Redis connection of the queues (None in local mode)."""
        return None

    def check_ready(self, lang: str) -> None:
        """Refuse to start what cannot run here (local mode: the OCR engine and `lang`)."""

    def batch_ids(self, batch_id: int | None) -> list[int]:
        return (
            [batch_id] if batch_id is not None else [b.id for b in self.ctx.catalog.batches(10_000)]
        )

    def reread(
        self, doc_id: str, pages: list[int], opts: OcrOptions, doc_lang: bool = False
    ) -> list[str]:
        """Read `pages` of a document again with `opts` and rebuild it; the reasons of the
        pages that could not be read. In this process with either executor (see
        workers.reindex.reread_document)."""
        from .reindex import reread_document

        return reread_document(self.ctx, doc_id, pages, opts, doc_lang=doc_lang)


class LocalExecutor(Executor):
    """Batches run in this machine's process pool, while the command waits."""

    mode = "local"

    def check_ready(self, lang: str) -> None:
        from kho.ocr.tesseract import check_tesseract

        check_tesseract(lang, self.ctx.settings.ocr.tessdata)

    def run(
        self,
        batch_id: int,
        jobs: int,
        on_progress: Callable[[RunStats], None] | None = None,
        wait: bool = False,
        on_queued: Callable[[Queued], None] | None = None,
    ) -> RunStats:
        """Read the batch's pending pages and finish its documents (always waited for)."""
        from .local import run_batch

        return run_batch(self.ctx, batch_id, jobs, on_progress)

    def resume(self, batch_id: int | None, jobs: int) -> Outcome:
        """Run what is left of one batch (or of every batch) here."""
        from .local import run_batch

        stats = [run_batch(self.ctx, i, jobs) for i in self.batch_ids(batch_id)]
        return Outcome(pages_read=sum(s.pages_done + s.pages_failed for s in stats))

    def retry(self, reset: Reset, jobs: int, batch_id: int | None = None) -> Outcome:
        """Run the reset pages and documents (those of `batch_id`, or of every batch) here."""
        return self.resume(batch_id, jobs)


class QueueExecutor(Executor):
    """Batches go to the rq queues; `kho worker` processes run them."""

    mode = "distributed"

    @cached_property
    def conn(self):
        from .queue import connect

        return connect(self.ctx.settings.redis_url)

    def run(
        self,
        batch_id: int,
        jobs: int,
        on_progress: Callable[[RunStats], None] | None = None,
        wait: bool = False,
        on_queued: Callable[[Queued], None] | None = None,
    ) -> RunStats | None:
        """Enqueue the batch's pages and documents (`on_queued` hears how many); then None
        at once, or with `wait` follow the batch in the catalog until it is finished."""
        from .jobs import enqueue_pending, wait_for_batch

        done = enqueue_pending(self.ctx, self.conn, batch_id)
        if on_queued:
            on_queued(Queued(done.pages, done.documents, done.skipped))
        if not wait:
            return None
        return wait_for_batch(self.ctx, batch_id, on_progress)

    def resume(self, batch_id: int | None, jobs: int) -> Outcome:
        """Rebuild the queues from the catalog: abandoned jobs back, missing ones enqueued."""
        from .jobs import resume

        done = resume(self.ctx, self.conn, batch_id)
        return Outcome(queued=Queued(done.pages, done.documents, done.skipped, done.reaped))

    def retry(self, reset: Reset, jobs: int, batch_id: int | None = None) -> Outcome:
        """Enqueue the reset pages, and the index jobs of reset documents left complete."""
        from .jobs import enqueue_page, queue_index_if_complete

        pages = sum(enqueue_page(self.ctx, self.conn, d, n) for d, n in reset.pages)
        docs = sum(queue_index_if_complete(self.ctx, self.conn, d) for d in reset.documents)
        return Outcome(queued=Queued(pages, docs))


def executor_for(settings: Settings, ctx: Context) -> LocalExecutor | QueueExecutor:
    """The executor the settings choose: the queues with a Redis URL, else the local pool."""
    return QueueExecutor(ctx) if settings.redis_url else LocalExecutor(ctx)
