"""Run a batch's stages on a local process pool, one page per task.

Pages of every pending document go to the pool; as soon as a document's last page is read,
its `process_document` task follows. The catalog records each step, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from kho.core.errors import ServiceError
from kho.core.logs import setup_logging
from kho.core.settings import Settings

from . import pipeline
from .context import Context

_ctx: Context | None = None


def _init_worker(settings: Settings) -> None:
    global _ctx
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one tesseract thread per process
    setup_logging(settings.home)
    _ctx = Context(settings)


def _page_task(doc_id: str, page: int) -> pipeline.PageReport:
    assert _ctx is not None
    try:
        return pipeline.process_page(_ctx, doc_id, page)
    except Exception as err:
        err.kho_page = page  # lets the parent record the failure on this page
        raise


def _doc_task(doc_id: str) -> pipeline.DocReport:
    assert _ctx is not None
    return pipeline.process_document(_ctx, doc_id)


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
    """Read every pending page of the batch and finish every document; returns the counts."""
    pages = ctx.catalog.pending_pages(batch_id)
    docs = ctx.catalog.unfinished_documents(batch_id)
    remaining: dict[str, int] = {d: 0 for d in docs}
    for doc_id, _ in pages:
        remaining[doc_id] = remaining.get(doc_id, 0) + 1
    stats = RunStats(pages_total=len(pages), docs_total=len(remaining))
    if not remaining:
        return stats
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    mpctx = mp.get_context(method)
    if method == "forkserver":
        mpctx.set_forkserver_preload(["kho.workers.pipeline", "kho.ocr.read"])
    with ProcessPoolExecutor(
        max_workers=max(1, jobs),
        mp_context=mpctx,
        initializer=_init_worker,
        initargs=(ctx.settings,),
    ) as pool:
        running: dict[Future, tuple[str, str | int]] = {}
        try:
            for doc_id, n in pages:
                running[pool.submit(_page_task, doc_id, n)] = ("page", doc_id)
            for doc_id, count in remaining.items():
                if count == 0:
                    running[pool.submit(_doc_task, doc_id)] = ("doc", doc_id)
            while running:
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    what, doc_id = running.pop(fut)
                    if what == "page":
                        _page_done(_result(ctx, fut, doc_id), stats)
                        remaining[doc_id] -= 1
                        if remaining[doc_id] == 0:
                            running[pool.submit(_doc_task, doc_id)] = ("doc", doc_id)
                    else:
                        _doc_done(_result(ctx, fut, doc_id), stats)
                if on_progress:
                    on_progress(stats)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return stats


def _result(ctx: Context, fut: Future, doc_id: str):
    """A task's report; an unexpected crash becomes that page's or document's failure."""
    try:
        return fut.result()
    except ServiceError:
        raise
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the batch
        reason = f"internal error: {type(err).__name__}: {err}"
        page = getattr(err, "kho_page", None)
        if page is not None:
            ctx.catalog.fail_page(doc_id, page, reason)
            return pipeline.PageReport(doc_id, page, False, 0.0, reason=reason)
        ctx.catalog.set_document(doc_id, status="failed", reason=reason)
        return pipeline.DocReport(doc_id, "failed", reason=reason)


def _page_done(report: pipeline.PageReport, stats: RunStats) -> None:
    if report.ok:
        stats.pages_done += 1
    else:
        stats.pages_failed += 1
        stats.failures.append(f"{report.doc_id[:12]} page {report.page}: {report.reason}")


def _doc_done(report: pipeline.DocReport, stats: RunStats) -> None:
    if report.status == "failed":
        stats.docs_failed += 1
        stats.failures.append(f"{report.doc_id[:12]}: {report.reason}")
    else:
        stats.docs_done += 1
