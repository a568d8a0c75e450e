"""Distributed pipeline benchmark: kho workers against raw tesseract on the same pages.

    eval "$(scripts/services up redis)"
    python bench/pipeline_bench.py [--pages 32] [--doc-pages 4] [--height-in 5]
                                   [--noop-jobs 200] [--json]

Pages are rendered from Vietnamese text (`synth.pages.render_page`, 300 dpi, A4 width,
`--height-in` tall) and written as multi-page TIFF documents of `--doc-pages` pages.
Measured in one run:

- raw tesseract: `pytesseract.image_to_string(img, lang=DEFAULT_LANG)` on the same rendered
  pages, with 1 process and with one process per core (OMP_THREAD_LIMIT=1), no cleanup,
  nothing stored: what the machine itself gains from a second process is printed too;
- tesseract's library (tesserocr, the engine kho uses by default) on the same pages, one
  process per core, models loaded once per process, no cleanup, nothing stored: not a
  target, it shows what kho's own steps cost on top of the same engine;
- kho with 1 and with 2 `kho worker` processes (rq, fork per job) on a fresh catalog and
  storage root each: the clock starts when the batch is enqueued (the workers are already
  up and idle) and stops when the catalog says every page is read and every document
  indexed; that includes cleanup, orientation, OCR, page JSON and image, searchable PDF,
  classification and the index;
- the queue's own cost: `--noop-jobs` jobs of a no-op function through one worker.

Besides wall time, each run counts the CPU seconds spent per page (tesseract included;
for kho the workers, their work horses and everything those reaped): on a machine other
work is also using, that ratio still compares what kho and raw tesseract cost.

The catalog is SQLite and the index embedded unless KHO_DATABASE_URL / KHO_ELASTICSEARCH_URL
are set (then a fresh PostgreSQL database / index name per run). Redis database 9 is used
and flushed. Targets: 2 workers >= 1.8x one; kho (2 workers) >= 0.9x raw tesseract.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing import get_context
from pathlib import Path

from kho.core.settings import DEFAULT_LANG

REDIS_DB = 9
TARGET_SCALING = 1.8
TARGET_VS_RAW = 0.9
TEXT = (
    "BÁO CÁO\nKết quả công tác dân vận năm 2024 của Sư đoàn {n}. Bộ đội giúp nhân dân xây "
    "dựng nông thôn mới, sửa chữa đường giao thông, kênh mương và nhà văn hóa tại địa "
    "phương. Các chi bộ tổ chức học tập nghị quyết, kiểm tra việc thực hiện quy chế dân chủ "
    "ở cơ sở và báo cáo kết quả lên Đảng ủy cấp trên theo định kỳ hằng quý.\n"
    "Đồng chí bí thư chịu trách nhiệm tổ chức thực hiện; các cơ quan phối hợp theo dõi, đôn "
    "đốc và tổng hợp tình hình, đề xuất biện pháp khắc phục những hạn chế, khuyết điểm."
)


def make_pages(root: Path, count: int, height_in: float, per_doc: int) -> tuple[list, list]:
    """(page PNGs for raw tesseract, TIFF documents of the same pages for kho)."""
    from kho.synth.pages import render_page, write_multipage_tiff, write_png

    pngs, images = [], []
    for n in range(count):
        page = render_page(TEXT.format(n=n + 1), height_in=height_in)
        pngs.append(root / f"page{n:03d}.png")
        write_png(pngs[-1], page.image, page.dpi)
        images.append(page.image)
    docs = []
    for i in range(0, count, per_doc):
        docs.append(root / f"doc{i:03d}.tif")
        write_multipage_tiff(docs[-1], images[i : i + per_doc], 300)
    return pngs, docs


def _tesseract(path: str) -> float:
    """Read one page with plain tesseract; the CPU seconds it took (this process + tesseract)."""
    import pytesseract
    from PIL import Image

    r0, p0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    with Image.open(path) as img:
        pytesseract.image_to_string(img, lang=DEFAULT_LANG)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime + time.process_time() - p0


_api = None


def _tesseract_library(path: str) -> float:
    """Read one page with tesseract's library (tesserocr), models loaded once per process,
    no cleanup: the same engine kho uses by default. Returns the CPU seconds it took."""
    global _api
    import tesserocr
    from PIL import Image

    from kho.ocr.tesseract import tessdata_dir

    p0 = time.process_time()
    if _api is None:
        _api = tesserocr.PyTessBaseAPI(path=f"{tessdata_dir()}/", lang=DEFAULT_LANG)
    with Image.open(path) as img:
        _api.SetImage(img)
        _api.GetUTF8Text()
    return time.process_time() - p0


def raw_tesseract(paths: list[Path], procs: int, read=_tesseract) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for plain tesseract over the pages, `procs` processes."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    with get_context("spawn").Pool(procs) as pool:
        pool.map(read, [str(paths[0])] * procs)  # warm: imports, traineddata cached
        t0 = time.perf_counter()
        cpu = sum(pool.map(read, [str(p) for p in paths], chunksize=1))
        return time.perf_counter() - t0, cpu


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of these processes and of the children they have reaped (work horses,
    and through them tesseract): /proc/<pid>/stat utime, stime, cutime, cstime."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


class Deployment:
    """A fresh catalog, storage root and Redis database, and the workers on them."""

    def __init__(self, root: Path, redis_url: str):
        self.root = root
        self.env = {"KHO_HOME": str(root / "home"), "KHO_REDIS_URL": redis_url}
        self.stack = contextlib.ExitStack()
        if os.environ.get("KHO_DATABASE_URL"):
            from kho.synth.scratch import scratch_pg_database

            self.env["KHO_DATABASE_URL"] = self.stack.enter_context(
                scratch_pg_database(os.environ["KHO_DATABASE_URL"], "kho_bench")
            )
        if os.environ.get("KHO_ELASTICSEARCH_URL"):  # with its login settings
            es = {k: v for k, v in os.environ.items() if k.startswith("KHO_ELASTICSEARCH_")}
            self.env.update(es)
            self.env["KHO_INDEX_NAME"] = f"kho-bench-{uuid.uuid4().hex[:8]}"
        from kho.core.settings import load_settings
        from kho.workers.context import Context
        from kho.workers.queue import connect

        self.ctx = Context(load_settings(self.env))
        self.conn = connect(redis_url)
        self.conn.flushdb()
        self.procs: list[subprocess.Popen] = []

    def start_workers(self, n: int) -> None:
        from rq import Worker

        base = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
        for i in range(n):
            log = open(self.root / f"worker{i}.log", "w")  # noqa: SIM115 - lives with the run
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "kho", "worker", "--name", f"bench{i}"],
                    env={**base, **self.env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=self.conn)) < n:
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n{p.read_text()[-1500:]}" for p in self.root.glob("worker*.log")
                )
                raise SystemExit(f"workers did not start:\n{logs}")
            time.sleep(0.1)
        time.sleep(0.5)  # past their first maintenance pass

    def run_batch(self, paths: list[Path]) -> float:
        """Wall seconds from enqueueing the batch to every document indexed (and `self.cpu`:
        the CPU seconds the workers, their work horses and tesseract spent on it)."""
        from kho.ingest.register import BatchOptions, register_batch
        from kho.workers.jobs import enqueue_pending

        s = self.ctx.settings
        reg = register_batch(self.ctx.catalog, self.ctx.storage, paths, BatchOptions("b"), s.limits)
        pids = [p.pid for p in self.procs]
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        enqueue_pending(self.ctx, self.conn, reg.batch_id)
        while True:
            c = self.ctx.catalog.batch_counts(reg.batch_id)
            if c.pages_done + c.pages_failed == c.pages_total and c.docs_indexed == c.docs_total:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        time.sleep(0.2)  # the last horse reaped, its CPU time counted
        self.cpu = cpu_seconds(pids) - cpu0
        if c.pages_failed:
            raise SystemExit(f"{c.pages_failed} pages failed: see kho failed list")
        return elapsed

    def job_seconds(self) -> dict[str, float]:
        """Mean wall seconds per page job and per index job, from rq's records of them."""
        from rq.job import Job

        spent: dict[str, list[float]] = {"page": [], "doc": []}
        for key in self.conn.scan_iter(Job.redis_job_namespace_prefix + "*"):
            job_id = key.decode().removeprefix(Job.redis_job_namespace_prefix)
            kind = job_id.split("-", 1)[0]
            if kind in spent:
                job = Job.fetch(job_id, connection=self.conn)
                if job.started_at and job.ended_at:
                    spent[kind].append((job.ended_at - job.started_at).total_seconds())
        with self.ctx.catalog.session() as s:
            from sqlalchemy import func, select

            from kho.core.catalog import Page

            read = s.scalar(select(func.avg(Page.seconds))) or 0.0
        return {
            "read": float(read),
            "page_job": sum(spent["page"]) / max(1, len(spent["page"])),
            "index_job": sum(spent["doc"]) / max(1, len(spent["doc"])),
        }

    def noop_seconds(self, jobs: int) -> tuple[float, float]:
        """(wall, worker CPU) seconds per no-op job through the queue and one forking worker."""
        from rq import Queue

        q = Queue("kho-ocr", connection=self.conn)
        pids = [p.pid for p in self.procs]
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        enqueued = [q.enqueue(time.time, result_ttl=60) for _ in range(jobs)]
        while enqueued[-1].get_status(refresh=True) != "finished":
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        time.sleep(0.2)
        return wall / jobs, (cpu_seconds(pids) - cpu0) / jobs

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=30)
        self.conn.flushdb()
        if "KHO_INDEX_NAME" in self.env:
            with contextlib.suppress(Exception):
                es = self.ctx.index.es
                es.indices.delete(index=f"{self.env['KHO_INDEX_NAME']}-v*", allow_no_indices=True)
        self.ctx.close()
        self.stack.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=32)
    ap.add_argument("--doc-pages", type=int, default=4, help="pages per document")
    ap.add_argument("--height-in", type=float, default=5.0, help="page height in inches")
    ap.add_argument("--noop-jobs", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    redis = os.environ.get("KHO_REDIS_URL")
    if not redis:
        raise SystemExit('needs Redis: eval "$(scripts/services up redis)"')
    redis = redis.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="kho-bench-") as tmp:
        root = Path(tmp)
        (root / "scans").mkdir()
        pngs, docs = make_pages(root / "scans", args.pages, args.height_in, args.doc_pages)
        raw = {1: raw_tesseract(pngs, 1), cores: raw_tesseract(pngs, cores)}
        lib = raw_tesseract(pngs, cores, _tesseract_library)
        runs, cpu = {}, {}
        for n in (1, 2):
            (root / f"w{n}").mkdir()
            d = Deployment(root / f"w{n}", redis)
            try:
                d.start_workers(n)
                runs[n], cpu[n] = d.run_batch(docs), d.cpu
                if n == 1:
                    per_job = d.job_seconds()
                    noop = d.noop_seconds(args.noop_jobs)
            finally:
                d.close()
    pages = args.pages
    table = [
        ("raw tesseract, 1 process", *raw[1]),
        (f"raw tesseract, {cores} processes", *raw[cores]),
        (f"raw tesseract library, {cores} procs", *lib),
        ("kho, 1 worker", runs[1], cpu[1]),
        ("kho, 2 workers", runs[2], cpu[2]),
    ]
    raw_cpu = raw[1][1] / pages
    kho_cpu = cpu[1] / pages
    result = {
        "pages": pages,
        "doc_pages": args.doc_pages,
        "cores": cores,
        "rows": [
            {
                "run": r,
                "wall_s": round(w, 2),
                "pages_per_min": round(60 * pages / w, 1),
                "cpu_s_per_page": round(c / pages, 3),
            }
            for r, w, c in table
        ],
        "scaling_2_vs_1": round(runs[1] / runs[2], 2),
        "raw_scaling": round(raw[1][0] / raw[cores][0], 2),
        "kho_vs_raw_wall": round(raw[cores][0] / runs[min(2, cores)], 2),
        "kho_vs_raw_cpu": round(raw_cpu / kho_cpu, 2),
        "kho_vs_library_wall": round(lib[0] / runs[min(2, cores)], 2),
        "kho_vs_library_cpu": round(lib[1] / pages / kho_cpu, 2),
        "seconds_per_page_read": round(per_job["read"], 3),
        "seconds_per_page_job": round(per_job["page_job"], 3),
        "seconds_per_index_job": round(per_job["index_job"], 3),
        "noop_job_ms": round(1000 * noop[0], 1),
        "noop_job_cpu_ms": round(1000 * noop[1], 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    report(result, table, per_job, args.height_in)


def report(result: dict, table: list, per_job: dict, height_in: float) -> None:
    """The table and the ratios, for people."""
    pages, cores = result["pages"], result["cores"]
    docs_n = -(-pages // result["doc_pages"])
    print(f"{pages} pages in {docs_n} documents ({height_in} in tall, 300 dpi), {cores} cores")
    print(f"{'':34}{'wall s':>8}{'pages/min':>11}{'CPU s/page':>12}")
    for label, wall, c in table:
        print(f"{label:34}{wall:8.2f}{60 * pages / wall:11.1f}{c / pages:12.3f}")
    print(
        f"2 workers / 1 worker: {result['scaling_2_vs_1']:.2f}x (target >= {TARGET_SCALING}x); "
        f"raw tesseract {cores} processes / 1 on this machine now: {result['raw_scaling']:.2f}x"
    )
    print(
        f"kho / raw tesseract, pages/min ({min(2, cores)} workers, {cores} processes): "
        f"{result['kho_vs_raw_wall']:.2f}x; by CPU per page: {result['kho_vs_raw_cpu']:.2f}x "
        f"(target >= {TARGET_VS_RAW}x)"
    )
    print(
        f"kho / tesseract's library without cleanup (kho's own cost on the same engine): "
        f"{result['kho_vs_library_wall']:.2f}x by pages/min, {result['kho_vs_library_cpu']:.2f}x "
        "by CPU per page (no target: what cleanup, storage, queue and index cost)"
    )
    print(
        f"1 worker, per page: read (cleanup + OCR) {per_job['read']:.2f} s, whole page job "
        f"{per_job['page_job']:.2f} s; per document: index job {per_job['index_job']:.2f} s"
    )
    print(
        f"queue overhead: {result['noop_job_ms']:.1f} ms per no-op job (rq, fork per job), "
        f"{result['noop_job_cpu_ms']:.1f} ms of the worker's CPU"
    )


if __name__ == "__main__":
    main()
