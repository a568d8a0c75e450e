"""Run a batch's stages on local worker processes, one page per task.

Pages of every pending document go to the workers; as soon as a document's last page is
read, its `process_document` task follows. The catalog records each step, so an interrupted
run resumes where it stopped.

Failures are sorted as the queue sorts them: bad data is the page's recorded failure and
the batch goes on; system trouble (a service down, the disk full, a stored file missing)
stops the batch with the work left pending, for the same command to finish later. A worker
that dies takes only its task with it: that task is run again once on a new worker, then
failed for good (a page that kills every worker must not loop); a task past its deadline
is failed and its worker replaced.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kho.core import catalog as cat
from kho.core.errors import disk_full
from kho.core.settings import Limits

from . import pipeline
from .context import Context
from .pool import Died, Finished, Overdue, Task, WorkerPool

DEATHS_ALLOWED = 1  # a task whose worker died is run again this many times
WORKER_DIED = "worker died: out of memory? try fewer --jobs"
FULL_BELOW_BYTES = 8 << 20  # a storage root with less free space than this is full


def is_disk_full(path: Path) -> bool:
    """Whether the file system under `path` has (next to) no space left."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_BELOW_BYTES


def page_deadline_s(limits: Limits) -> float:
    """Wall-clock seconds one page may take in a worker, all steps together (rendering,
    text layer, cleanup, OCR): OCR has its own `page_timeout_s`, this is the backstop."""
    return 1.5 * limits.page_timeout_s + 30


def document_deadline_s(pages: int) -> float:
    """Wall-clock seconds one document's searchable PDF, classification and index may take."""
    return 300.0 + 10.0 * max(pages, 1)


@dataclass
class RunStats:
    pages_total: int = 0
    pages_done: int = 0
    pages_failed: int = 0
    docs_total: int = 0
    docs_done: int = 0
    docs_failed: int = 0
    started: float = field(default_factory=time.monotonic)
    failures: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def pages_per_min(self) -> float:
        finished = self.pages_done + self.pages_failed
        return 60.0 * finished / self.elapsed if self.elapsed > 0 else 0.0


def run_batch(
    ctx: Context,
    batch_id: int,
    jobs: int,
    on_progress: Callable[[RunStats], None] | None = None,
) -> RunStats:
    """Read every pending page of the batch and finish every document; returns the counts.

    Raises the system trouble that stopped it (ServiceError, StorageError...): what was
    not done stays pending.
    """
    pages = ctx.catalog.pending_pages(batch_id)
    docs = ctx.catalog.unfinished_documents(batch_id)
    remaining: dict[str, int] = {d: 0 for d in docs}
    for doc_id, _ in pages:
        remaining[doc_id] = remaining.get(doc_id, 0) + 1
    stats = RunStats(pages_total=len(pages), docs_total=len(remaining))
    if not remaining:
        return stats
    run = _Run(ctx, stats, remaining)
    run.todo.extend(Task(d, n, run.page_deadline) for d, n in pages)
    run.todo.extend(run.document_task(d) for d, count in remaining.items() if count == 0)
    with WorkerPool(ctx.settings, min(max(1, jobs), len(run.todo))) as pool:
        while run.todo or pool.busy():
            while run.todo and pool.idle():
                pool.give(run.todo.popleft())
            for event in pool.events(timeout=0.5):
                run.handle(event)
            if on_progress:
                on_progress(stats)
    return stats


class _Run:
    """One run's bookkeeping: what is left to do, and what each event means for it."""

    def __init__(self, ctx: Context, stats: RunStats, remaining: dict[str, int]):
        self.ctx, self.stats, self.remaining = ctx, stats, remaining
        self.todo: deque[Task] = deque()
        self.page_deadline = page_deadline_s(ctx.settings.limits)

    def document_task(self, doc_id: str) -> Task:
        doc = self.ctx.catalog.get_document(doc_id)
        return Task(doc_id, 0, document_deadline_s(doc.page_count if doc else 1))

    def handle(self, event: Finished | Died | Overdue) -> None:
        task = event.task
        if isinstance(event, Finished):
            if event.trouble:  # system trouble: stop, the rest stays pending
                if not isinstance(event.outcome, BaseException):
                    raise RuntimeError(f"{task}: trouble reported without its error")
                raise event.outcome
            self.settled(task, event.outcome)
        elif isinstance(event, Died):
            if is_disk_full(self.ctx.settings.home):  # a C library may abort on ENOSPC
                raise disk_full(self.ctx.settings.home)
            task.deaths += 1
            if task.deaths <= DEATHS_ALLOWED:
                self.note_retry(task, f"worker {event.how}; running it again")
                self.todo.appendleft(task)
            else:
                self.fail(task, f"{WORKER_DIED} ({event.how}, {task.deaths} times)")
        else:
            limit = self.ctx.settings.limits.page_timeout_s
            why = f" (limits.page_timeout_s={limit:g})" if task.page else ""
            self.fail(task, f"took more than {task.deadline_s:.0f} s{why}: stopped")

    def fail(self, task: Task, reason: str) -> None:
        self.settled(task, pipeline.record_failure(self.ctx, task.doc_id, task.page, reason))

    def note_retry(self, task: Task, reason: str) -> None:
        if task.page:
            self.ctx.catalog.note_page_retry(task.doc_id, task.page, reason, cat.now())
        else:
            self.ctx.catalog.note_document_retry(task.doc_id, reason, cat.now())

    def settled(self, task: Task, report) -> None:
        stats = self.stats
        if task.page:
            if report.ok:
                stats.pages_done += 1
            else:
                stats.pages_failed += 1
                stats.failures.append(f"{task.doc_id[:12]} page {task.page}: {report.reason}")
            self.remaining[task.doc_id] -= 1
            if self.remaining[task.doc_id] == 0:
                self.todo.append(self.document_task(task.doc_id))
        elif report.status == cat.FAILED:
            stats.docs_failed += 1
            stats.failures.append(f"{task.doc_id[:12]}: {report.reason}")
        else:
            stats.docs_done += 1
