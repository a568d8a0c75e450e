"""Redis memory per queued page job, for the capacity plan.

    eval "$(scripts/services up redis)"
    .venv/bin/python bench/queue_memory.py [--jobs 100000] [--db 11]

Enqueues `--jobs` page jobs exactly as `kho ingest` does (`workers.jobs.enqueue_page`: the
job hash with its payload, retry policy and timeouts, the queue list entry, the unique-id
check) into Redis database `--db` (flushed before and after), and reports `used_memory`
before and after, per job and per million jobs. Baseline in the same run: the same number
of bare `RPUSH`es of the job ids alone (the least a queue of ids can take).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from types import SimpleNamespace


def used(conn) -> int:
    return int(conn.info("memory")["used_memory"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--db", type=int, default=11)
    args = ap.parse_args()
    from redis import Redis

    from kho.core.settings import load_settings
    from kho.workers.jobs import enqueue_page

    url = os.environ["KHO_REDIS_URL"].rsplit("/", 1)[0] + f"/{args.db}"
    conn = Redis.from_url(url)
    ctx = SimpleNamespace(settings=load_settings())
    pages = 20
    rows = []
    for name in ("bare RPUSH of ids (baseline)", "kho page jobs"):
        conn.flushdb()
        before, t0 = used(conn), time.perf_counter()
        for n in range(args.jobs):
            doc_id = hashlib.sha256(str(n // pages).encode()).hexdigest()
            if name.startswith("bare"):
                conn.rpush("ids", f"{doc_id}:{n % pages + 1}")
            else:
                enqueue_page(ctx, conn, doc_id, n % pages + 1)
        seconds, grown = time.perf_counter() - t0, used(conn) - before
        rows.append((name, grown / args.jobs, grown / args.jobs * 1e6 / 2**30, seconds))
    conn.flushdb()
    print(f"{args.jobs:,} queued jobs, Redis db {args.db}")
    print(f"{'':<30}{'bytes/job':>10}{'GiB per 1M':>12}{'enqueue s':>11}")
    for name, per_job, per_million, seconds in rows:
        print(f"{name:<30}{per_job:>10,.0f}{per_million:>12.2f}{seconds:>11.1f}")


if __name__ == "__main__":
    main()
