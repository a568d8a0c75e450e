"""`kho worker`: one long-lived process runs the jobs; a small parent watches over it.

rq's default worker forks a work horse per job: each page then paid the fork (~16 ms), a
fresh catalog connection, and lost what the process had learnt (the original's checked
hash, the index client, warmed memory). The jobs now run in one process that stays
(`jobs.KhoWorker`, rq's SimpleWorker): tesseract's models, the classifier, the
connections and the caches are made once. What the fork gave is kept by a parent that runs
no job itself:

- a job that raises is the job's affair: `pipeline.run_task` records the page's or
  document's failure (or rq retries system trouble) and the process takes the next job;
- a job past its time limit in Python code is stopped by rq's alarm (JobTimeoutException,
  retried like system trouble); one stuck where the alarm cannot reach (inside a C library)
  is stopped by the parent, which kills the process a grace (`OVERDUE_GRACE_S`, less for
  short limits) after the job's limit;
- a process that dies (a crash in a C library, the OOM killer, the parent's kill) takes
  only its job with it: the parent settles that job as rq's reaper does for any dead worker
  (put back with one retry used, failed for good with the reason once none is left) and
  starts a new process under the same name;
- the memory limit (`[limits] worker_memory_mb`) caps the job process, as it caps each
  local pool worker.

The parent builds the warm state (`jobs.warm_up`) before forking, so a replacement starts
ready in milliseconds. SIGTERM and SIGINT are passed on to the job process, which finishes
its job and stops (rq's warm shutdown); the parent then stops too.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from rq import Worker
from rq.job import Job

from kho.core.errors import ConfigError

from .queue import free_dead_namesake, reap_abandoned, started_jobs_of

log = logging.getLogger("kho.supervisor")

OVERDUE_GRACE_S = 30  # past a job's rq time limit before the parent kills its process...
MIN_GRACE_S = 5  # ...or a quarter of the limit, if less, but never less than this
WATCH_INTERVAL_S = 1.0  # how often the parent looks at the job process
QUICK_DEATHS = 5  # deaths in a row within QUICK_DEATH_S of starting: stop, something is wrong
QUICK_DEATH_S = 5.0
PR_SET_PDEATHSIG = 1  # prctl(2)


class Supervisor:
    """Run `start(name)` in a child process and keep one running until it stops cleanly.

    `start` runs the worker in the child (it returns when the worker stops); `conn` is the
    parent's own Redis connection, `queue_names` the worker's queues; `on_abandoned(job,
    reason)` records a job its dead child left (before it is put back or failed).
    """

    def __init__(
        self,
        conn: Redis,
        queue_names: list[str],
        start: Callable[[str], None],
        on_abandoned: Callable[[Job, str], None],
        name: str | None = None,
        grace_s: float = OVERDUE_GRACE_S,
    ):
        self.conn, self.queue_names, self.start = conn, queue_names, start
        self.on_abandoned = on_abandoned
        self.name = name or uuid.uuid4().hex
        self.grace_s = grace_s
        self.child: mp.process.BaseProcess | None = None
        self.stopping = False
        self.overdue: dict[str, str] = {}  # job id -> why its process was killed
        self._mp = mp.get_context("fork")  # the child starts with the parent's warm state

    def check_name(self) -> None:
        """Refuse a name a live worker holds; take over one whose worker died here."""
        free_dead_namesake(self.conn, self.name, on_abandoned=self._abandoned)
        key = Worker.redis_worker_namespace_prefix + self.name
        if self.conn.exists(key) and not self.conn.hexists(key, "death"):
            raise ConfigError(f"an active worker named {self.name!r} exists: choose another --name")

    def run(self) -> int:
        """Keep the job process running; its exit status once it stops by itself."""
        self.check_name()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._pass_on)
        quick = 0
        while True:
            began = time.monotonic()
            args = (self.start, self.name, os.getpid())
            self.child = self._mp.Process(target=_job_process, args=args)
            self.child.start()
            while self.child.is_alive():
                self.child.join(WATCH_INTERVAL_S)
                if self.child.is_alive() and not self.stopping:
                    self._stop_overdue()
            code = self.child.exitcode
            if self.stopping or code == 0:
                return code or 0
            self._bury(code)
            quick = quick + 1 if time.monotonic() - began < QUICK_DEATH_S else 0
            if quick >= QUICK_DEATHS:
                log.error("worker %s died %d times on starting: stopped", self.name, quick)
                return 1

    def _pass_on(self, signum, _frame) -> None:
        """A stop asked of the parent is the job process's warm shutdown."""
        self.stopping = True
        if self.child is not None and self.child.pid and self.child.is_alive():
            os.kill(self.child.pid, signum)

    def _stop_overdue(self) -> None:
        """Kill the job process if its job ran `grace_s` past its time limit (rq's alarm
        did not reach it: stuck in a C library)."""
        if self.child is None or not self.child.pid:
            return
        now = datetime.now(UTC)
        for job in started_jobs_of(self.conn, self.queue_names, self.name):
            if not job.started_at or not job.timeout or job.timeout < 0:
                continue
            ran = (now - job.started_at.replace(tzinfo=UTC)).total_seconds()
            if ran > job.timeout + min(self.grace_s, max(MIN_GRACE_S, job.timeout / 4)):
                reason = f"ran {ran:.0f} s, past its time limit of {job.timeout} s: stopped"
                log.warning("job %s %s (worker %s killed)", job.id, reason, self.name)
                self.overdue[job.id] = reason
                os.kill(self.child.pid, signal.SIGKILL)
                return

    def _bury(self, code: int | None) -> None:
        """The job process died: settle the job it left, so a new one can take the name."""
        how = f"killed by {signal.Signals(-code).name}" if code and code < 0 else f"exit {code}"
        assert self.child is not None and self.child.pid  # it was started, and it died
        pid = self.child.pid
        log.warning("worker %s (pid %s) died (%s): starting another", self.name, pid, how)
        with contextlib.suppress(ProcessLookupError):  # what it started (rq's scheduler)
            os.killpg(pid, signal.SIGKILL)
        if not free_dead_namesake(self.conn, self.name, on_abandoned=self._abandoned):
            reap_abandoned(self.conn, self.queue_names, on_abandoned=self._abandoned)

    def _abandoned(self, job: Job, reason: str) -> None:
        self.on_abandoned(job, self.overdue.pop(job.id, reason))


def _job_process(start: Callable[[str], None], name: str, parent: int) -> None:
    """The child: in a process group of its own (what it starts dies with it), told to
    stop as rq's warm shutdown if the parent dies, then the worker."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):  # Linux: PR_SET_PDEATHSIG
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        return  # the parent died before we could ask
    start(name)
