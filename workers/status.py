"""What an operator wants to know right now: batches, queues, workers.

`collect_status` reads the catalog (progress, pages/min, ETA) and, in distributed mode,
Redis (queue depths, rq's registries, the workers' heartbeats). It only reads; the CLI,
the web page and the metrics exporter all render the same `Status` value. Collected for a
principal, it names no document they may not see (failures, workers' current jobs), and
`audit_view` does the same for audit log entries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

from kho.core import catalog as cat
from kho.core.failures import HIDDEN, SEES_ALL
from kho.core.types import Principal, can_see

from .context import Context

RATE_WINDOW_S = 300  # pages/min is measured over the pages finished in this many seconds
MIN_SPAN_S = 10.0  # never divide by less: the first finished page gives no rate


@dataclass(frozen=True)
class BatchState:
    id: int
    name: str
    pages_total: int
    pages_done: int
    pages_failed: int  # for good
    pages_retrying: int
    docs_total: int
    docs_indexed: int
    docs_failed: int
    files_failed: int
    pages_per_min: float
    eta_s: float | None  # None: finished, or nothing finished lately to estimate from

    @property
    def finished(self) -> bool:
        return (
            self.pages_done + self.pages_failed >= self.pages_total
            and self.docs_indexed >= self.docs_total
        )


@dataclass(frozen=True)
class QueueState:
    name: str
    queued: int
    started: int
    failed: int
    scheduled: int  # waiting for a retry's backoff


@dataclass(frozen=True)
class WorkerState:
    name: str
    host: str
    pid: int
    state: str  # idle | busy | suspended | ...
    job: str  # current job id, "" when idle
    queues: tuple[str, ...]
    uptime_s: float
    heartbeat_age_s: float


@dataclass(frozen=True)
class Status:
    mode: str  # "local" (no queues) | "distributed"
    home: str
    catalog: str
    index: str
    batches: tuple[BatchState, ...]
    queues: tuple[QueueState, ...] = ()
    workers: tuple[WorkerState, ...] = ()
    queue_error: str = ""  # why the queues could not be read
    failures: tuple[cat.Failure, ...] = field(default=())

    def to_json(self) -> dict:
        data = asdict(self)
        for b, d in zip(self.batches, data["batches"], strict=True):
            d["finished"] = b.finished
        for f in data["failures"]:
            by_name = f["kind"] == "file" or not f["doc_id"]
            f["what"] = f["name"] if by_name else f"{f['doc_id'][:12]}:{f['page']}"
            for key in ("retry_at", "at"):
                f[key] = f[key].isoformat(timespec="seconds") + "Z" if f[key] else None
        return data


def page_rate(ctx: Context, batch_id: int, window_s: float = RATE_WINDOW_S) -> float:
    """Pages finished per minute lately (done or failed for good), from the catalog."""
    now = cat.now()
    count, first = ctx.catalog.pages_finished_since(batch_id, now - timedelta(seconds=window_s))
    if not count or first is None:
        return 0.0
    span = max((now - first).total_seconds(), MIN_SPAN_S)
    return 60.0 * count / span


def work_rate(ctx: Context, batch_id: int) -> float:
    """Pages per minute over the batch's working time, from its opening to its last page
    finished: what a finished batch ran at (its recent rate is 0, nothing finishes now)."""
    count, opened, last = ctx.catalog.pages_finished_span(batch_id)
    if not count or opened is None or last is None:
        return 0.0
    return 60.0 * count / max((last - opened).total_seconds(), MIN_SPAN_S)


def batch_state(ctx: Context, batch_id: int) -> BatchState:
    c = ctx.catalog.batch_counts(batch_id)
    left = c.pages_total - c.pages_done - c.pages_failed
    finished = left <= 0 and c.docs_indexed >= c.docs_total
    rate = work_rate(ctx, batch_id) if finished else page_rate(ctx, batch_id)
    eta = 60.0 * left / rate if left and rate > 0 else None
    return BatchState(
        id=batch_id,
        name=c.name,
        pages_total=c.pages_total,
        pages_done=c.pages_done,
        pages_failed=c.pages_failed,
        pages_retrying=c.pages_retrying,
        docs_total=c.docs_total,
        docs_indexed=c.docs_indexed,
        docs_failed=c.docs_failed,
        files_failed=c.failed_files,
        pages_per_min=round(rate, 2),
        eta_s=round(eta, 1) if eta is not None else None,
    )


def queue_states(conn, names) -> tuple[QueueState, ...]:
    from rq import Queue

    out = []
    for name in names:
        q = Queue(name, connection=conn)
        out.append(
            QueueState(
                name=name,
                queued=q.count,
                started=q.started_job_registry.get_job_count(cleanup=False),
                failed=q.failed_job_registry.get_job_count(cleanup=False),
                scheduled=q.scheduled_job_registry.get_job_count(cleanup=False),
            )
        )
    return tuple(out)


def worker_states(conn, names) -> tuple[WorkerState, ...]:
    from rq import Worker

    now = datetime.now(UTC)
    out = []
    for w in Worker.all(connection=conn):
        queues = tuple(w.queue_names())
        if not set(queues) & set(names):
            continue
        born = _aware(w.birth_date) or now
        beat = _aware(w.last_heartbeat) or born
        out.append(
            WorkerState(
                name=w.name,
                host=w.hostname or "",
                pid=int(w.pid or 0),
                state=str(w.get_state()),
                job=w.get_current_job_id() or "",
                queues=queues,
                uptime_s=round((now - born).total_seconds(), 1),
                heartbeat_age_s=round((now - beat).total_seconds(), 1),
            )
        )
    return tuple(sorted(out, key=lambda w: (w.host, w.name)))


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def connect_queues(settings) -> tuple[object | None, str]:
    """(Redis connection, "") in distributed mode; (None, why) when Redis does not answer;
    (None, "") in local mode."""
    if not settings.redis_url:
        return None, ""
    from kho.core.errors import ConfigError, ServiceError

    from .queue import connect

    try:
        return connect(settings.redis_url), ""
    except (ServiceError, ConfigError) as err:  # down, or refusing kho's password
        return None, str(err)


def collect_status(
    ctx: Context,
    conn=None,
    batch_id: int | None = None,
    batches: int = 20,
    failures: int = 0,
    queue_error: str = "",
    principal: Principal | None = None,
) -> Status:
    """Progress of one batch (or the newest ones), and of the queues and workers if `conn`;
    for a `principal`, without the names, reasons and ids of documents they may not see."""
    from .queue import QUEUES

    settings = ctx.settings
    ids = [batch_id] if batch_id is not None else [b.id for b in ctx.catalog.batches(batches)]
    listed = (
        ctx.catalog.list_failures(batch_id, limit=failures, principal=principal)[0]
        if failures
        else []
    )
    base = Status(
        mode="distributed" if settings.redis_url else "local",
        home=str(settings.home),
        catalog=ctx.catalog.safe_url,
        index=settings.backend,
        batches=tuple(batch_state(ctx, i) for i in ids),
        failures=tuple(listed),
        queue_error=queue_error,  # why `conn` is missing in distributed mode
    )
    if conn is None:
        return base
    from redis.exceptions import RedisError

    names = list(QUEUES.values())
    try:
        queues, workers = queue_states(conn, names), worker_states(conn, names)
    except RedisError as err:
        return replace(base, queue_error=f"Redis is unavailable: {err}")
    if principal is not None:
        workers = _hide_jobs(ctx, workers, principal)
    return replace(base, queues=queues, workers=workers)


def _hide_jobs(ctx: Context, workers, principal: Principal) -> tuple[WorkerState, ...]:
    """Workers as `principal` may see them: a current job on a hidden document is HIDDEN."""
    from .queue import JobTarget

    docs = {w.job: getattr(JobTarget.of(w.job), "doc_id", "") for w in workers if w.job}
    seen = ctx.catalog.visible_ids({d for d in docs.values() if d}, principal)
    hidden = {job for job, d in docs.items() if d and d not in seen}
    return tuple(replace(w, job=HIDDEN) if w.job in hidden else w for w in workers)


DOC_LISTS = ("shown", "docs")  # audit detail keys holding lists of document ids


def audit_view(catalog, entries, principal: Principal) -> list[dict]:
    """Audit log entries as `principal` may see them: a document they may not see appears as
    HIDDEN, and a search that showed one keeps neither its words nor its filters."""
    details = [dict(e.detail or {}) for e in entries]
    ids: set[str] = set()
    for d in details:
        ids.update(_doc_ids(d))
    seen = catalog.visible_ids(ids, principal)
    all_seen = can_see(principal, SEES_ALL)  # paths of files that never became documents
    for d in details:
        hidden = bool(_doc_ids(d) - seen)
        if d.get("doc_id") and str(d["doc_id"]) not in seen:
            d["doc_id"] = HIDDEN
        for k in DOC_LISTS:
            if isinstance(d.get(k), list):
                d[k] = [x if str(x) in seen else HIDDEN for x in d[k]]
        if isinstance(d.get("pages"), list):
            d["pages"] = [p if _page_doc(p) in seen else HIDDEN for p in d["pages"]]
        if isinstance(d.get("files"), list) and not all_seen:
            d["files"] = [HIDDEN] * len(d["files"])
        if hidden:
            d.update({k: HIDDEN for k in ("query", "filters", "total", "reason") if k in d})
    return [
        {"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "detail": d}
        for e, d in zip(entries, details, strict=True)
    ]


def _page_doc(page) -> str:
    return str(page).rpartition(":")[0]


def _doc_ids(detail: dict) -> set[str]:
    """The documents one audit entry names (a read's doc_id, a search's hits, a retry's)."""
    ids = {str(detail["doc_id"])} if detail.get("doc_id") else set()
    for k in DOC_LISTS:
        if isinstance(detail.get(k), list):
            ids.update(str(x) for x in detail[k])
    if isinstance(detail.get("pages"), list):
        ids.update(_page_doc(p) for p in detail["pages"])
    return ids
