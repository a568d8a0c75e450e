"""Prometheus metrics: queue depths, pages read, reading time, failures by reason.

Everything is read at scrape time from the catalog and Redis, the sources of truth every
worker shares, so one exporter (`kho metrics`) covers a whole cluster and nothing is lost
when a worker dies. A scrape is a handful of aggregate queries, cached for a few seconds
so that several scrapers do not multiply them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from kho.core import catalog as cat

from .context import Context
from .queue import QUEUES
from .status import queue_states, worker_states

SECONDS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)  # per page
TOP_REASONS = 10  # failure reasons exported, most frequent first
REASON_CHARS = 80  # a reason label is cut to this many characters
CACHE_S = 5.0  # seconds a scrape's result is reused


class KhoCollector:
    """A prometheus_client collector over the catalog and (distributed mode) the queues."""

    def __init__(self, ctx: Context, conn=None, cache_s: float = CACHE_S):
        self.ctx, self.conn, self.cache_s = ctx, conn, cache_s
        self._lock = threading.Lock()
        self._at = 0.0
        self._metrics: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []  # families are only known at scrape time

    def collect(self):
        with self._lock:
            if time.monotonic() - self._at > self.cache_s:
                self._metrics = self._gather()
                self._at = time.monotonic()
            return list(self._metrics)

    def _gather(self) -> list[Metric]:
        metrics = [*catalog_metrics(self.ctx)]
        if self.conn is not None:
            metrics += queue_metrics(self.conn)
        return metrics


def catalog_metrics(ctx: Context) -> list[Metric]:
    pages = GaugeMetricFamily("kho_pages", "Pages in the catalog by state.", labels=["state"])
    docs = GaugeMetricFamily(
        "kho_documents", "Documents in the catalog by state.", labels=["state"]
    )
    done = CounterMetricFamily("kho_pages_processed", "Pages read (done) since the catalog began.")
    page_counts, doc_counts = ctx.catalog.state_counts()
    for state, n in sorted(page_counts.items()):
        pages.add_metric([state], n)
    for state, n in sorted(doc_counts.items()):
        docs.add_metric([state], n)
    done.add_metric([], page_counts.get(cat.DONE, 0))
    return [pages, docs, done, reading_seconds(ctx), failure_reasons(ctx)]


def reading_seconds(ctx: Context) -> HistogramMetricFamily:
    """Seconds per read page (from the pages' `seconds`), by source: ocr or text-layer."""
    hist = HistogramMetricFamily(
        "kho_ocr_seconds",
        "Seconds to read one page (cleanup + OCR, or text layer).",
        labels=["source"],
    )
    for source, count, total, *under in ctx.catalog.reading_seconds(SECONDS_BUCKETS):
        buckets = [(str(b), int(n or 0)) for b, n in zip(SECONDS_BUCKETS, under, strict=True)]
        hist.add_metric([source or "unknown"], buckets + [("+Inf", count)], float(total))
    return hist


def failure_reasons(ctx: Context, top: int = TOP_REASONS) -> GaugeMetricFamily:
    """Open failures (retrying or for good) by kind and reason, the most frequent reasons."""
    counts: Counter[tuple[str, str]] = Counter()
    for kind, reason, n in ctx.catalog.open_failure_reasons():
        counts[(kind, short_reason(reason))] += n
    gauge = GaugeMetricFamily(
        "kho_failures", "Open failures by kind and (cut) reason.", labels=["kind", "reason"]
    )
    for (kind, reason), n in counts.most_common(top):
        gauge.add_metric([kind, reason], n)
    return gauge


def short_reason(reason: str, limit: int = REASON_CHARS) -> str:
    line = " ".join((reason or "unknown").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def queue_metrics(conn) -> list[Metric]:
    up = GaugeMetricFamily("kho_queue_up", "1 if Redis answered this scrape.")
    jobs = GaugeMetricFamily(
        "kho_queue_jobs", "Jobs per queue and state.", labels=["queue", "state"]
    )
    workers = GaugeMetricFamily("kho_workers", "Workers by state.", labels=["state"])
    from redis.exceptions import RedisError

    names = list(QUEUES.values())
    try:
        queues, ws = queue_states(conn, names), worker_states(conn, names)
    except RedisError:
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    for q in queues:
        for state in ("queued", "started", "failed", "scheduled"):
            jobs.add_metric([q.name, state], getattr(q, state))
    for state, n in sorted(Counter(w.state for w in ws).items()):
        workers.add_metric([state], n)
    return [up, jobs, workers]


def serve(ctx: Context, conn, port: int, addr: str = "127.0.0.1"):
    """Serve /metrics over HTTP on `addr:port` in a background thread; returns the server."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(KhoCollector(ctx, conn))
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server
