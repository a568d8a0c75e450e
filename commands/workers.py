"""The operators' doors to the executors: `kho worker`, `resume`, `failed`, `metrics`, `status`.

Configuration alone picks the executor: with KHO_REDIS_URL set, batches go to the rq
queues and `kho worker` processes (on any host with the same settings) run them; without
it, everything runs in the local process pool as before.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import click
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from kho.commands.common import as_option, audit_cli, context_of
from kho.core.errors import ConfigError, NotFoundError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _audit(kctx, action: str, **detail) -> None:
    """An audit row for an operator's look at the archive, as the CLI's principal."""
    audit_cli(kctx, kctx.settings.principal(), action, **detail)


def _batch_id(kctx, name: str | None) -> int | None:
    if name is None:
        return None
    batch_id = kctx.catalog.batch_id(name)
    if batch_id is None:
        raise NotFoundError(f"no batch named {name!r} (see: kho status)")
    return batch_id


def execute_batch(kctx, batch_id: int, jobs: int, on_progress=None, *, wait: bool = False):
    """Run a registered batch with the executor the settings choose.

    Local mode: the process pool, returning its RunStats. Distributed mode: enqueue the
    batch's pages and documents, then either return None at once (workers run it) or, with
    `wait`, follow the batch in the catalog until it is finished and return its RunStats.
    """
    from kho.workers.executor import executor_for

    def queued(done) -> None:
        err.print(
            f"queued {done.pages} page jobs and {done.documents} index jobs "
            f"({done.skipped} were already queued or running)"
        )
        if not wait:
            name = kctx.catalog.batch_counts(batch_id).name
            err.print(
                "run `kho worker` on any host with the same settings to process them; "
                f"follow with: kho status --batch {name} --watch"
            )

    executor = executor_for(kctx.settings, kctx)
    return executor.run(batch_id, jobs, on_progress, wait=wait, on_queued=queued)


# worker -----------------------------------------------------------------------------------
def parse_queues(text: str) -> list[str]:
    from kho.workers.queue import QUEUES

    names = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if unknown or not names:
        raise click.BadParameter(f"queues are {', '.join(QUEUES)}, not {', '.join(unknown)}")
    return [QUEUES[q] for q in names]


@click.command("worker")
@click.option(
    "--queues",
    default="index,ocr",  # index jobs first: a finished document becomes searchable sooner
    show_default=True,
    help="Queues to take jobs from, in priority order: ocr (pages), index (documents).",
)
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option("--name", help="Worker name, unique among running workers (default: random).")
@click.option(
    "--maintenance-interval",
    type=click.IntRange(1, 3600),
    default=None,
    help="Seconds between looks for jobs abandoned by dead workers (default 30).",
)
@click.option("--verbose", "-v", is_flag=True, help="Log every job step.")
@click.pass_context
def worker(ctx, queues, burst, name, maintenance_interval, verbose):
    """Run jobs from the queues (distributed mode: needs KHO_REDIS_URL).

    One process runs the jobs (tesseract's models stay loaded); this one watches it and
    replaces it if it dies or a job hangs past its time limit."""
    from functools import partial

    from kho.workers.jobs import run_worker, settle_abandoned, warm_up
    from kho.workers.queue import MAINTENANCE_INTERVAL_S, OCR_QUEUE, connect
    from kho.workers.supervisor import Supervisor

    settings = ctx.obj["settings"]
    if not settings.redis_url:
        raise ConfigError(
            "kho worker needs KHO_REDIS_URL (the queues); without it, kho ingest reads the "
            "pages itself"
        )
    names = parse_queues(queues)
    reader = ""
    if OCR_QUEUE in names:
        from kho.ocr.tesseract import check_tesseract, engine_name

        check_tesseract(settings.ocr.lang, settings.ocr.tessdata)
        reader = f"; OCR {engine_name(settings.ocr.engine)}"
    conn = connect(settings.redis_url)
    level = logging.DEBUG if verbose else logging.INFO
    _log_to_stderr(level)
    kctx = warm_up()
    start = partial(
        run_worker,
        redis_url=settings.redis_url,
        queue_names=names,
        maintenance_interval=maintenance_interval or MAINTENANCE_INTERVAL_S,
        burst=burst,
        logging_level=logging.getLevelName(level),
    )
    sup = Supervisor(conn, names, start, on_abandoned=settle_abandoned, name=name)
    err.print(
        f"worker {sup.name} on {socket.gethostname()} (pid {os.getpid()}): queues "
        f"{', '.join(names)}; catalog {kctx.catalog.safe_url}; index {settings.backend}{reader}"
    )
    ctx.exit(sup.run())


def _log_to_stderr(level: int) -> None:
    """A worker is a daemon: its lines go to stderr (rq's do) as well as to kho.log."""
    from kho.core.logs import FORMAT, RedactingFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logger = logging.getLogger("kho")
    logger.addHandler(handler)
    logger.setLevel(level)


# resume -----------------------------------------------------------------------------------
@click.command("resume")
@click.option("--batch", "batch_name", help="Only this batch (default: every batch).")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None, help="Local mode only.")
@click.pass_context
def resume(ctx, batch_name, jobs):
    """Finish what the catalog says is left: requeue it (distributed) or run it (local)."""
    from kho.workers.executor import executor_for

    kctx = context_of(ctx)
    settings = kctx.settings
    batch_id = _batch_id(kctx, batch_name)
    _audit(kctx, "resume", batch=batch_name)
    done = executor_for(settings, kctx).resume(batch_id, jobs or settings.workers)
    if done.queued is None:
        out.print(f"resumed locally: {done.pages_read} pages read")
        return
    q = done.queued
    out.print(
        f"resumed: {q.pages} page jobs and {q.documents} index jobs queued, "
        f"{q.skipped} already queued or running, {q.reaped} abandoned jobs put back"
    )


# failed -----------------------------------------------------------------------------------
@click.group("failed")
def failed() -> None:
    """Failures: list them, retry them, or give up on them (purge)."""


_batch_opt = click.option("--batch", "batch_name", help="Only failures of this batch.")
_reason_opt = click.option("--reason", default="", help="Only failures whose reason contains this.")


@failed.command("list")
@_batch_opt
@_reason_opt
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--page", "page_no", type=click.IntRange(1, 1_000_000), default=1)
@click.option("--json", "as_json", is_flag=True)
@as_option
@click.pass_context
def failed_list(ctx, batch_name, reason, limit, page_no, as_json, as_name):
    """Failures, newest first: retrying (with the next attempt's time) or failed for good."""
    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name) if as_name else None
    rows, total = kctx.catalog.list_failures(
        _batch_id(kctx, batch_name),
        reason,
        limit=limit,
        offset=(page_no - 1) * limit,
        principal=principal,
    )
    shown = [f.doc_id or f.name for f in rows]
    detail = dict(batch=batch_name, reason=reason, total=total, shown=shown)
    audit_cli(kctx, principal or kctx.settings.principal(), "failed-list", **detail)
    if as_json:
        body = [{**f.__dict__, "at": _iso(f.at), "retry_at": _iso(f.retry_at)} for f in rows]
        click.echo(json.dumps({"total": total, "page": page_no, "failures": body}))
        return
    pages = max(1, -(-total // limit))
    out.print(f"{total} failures · page {page_no} of {pages}")
    table = Table("when (UTC)", "kind", "batch", "what", "state", "tries", "reason")
    for f in rows:
        state = "failed" if f.final else f"retry {f.retry_at:%H:%M:%S}" if f.retry_at else "retry"
        what = (
            f.name if f.kind == "file" else f"{f.doc_id[:12]}" + (f" p.{f.page}" if f.page else "")
        )
        table.add_row(
            f"{f.at:%Y-%m-%d %H:%M:%S}",
            f.kind,
            escape(f.batch),
            escape(what),
            state,
            str(f.attempts) if f.kind == "page" else "-",
            escape(f.reason),
        )
    out.print(table)


def _iso(t) -> str | None:
    return t.isoformat(timespec="seconds") + "Z" if t else None


@failed.command("retry")
@_batch_opt
@_reason_opt
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None, help="Local mode only.")
@click.pass_context
def failed_retry(ctx, batch_name, reason, jobs):
    """Run failed pages and documents again (files that failed registration: re-ingest them)."""
    from kho.workers.executor import executor_for

    kctx = context_of(ctx)
    settings = kctx.settings
    batch_id = _batch_id(kctx, batch_name)
    reset = kctx.catalog.reset_failures(batch_id, reason)
    out.print(f"retrying {len(reset.pages)} pages and {len(reset.documents)} documents")
    done = executor_for(settings, kctx).retry(reset, jobs or settings.workers, batch_id)
    if done.queued is not None:
        q = done.queued
        out.print(f"queued {q.pages} page jobs and {q.documents} index jobs")


@failed.command("purge")
@_batch_opt
@_reason_opt
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def failed_purge(ctx, batch_name, reason, yes):
    """Give up on failures for good: they stop counting; the audit log keeps what was purged."""
    kctx = context_of(ctx)
    batch_id = _batch_id(kctx, batch_name)
    if not yes:
        what = f"batch {batch_name}" if batch_name else "all batches"
        question = f"purge the failures of {what}" + (f" matching {reason!r}" if reason else "")
        if not click.confirm(question):
            out.print("nothing purged")
            return
    count = kctx.catalog.purge_failures(batch_id, reason)
    out.print(f"purged {count} failures (recorded in the audit log)")


# metrics ----------------------------------------------------------------------------------
@click.command("metrics")
@click.option("--port", type=click.IntRange(1, 65535), default=9108, show_default=True)
@click.option("--addr", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.pass_context
def metrics(ctx, port, addr):
    """Serve Prometheus metrics on /metrics: queues, pages, reading time, failures."""
    from kho.workers.executor import executor_for
    from kho.workers.metrics import serve

    kctx = context_of(ctx)
    _ = kctx.catalog  # built before the server's threads share it
    server = serve(kctx, executor_for(kctx.settings, kctx).conn, port, addr)
    err.print(f"serving metrics on http://{addr}:{server.server_port}/metrics (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


# status -----------------------------------------------------------------------------------
@click.command("status")
@click.option("--batch", "batch_name", help="One batch, with the reasons of its failures.")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(0.2, 3600), default=2.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON (one line per refresh with --watch).")
@as_option
@click.pass_context
def status(ctx, batch_name, watch, interval, as_json, as_name):
    """Batches (pages done/total, failed, pages/min, ETA), queues and workers."""
    from kho.workers.status import collect_status, connect_queues

    kctx = context_of(ctx)
    batch_id = _batch_id(kctx, batch_name)
    principal = kctx.settings.principal(as_name) if as_name else None
    audit_cli(kctx, principal or kctx.settings.principal(), "status", batch=batch_name, watch=watch)
    conn, why = connect_queues(kctx.settings)
    if why:
        err.print(f"[red]{escape(why)}[/]")

    def current():
        failures = 100 if batch_id else 0
        return collect_status(
            kctx, conn, batch_id, failures=failures, queue_error=why, principal=principal
        )

    try:
        if as_json:
            while True:
                click.echo(json.dumps(current().to_json(), ensure_ascii=False))
                if not watch:
                    return
                time.sleep(interval)
        if not watch:
            out.print(render_status(current()))
            return
        from rich.live import Live

        with Live(render_status(current()), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                live.update(render_status(current()), refresh=True)
    except KeyboardInterrupt:  # the way out of --watch
        pass


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def render_status(st) -> Group:
    parts: list = [
        f"home {escape(st.home)} · catalog {escape(st.catalog)} · index {st.index} · {st.mode}"
    ]
    batches = Table(
        "batch",
        "pages done/total",
        "failed",
        "retrying",
        "pages/min",
        "ETA",
        "docs",
        "files failed",
    )
    for b in st.batches:
        batches.add_row(
            escape(b.name),
            f"{b.pages_done}/{b.pages_total}",
            str(b.pages_failed),
            str(b.pages_retrying),
            f"{b.pages_per_min:.1f}",
            "done" if b.finished else _duration(b.eta_s),
            f"{b.docs_indexed}/{b.docs_total}"
            + (f" ({b.docs_failed} failed)" if b.docs_failed else ""),
            str(b.files_failed),
        )
    parts.append(batches)
    if st.mode == "local":
        parts.append("queues: local mode (no queues)")
    elif st.queue_error:
        parts.append(f"[red]queues: {escape(st.queue_error)}[/]")
    else:
        queues = Table("queue", "queued", "started", "failed", "scheduled (retry)")
        for q in st.queues:
            queues.add_row(q.name, str(q.queued), str(q.started), str(q.failed), str(q.scheduled))
        workers = Table("worker", "host", "pid", "state", "job", "uptime")
        for w in st.workers:
            workers.add_row(
                escape(w.name),
                escape(w.host),
                str(w.pid),
                w.state,
                escape(w.job),
                _duration(w.uptime_s),
            )
        parts += [queues, workers if st.workers else "workers: none running (start: kho worker)"]
    for f in st.failures:
        what = f.name if f.kind == "file" else f"{f.doc_id[:12]}:{f.page}"
        state = "failed" if f.final else "retrying"
        parts.append(f"[red]{f.kind} {state}[/] {escape(what)}: {escape(f.reason)}")
    return Group(*parts)
