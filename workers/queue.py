"""The rq plumbing: queues, job ids, de-duplicated enqueue, and abandoned-job recovery.

Two queues follow the stages: `kho-ocr` (one job per page) and `kho-index` (one job per
document). Job ids are derived from catalog ids (`page-<doc>-<n>`, `doc-<doc>`; rq allows
no colons), so an enqueue can tell whether the same work is already waiting or running.

Delivery is at least once. rq retries a job that raised (with backoff) and, when a work
horse dies under a live worker, the worker retries it too. A worker killed outright leaves
its job "started" for ever; rq notices only after the job's heartbeat lease runs out and
then schedules the retry through the scheduler, whose lock the dead worker may also hold.
`reap_abandoned` finds such jobs at once when the dead worker ran on this host (its pid is
gone) or its Redis key expired, and puts them back at the front of their queue (using up
one retry, so a page that kills every worker ends as a failure instead of looping). That
includes a job the worker had dequeued but not yet handed to a work horse (still "queued"
in rq's eyes, though in no queue): rq itself would only fail it after a minute.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis
from redis.exceptions import AuthenticationError as RedisAuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure

from kho.core.errors import ConfigError, ServiceError
from kho.core.secrets import redact_url

log = logging.getLogger("kho.queue")

OCR_QUEUE, INDEX_QUEUE = "kho-ocr", "kho-index"
QUEUES = {"ocr": OCR_QUEUE, "index": INDEX_QUEUE}
RETRY_INTERVALS_S = (2, 5, 10, 20, 40, 60, 120, 300, 600)  # seconds before retry 1, 2, ...
RESULT_TTL_S = 300  # a finished job's record stays this long
FAILURE_TTL_S = 7 * 24 * 3600  # a failed job stays in rq's failed registry this long
MAINTENANCE_INTERVAL_S = 30  # how often a worker looks for abandoned jobs
ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

# what a job may raise that another attempt can cure
TRANSIENT_ERRORS = (ServiceError, RedisConnectionError, RedisTimeoutError)


def connect(url: str) -> Redis:
    """A Redis connection that answers; ServiceError saying which URL (password masked) does
    not, ConfigError if it refuses the password."""
    conn = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    try:
        conn.ping()
    except RedisAuthenticationError as err:
        raise ConfigError(
            f"Redis at {redact_url(url)} refused kho's login: {err}; "
            "check the password in KHO_REDIS_URL (redis://:PASSWORD@host:port/db)"
        ) from err
    except (RedisConnectionError, RedisTimeoutError) as err:
        raise ServiceError(
            f"Redis at {redact_url(url)} is unavailable: {err}; start it or check KHO_REDIS_URL"
        ) from err
    return conn


def page_job_id(doc_id: str, page: int) -> str:
    return f"page-{doc_id}-{page}"


def doc_job_id(doc_id: str) -> str:
    return f"doc-{doc_id}"


@dataclass(frozen=True)
class JobTarget:
    """What a job id names: a page (`page` >= 1) or a whole document (`page` == 0)."""

    doc_id: str
    page: int

    @classmethod
    def of(cls, job_id: str) -> JobTarget | None:
        kind, _, rest = job_id.partition("-")
        if kind == "doc" and rest:
            return cls(rest, 0)
        doc_id, _, page = rest.rpartition("-")
        if kind == "page" and doc_id and page.isdigit():
            return cls(doc_id, int(page))
        return None


def retry_policy() -> Retry:
    return Retry(max=len(RETRY_INTERVALS_S), interval=list(RETRY_INTERVALS_S))


def active_job_ids(conn: Redis, job_ids: list[str]) -> set[str]:
    """Which of these jobs are queued, running, scheduled or deferred (one round trip per 1000)."""
    active: set[str] = set()
    for i in range(0, len(job_ids), 1000):
        part = job_ids[i : i + 1000]
        with conn.pipeline(transaction=False) as pipe:
            for job_id in part:
                pipe.hget(Job.key_for(job_id), "status")
            states = pipe.execute()
        active.update(j for j, st in zip(part, states, strict=True) if st and st.decode() in ACTIVE)
    return active


def enqueue_unique(
    conn: Redis,
    queue: str,
    func: Callable,
    args: tuple,
    job_id: str,
    timeout: int,
    *,
    at_front: bool = False,
) -> bool:
    """Enqueue `func(*args)` as `job_id` unless that job is already waiting or running.

    A finished or failed job of that id is replaced. Returns whether a job was enqueued.
    """
    try:
        old = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        old = None
    if old is not None:
        if old.get_status(refresh=False) in ACTIVE and not _lost(conn, queue, old):
            return False
        old.delete()  # the finished, failed or lost run's record, and its registry entries
    try:
        Queue(queue, connection=conn).enqueue_call(
            func,
            args=args,
            job_id=job_id,
            timeout=timeout,
            retry=retry_policy(),
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            description=job_id,
            at_front=at_front,
            unique=True,  # atomic: a concurrent enqueue of the same id wins, we skip
        )
    except DuplicateJobError:
        return False
    return True


def _lost(conn: Redis, queue: str, job: Job) -> bool:
    """A job rq calls queued that is in no queue and not running: its worker took it off the
    queue and died before registering it anywhere. Nothing else would ever run it."""
    if job.get_status(refresh=False) != JobStatus.QUEUED:
        return False
    q = Queue(queue, connection=conn)
    return (
        conn.lpos(q.key, job.id) is None
        and conn.lpos(q.intermediate_queue_key, job.id) is None
        and job.id not in q.started_job_registry
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet still answers kill(0)
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _text(reply: bytes | str) -> str:
    """A Redis reply as text (rq's connection answers in bytes)."""
    return reply.decode() if isinstance(reply, bytes) else reply


def owner_is_gone(conn: Redis, execution: Execution | None) -> str:
    """Why the worker running `execution` is dead, or "" if it may be alive."""
    if execution is None or not execution.worker_name:
        return "its execution record expired"
    key = Worker.redis_worker_namespace_prefix + execution.worker_name
    host, pid = conn.hmget(key, "hostname", "pid")
    if host is None:
        return f"worker {execution.worker_name} stopped sending heartbeats"
    if _text(host) == socket.gethostname() and pid and not _pid_alive(int(pid)):
        return f"worker {execution.worker_name} (pid {int(pid)}) died"
    return ""


def started_jobs_of(conn: Redis, queue_names: Iterable[str], worker_name: str) -> list[Job]:
    """The jobs rq's started registries say `worker_name` is running."""
    found = []
    for name in queue_names:
        registry = Queue(name, connection=conn).started_job_registry
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                execution = Execution.fetch(execution_id, job_id, connection=conn)
                if execution.worker_name == worker_name:
                    found.append(Job.fetch(job_id, connection=conn))
            except (NoSuchJobError, ValueError):
                continue  # finished meanwhile
    return found


def reap_abandoned(
    conn: Redis,
    queue_names: Iterable[str],
    on_abandoned: Callable[[Job, str], None] | None = None,
) -> int:
    """Requeue (or fail, when out of retries) started jobs whose worker is dead; a count.

    `on_abandoned(job, reason)` runs first, while `job.retries_left` still tells whether
    another attempt follows (the executor records that in the catalog).
    """
    reaped = 0
    for name in queue_names:
        queue = Queue(name, connection=conn)
        registry = queue.started_job_registry
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                execution = Execution.fetch(execution_id, job_id, connection=conn)
            except (NoSuchJobError, ValueError):
                execution = None
            why = owner_is_gone(conn, execution)
            if not why:
                continue
            if not conn.zrem(registry.key, f"{job_id}:{execution_id}"):
                continue  # another worker (or rq's own cleanup) took it first
            try:
                job = Job.fetch(job_id, connection=conn)
            except NoSuchJobError:
                continue
            status = job.get_status()
            # QUEUED here: the worker took it off the queue and died before its work horse
            # marked it started (rq registers the execution first): requeue it all the same
            if status == JobStatus.QUEUED and conn.lpos(queue.key, job_id) is not None:
                continue  # already back in its queue
            if status not in (JobStatus.STARTED, JobStatus.QUEUED):
                continue  # finished, failed or scheduled meanwhile
            reason = f"abandoned: {why} while running this job"
            log.warning("job %s %s", job_id, reason)
            if on_abandoned is not None:
                on_abandoned(job, reason)
            # a worker on one queue keeps the job in rq's intermediate list until its horse
            # starts it; left there, rq would fail the requeued job a minute later as stuck
            conn.lrem(queue.intermediate_queue_key, 0, job_id)
            with conn.pipeline() as pipe:
                if job.retries_left:
                    job.retries_left -= 1
                    job.started_at = None
                    queue.enqueue_job(job, pipeline=pipe, at_front=True)
                else:
                    record_job_failure(job, reason, pipe)
                pipe.execute()
            reaped += 1
    return reaped


def free_dead_namesake(
    conn: Redis, name: str, on_abandoned: Callable[[Job, str], None] | None = None
) -> bool:
    """A worker restarted under the name of one that died on this host: settle the dead one's
    jobs, then free the name (rq refuses a name whose key has not expired yet)."""
    key = Worker.redis_worker_namespace_prefix + name
    host, pid, death = conn.hmget(key, "hostname", "pid", "death")
    if host is None or death is not None or not pid:
        return False
    if _text(host) != socket.gethostname() or _pid_alive(int(pid)):
        return False
    reap_abandoned(conn, QUEUES.values(), on_abandoned)
    conn.hset(key, "death", datetime.now(UTC).isoformat())
    return True


def release_dead_scheduler_locks(conn: Redis, queue_names: Iterable[str]) -> int:
    """Free scheduler locks held by a dead scheduler process on this host; a count.

    Retries with backoff wait in rq's scheduled registry and only a scheduler (one per
    queue, chosen by a lock with a 61 s lease) moves them back to their queue. When the
    worker holding the lock is killed, a live worker takes over at once instead of a minute
    later.
    """
    from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
    from rq.scripts import release_lock

    released = 0
    for name in queue_names:
        lock = RQScheduler.get_locking_key(name)
        owner = conn.get(lock)
        if not owner:
            continue
        host, pid = conn.hmget(SCHEDULER_KEY_TEMPLATE % _text(owner), "hostname", "pid")
        if host is None or _text(host) != socket.gethostname() or not pid:
            continue  # unknown or elsewhere: its lease runs out by itself
        if not _pid_alive(int(pid)) and release_lock(conn, lock, _text(owner)):
            log.warning("scheduler %s (pid %d) died: released its lock", _text(owner), int(pid))
            released += 1
    return released


def worker_ttl(maintenance_interval: int) -> int:
    """An idle worker wakes once per worker_ttl - 15 s: tie it to the maintenance interval."""
    return maintenance_interval + 15
