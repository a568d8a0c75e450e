"""Distributed soak: one large batch through rq workers; is the last tenth as fast as the first?

    eval "$(cat /tmp/services.env)"      # or scripts/services up: Redis, PostgreSQL, Elasticsearch
    python bench/soak_bench.py [--pages 3000] [--doc-pages 10] [--height-in 2.5] [--workers 2]
                               [--json]

Small pages (`synth.pages.render_page` of a few Vietnamese lines, 300 dpi, A4 width,
`--height-in` tall: quick to render and read, but real cleanup and OCR) are written as
multi-page TIFF documents and registered as one batch on a fresh catalog (a new PostgreSQL
database when KHO_DATABASE_URL is set), storage root, Redis database (9, flushed) and
Elasticsearch index (a new name when KHO_ELASTICSEARCH_URL is set). The whole batch is
enqueued at once (the enqueueing counts in the first tenth) for `--workers` `kho worker`
processes already up. For each tenth of the
pages (in the order they were read) it prints the pages/min, the workers' CPU seconds per
page and each worker's memory (PSS of its process tree: parent, job process, rq's
scheduler; shared pages counted once) when the tenth was done. Targets: the last tenth's
pages/min >= 0.9x the first's, and the memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline_bench  # noqa: E402
from pipeline_bench import Deployment, TreeCpu, make_pages, redis_url  # noqa: E402

TARGET = 0.9
# short pages: the number on the first line, so that every page (and document) differs
TEXT = "BÁO CÁO SỐ {n}/BC\nKết quả công tác dân vận năm 2024 của Sư đoàn {n}."
POLL_S = 0.5


def soak(root: Path, docs: list[Path], workers: int, pages: int) -> list[dict]:
    """One row per tenth of the batch: pages, seconds, CPU seconds, workers' RSS in MB."""
    from kho.workers.jobs import enqueue_pending

    d = Deployment(root / "deploy", redis_url())
    try:
        batch_id = d.register(docs)
        registered = d.ctx.catalog.batch_counts(batch_id).pages_total
        if registered != pages:
            raise SystemExit(f"{registered} of {pages} pages registered: pages are not distinct")
        d.start_workers(workers)
        pss0 = d.pss_mb()
        cpu = TreeCpu([p.pid for p in d.procs]).start()
        t0 = time.perf_counter()  # enqueueing counts in the first tenth (workers start on it)
        enqueue_pending(d.ctx, d.conn, batch_id)
        print(f"enqueued in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rows, last_t, last_cpu, last_n = [], t0, 0.0, 0
        marks = [round(pages * k / 10) for k in range(1, 11)]
        while marks:
            c = d.ctx.catalog.batch_counts(batch_id)
            read = c.pages_done + c.pages_failed
            finished = c.docs_indexed + c.docs_failed == c.docs_total
            if read >= marks[0] and (len(marks) > 1 or finished):
                now = time.perf_counter()
                cpu._sample()
                spent = sum(v - cpu.base.get(p, 0.0) for p, v in cpu.last.items())
                rows.append(
                    {
                        "tenth": 11 - len(marks),
                        "pages": read - last_n,
                        "seconds": round(now - last_t, 1),
                        "pages_per_min": round(60 * (read - last_n) / (now - last_t), 1),
                        "cpu_s_per_page": round((spent - last_cpu) / max(1, read - last_n), 3),
                        "pss_mb": [round(m) for m in d.pss_mb()],
                        "failed": c.pages_failed,
                        "load": round(os.getloadavg()[0], 1),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr)
                last_t, last_cpu, last_n = now, spent, read
                marks.pop(0)
                continue
            time.sleep(POLL_S)
        cpu.stop()
        rows[0]["pss_mb_at_start"] = [round(m) for m in pss0]
        return rows
    finally:
        d.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=3000)
    ap.add_argument("--doc-pages", type=int, default=10)
    ap.add_argument("--height-in", type=float, default=2.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    redis_url()
    with tempfile.TemporaryDirectory(prefix="kho-soak-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        pipeline_bench.TEXT = TEXT
        _, docs = make_pages(root / "scans", args.pages, args.height_in, args.doc_pages)
        made = time.perf_counter() - t0
        for png in (root / "scans" / "png").glob("*.png"):
            png.unlink()  # only the documents are read
        rows = soak(root, docs, args.workers, args.pages)
    first, last = rows[0]["pages_per_min"], rows[-1]["pages_per_min"]
    result = {
        "pages": args.pages,
        "workers": args.workers,
        "catalog": "postgresql" if os.environ.get("KHO_DATABASE_URL") else "sqlite",
        "index": "elasticsearch" if os.environ.get("KHO_ELASTICSEARCH_URL") else "embedded",
        "render_s": round(made, 1),
        "tenths": rows,
        "last_vs_first": round(last / first, 2),
        "load": round(os.getloadavg()[0], 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.pages} pages ({args.height_in} in tall) in documents of {args.doc_pages}, "
        f"{args.workers} rq workers, catalog {result['catalog']}, index {result['index']}, "
        f"load {result['load']}"
    )
    print(
        f"{'tenth':>5}{'pages':>7}{'seconds':>9}{'pages/min':>11}{'CPU s/page':>12}"
        f"{'load':>6}  PSS MB"
    )
    for r in rows:
        pss = " ".join(f"{m:4d}" for m in r["pss_mb"])
        print(
            f"{r['tenth']:5d}{r['pages']:7d}{r['seconds']:9.1f}{r['pages_per_min']:11.1f}"
            f"{r['cpu_s_per_page']:12.3f}{r['load']:6.1f}  {pss}"
        )
    print(
        f"last tenth / first: {result['last_vs_first']:.2f}x (target >= {TARGET}x); "
        f"PSS at start {rows[0]['pss_mb_at_start']} MB"
    )


if __name__ == "__main__":
    main()
