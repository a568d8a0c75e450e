"""Worker processes the parent watches one by one: which task each runs, since when, and
whether it is still alive.

A worker that dies (the OOM killer, a crash in a C library) or runs past its task's deadline
takes only its own task with it: the parent knows that task, kills or buries the process and
starts a new one, and the other workers go on. Each worker's address space is capped
(`[limits] worker_memory_mb`), so a hostile page fails alone instead of swapping the host.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import resource
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from kho.core.errors import ServiceError
from kho.core.logs import setup_logging
from kho.core.settings import Settings

log = logging.getLogger("kho.pool")
# what every worker imports for its first page and document (the stages import lazily)
PRELOAD = [
    "kho.workers.pipeline",
    "kho.ocr.read",
    "kho.ocr.searchable_pdf",
    "kho.archive.master",
    "kho.classify.model",
    "kho.classify.metadata",
    "kho.classify.review",
    "kho.index.embedded",
]
IDLE_S = 2.0  # a worker waiting this long for a task closes the source file it kept open


@dataclass
class Task:
    """One unit of work: read a page (`page` >= 1) or finish a document (`page` == 0)."""

    doc_id: str
    page: int = 0
    deadline_s: float = 0.0  # wall-clock seconds the worker may spend on it
    deaths: int = 0  # workers that died running it

    def __str__(self) -> str:
        doc = f"doc {self.doc_id[:12]}"
        return f"{doc} page {self.page}" if self.page else doc


@dataclass(frozen=True)
class Finished:
    task: Task
    outcome: object  # the report, or the system trouble (an exception) to propagate
    trouble: bool = False


@dataclass(frozen=True)
class Died:
    task: Task
    how: str  # "killed by SIGKILL", "exit status 1"


@dataclass(frozen=True)
class Overdue:
    task: Task
    seconds: float


def apply_memory_limit(megabytes: int) -> None:
    """Cap this process's address space: past it allocations fail (MemoryError) instead of
    the host swapping. RLIMIT_AS counts virtual memory, hence a generous default."""
    if megabytes <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _worker_main(settings: Settings, conn: Connection) -> None:
    """A worker: build the context once, then run the tasks the parent sends until told to
    stop. Ctrl-C is the parent's to handle: it stops the workers itself."""
    from kho.workers import pipeline
    from kho.workers.context import Context
    from kho.workers.sources import close_kept

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one tesseract thread per process
    apply_memory_limit(settings.limits.worker_memory_mb)
    setup_logging(settings.home)
    ctx = Context(settings)
    while True:
        try:
            if not conn.poll(IDLE_S):
                close_kept()  # nothing to do: the source file kept open for page jobs goes
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        doc_id, page = message
        log.info("working on %s", Task(doc_id, page))
        answer: tuple[object, bool]  # the report, or the system trouble to propagate
        try:
            answer = (pipeline.run_task(ctx, doc_id, page), False)
        except Exception as err:  # noqa: BLE001 - system trouble: the parent stops the batch
            answer = (err, True)
        try:
            conn.send(answer)
        except (TypeError, AttributeError, pickle.PicklingError):  # an unpicklable error
            conn.send((ServiceError(f"{type(answer[0]).__name__}: {answer[0]}"), True))


class _Worker:
    def __init__(self, mpctx, settings: Settings):
        self.conn, child = mpctx.Pipe()
        self.process = mpctx.Process(target=_worker_main, args=(settings, child), daemon=True)
        self.process.start()
        child.close()
        self.task: Task | None = None
        self.since = 0.0

    def give(self, task: Task) -> None:
        self.conn.send((task.doc_id, task.page))
        self.task, self.since = task, time.monotonic()

    def kill(self) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.join(10)
        self.conn.close()

    def how_it_died(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"


class WorkerPool:
    """`size` worker processes; `give` hands a task to an idle one, `events` reports what
    became of the tasks: finished, died with their worker, or overdue (worker replaced)."""

    def __init__(self, settings: Settings, size: int):
        # one worker per core: BLAS threads would only reserve memory under the limit
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self._mp = mp.get_context(method)
        if method == "forkserver":  # imported once for every worker (scikit-learn: ~1.5 s)
            self._mp.set_forkserver_preload(PRELOAD)
        self.settings = settings
        self.workers = [_Worker(self._mp, settings) for _ in range(max(1, size))]

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def idle(self) -> int:
        return sum(w.task is None for w in self.workers)

    def busy(self) -> int:
        return len(self.workers) - self.idle()

    def give(self, task: Task) -> None:
        next(w for w in self.workers if w.task is None).give(task)

    def events(self, timeout: float) -> Iterator[Finished | Died | Overdue]:
        """What happened within `timeout` seconds; dead or overdue workers are replaced."""
        owner = {w.conn: w for w in self.workers if w.task is not None}
        owner.update({w.process.sentinel: w for w in self.workers})
        ready = {id(owner[obj]): owner[obj] for obj in wait(list(owner), timeout=timeout)}
        for w in ready.values():
            task, outcome, trouble = w.task, None, False
            if task is not None and self._has_result(w):
                try:
                    outcome, trouble = w.conn.recv()
                except (EOFError, OSError):  # died while answering: handled as a death
                    outcome, trouble = None, False
            if task is not None and outcome is not None:
                w.task = None
                yield Finished(task, outcome, trouble)
                task = None
            if w.process.is_alive():
                continue
            how = w.how_it_died()
            self._replace(w)
            if task is not None:
                log.warning("worker %d died (%s) on %s", w.process.pid, how, task)
                yield Died(task, how)
        now = time.monotonic()
        for w in list(self.workers):
            if w.task is not None and w.task.deadline_s and now - w.since > w.task.deadline_s:
                task, seconds = w.task, now - w.since
                log.warning("worker %d ran %s for %.0f s: replaced", w.process.pid, task, seconds)
                self._replace(w)
                yield Overdue(task, seconds)

    @staticmethod
    def _has_result(w: _Worker) -> bool:
        try:
            return w.conn.poll()
        except (EOFError, OSError):
            return False

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self.workers[self.workers.index(w)] = _Worker(self._mp, self.settings)

    def close(self) -> None:
        """Stop every worker: tell the idle ones, kill the busy ones (their tasks stay to do)."""
        for w in self.workers:
            if w.task is None and w.process.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for w in self.workers:
            if w.task is None:
                w.process.join(max(0.0, deadline - time.monotonic()))
            w.kill()
