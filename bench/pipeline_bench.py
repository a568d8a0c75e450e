"""Pipeline benchmark: kho (local and rq workers) against its own OCR engine, same pages.

    eval "$(scripts/services up redis)"          # add postgres, elasticsearch to include them
    python bench/pipeline_bench.py [--pages 32] [--doc-pages 4] [--height-in 5] [--rounds 2]
                                   [--jobs 2] [--cli] [--scaling] [--noop-jobs 200] [--json]

Pages are rendered from Vietnamese text (`synth.pages.render_page`, 300 dpi, A4 width,
`--height-in` tall) and written as PNG pages and as multi-page TIFF documents of
`--doc-pages` pages. Each round runs, in an order that rotates with the round:

- the engine alone: tesseract's library (tesserocr) with kho's model and settings (`[ocr]`
  languages, profile, psm, oem), loaded once per process, `--jobs` processes, each page
  decoded from its PNG, `Recognize` and the TSV of words with boxes (what kho asks the
  engine for), nothing else: no cleanup, no second pass, nothing stored;
- kho local: `kho ingest --jobs N` of the TIFF documents (the real command, from start to
  exit: registration, the process pool, cleanup, OCR, page files, searchable PDF,
  archival master, classification, index) on a fresh storage root;
- kho rq: `--jobs` `kho worker` processes, already up and idle, on a fresh catalog, storage
  root and Redis database: timed from enqueueing the registered batch to every document
  indexed.

kho's extra engine passes (tesseract's orientation check on a page that does not look
upright, the guard's second reading of a page cleanup changed much) are not done by the
baseline: they count as kho's cost. Each run counts CPU seconds as well as wall time: the
processes of the run and their descendants, sampled from /proc (own user + system time),
so the ratio holds on a machine other work is also using. Ratios are taken within a round
(interleaved) and their mean printed with their spread.

`--cli` adds raw tesseract (the program through pytesseract, one process per page) with 1
and `--jobs` processes, `--scaling` kho rq with 1 worker (2 workers / 1). The queue's own
cost is measured once: `--noop-jobs` no-op jobs through one worker.

The catalog is SQLite and the index embedded unless KHO_DATABASE_URL / KHO_ELASTICSEARCH_URL
are set (then a fresh PostgreSQL database / index name per run). Redis database 9 is used
and flushed. Target: kho >= 0.9x the engine alone's pages/min, locally and with rq.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing import get_context
from pathlib import Path

from kho.core.settings import DEFAULT_LANG, OcrOptions
from kho.synth.scratch import descendants

REDIS_DB = 9
TARGET = 0.9
TEXT = (
    "BÁO CÁO\nKết quả công tác dân vận năm 2024 của Sư đoàn {n}. Bộ đội giúp nhân dân xây "
    "dựng nông thôn mới, sửa chữa đường giao thông, kênh mương và nhà văn hóa tại địa "
    "phương. Các chi bộ tổ chức học tập nghị quyết, kiểm tra việc thực hiện quy chế dân chủ "
    "ở cơ sở và báo cáo kết quả lên Đảng ủy cấp trên theo định kỳ hằng quý.\n"
    "Đồng chí bí thư chịu trách nhiệm tổ chức thực hiện; các cơ quan phối hợp theo dõi, đôn "
    "đốc và tổng hợp tình hình, đề xuất biện pháp khắc phục những hạn chế, khuyết điểm."
)
SAMPLE_S = 0.1  # how often the CPU of a run's processes is sampled


def make_pages(root: Path, count: int, height_in: float, per_doc: int, first: int = 0):
    """(page PNGs for the engine alone, TIFF documents of the same pages for kho)."""
    from kho.synth.pages import render_page, write_multipage_tiff, write_png

    (root / "png").mkdir(parents=True, exist_ok=True)
    (root / "docs").mkdir(exist_ok=True)
    pngs, images = [], []
    for n in range(first, first + count):
        page = render_page(TEXT.format(n=n + 1), height_in=height_in)
        pngs.append(root / "png" / f"page{n:05d}.png")
        write_png(pngs[-1], page.image, page.dpi)
        images.append(page.image)
    docs = []
    for i in range(0, count, per_doc):
        docs.append(root / "docs" / f"doc{first + i:05d}.tif")
        write_multipage_tiff(docs[-1], images[i : i + per_doc], 300)
    return pngs, docs


# CPU of a tree of processes ---------------------------------------------------------------
def own_cpu(pid: int) -> float | None:
    """User + system seconds of one process itself (not of its children), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TreeCpu:
    """CPU seconds the processes under `roots` spend from start() to stop(): each process's
    own time, sampled every SAMPLE_S (a process that ends counts up to its last sample)."""

    def __init__(self, roots: list[int]):
        self.roots = roots
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        for root in self.roots:
            for pid in [root, *descendants(root)]:
                cpu = own_cpu(pid)
                if cpu is not None:
                    self.last[pid] = cpu

    def start(self) -> TreeCpu:
        self._sample()
        self.base = dict(self.last)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def stop(self) -> float:
        self._sample()
        self._stop.set()
        self._thread.join()
        return sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.last.items())


# the engine alone -------------------------------------------------------------------------
_api = None


def _engine_page(path: str) -> float:
    """Read one page with kho's engine and model, nothing else; the CPU seconds it took."""
    global _api
    import tesserocr
    from PIL import Image

    from kho.ocr.tesseract import tessdata_dir

    p0 = time.process_time()
    if _api is None:
        o = OcrOptions()
        folder = o.tessdata or str(tessdata_dir())
        _api = tesserocr.PyTessBaseAPI(path=f"{folder}/", lang=o.lang, psm=o.psm, oem=o.oem)
    with Image.open(path) as img:
        _api.SetImage(img)
        _api.Recognize()
        _api.GetTSVText(0)
    return time.process_time() - p0


def _program_page(path: str) -> float:
    """Read one page with the tesseract program; CPU seconds (this process + tesseract)."""
    import resource

    import pytesseract
    from PIL import Image

    r0, p0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    with Image.open(path) as img:
        pytesseract.image_to_string(img, lang=DEFAULT_LANG)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime + time.process_time() - p0


def engine_alone(paths: list[Path], procs: int, read=_engine_page) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for the engine over the pages, `procs` processes."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    with get_context("spawn").Pool(procs) as pool:
        pool.map(read, [str(paths[0])] * procs)  # warm: imports, models loaded
        t0 = time.perf_counter()
        cpu = sum(pool.map(read, [str(p) for p in paths], chunksize=1))
        return time.perf_counter() - t0, cpu


# kho ----------------------------------------------------------------------------------------
class Deployment:
    """A fresh catalog, storage root and Redis database, and the workers on them."""

    def __init__(self, root: Path, redis_url: str | None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.env = {"KHO_HOME": str(root / "home")}
        if redis_url:
            self.env["KHO_REDIS_URL"] = redis_url
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

        self.ctx = Context(load_settings(self.env))
        self.conn = None
        if redis_url:
            from kho.workers.queue import connect

            self.conn = connect(redis_url)
            self.conn.flushdb()
        self.procs: list[subprocess.Popen] = []

    def child_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
        return {**base, **self.env}

    def start_workers(self, n: int) -> None:
        from rq import Worker

        for i in range(n):
            log = open(self.root / f"worker{i}.log", "w")  # noqa: SIM115 - lives with the run
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "kho", "worker", "--name", f"bench{i}"],
                    env=self.child_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 120
        while len(Worker.all(connection=self.conn)) < n:
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n{p.read_text()[-1500:]}" for p in self.root.glob("worker*.log")
                )
                raise SystemExit(f"workers did not start:\n{logs}")
            time.sleep(0.1)
        time.sleep(0.5)  # past their first maintenance pass

    def register(self, paths: list[Path]) -> int:
        from kho.ingest.register import BatchOptions, register_batch

        s = self.ctx.settings
        return register_batch(
            self.ctx.catalog, self.ctx.storage, paths, BatchOptions("b"), s.limits
        ).batch_id

    def done(self, batch_id: int) -> bool:
        c = self.ctx.catalog.batch_counts(batch_id)
        if c.pages_done + c.pages_failed == c.pages_total and c.docs_indexed == c.docs_total:
            if c.pages_failed:
                raise SystemExit(f"{c.pages_failed} pages failed: see kho failed list")
            return True
        return False

    def run_batch(self, paths: list[Path]) -> tuple[float, float]:
        """(wall, CPU) seconds from enqueueing the batch to every document indexed."""
        from kho.workers.jobs import enqueue_pending

        batch_id = self.register(paths)
        cpu = TreeCpu([p.pid for p in self.procs]).start()
        t0 = time.perf_counter()
        enqueue_pending(self.ctx, self.conn, batch_id)
        while not self.done(batch_id):
            time.sleep(0.05)
        return time.perf_counter() - t0, cpu.stop()

    def ingest(self, folder: Path, jobs: int) -> tuple[float, float]:
        """(wall, CPU) seconds of `kho ingest --jobs N folder`, start to exit (local mode)."""
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kho", "ingest", "--jobs", str(jobs), str(folder)],
            env=self.child_env(),
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "ingest.log", "w"),  # noqa: SIM115 - lives with the run
        )
        cpu = TreeCpu([proc.pid]).start()
        if proc.wait() != 0:
            raise SystemExit(f"kho ingest failed: {(self.root / 'ingest.log').read_text()}")
        return time.perf_counter() - t0, cpu.stop()

    def job_seconds(self) -> dict[str, float]:
        """Mean wall seconds per page read, page job and index job, from the records."""
        from rq.job import Job
        from sqlalchemy import func, select

        from kho.core.catalog import Page

        spent: dict[str, list[float]] = {"page": [], "doc": []}
        for key in self.conn.scan_iter(Job.redis_job_namespace_prefix + "*"):
            job_id = key.decode().removeprefix(Job.redis_job_namespace_prefix)
            kind = job_id.split("-", 1)[0]
            if kind in spent:
                job = Job.fetch(job_id, connection=self.conn)
                if job.started_at and job.ended_at:
                    spent[kind].append((job.ended_at - job.started_at).total_seconds())
        with self.ctx.catalog.session() as s:
            read = s.scalar(select(func.avg(Page.seconds))) or 0.0
        return {
            "read": float(read),
            "page_job": sum(spent["page"]) / max(1, len(spent["page"])),
            "index_job": sum(spent["doc"]) / max(1, len(spent["doc"])),
        }

    def noop_seconds(self, jobs: int) -> tuple[float, float]:
        """(wall, worker CPU) seconds per no-op job through the queue and the workers."""
        from rq import Queue

        q = Queue("kho-ocr", connection=self.conn)
        cpu = TreeCpu([p.pid for p in self.procs]).start()
        t0 = time.perf_counter()
        enqueued = [q.enqueue(time.time, result_ttl=60) for _ in range(jobs)]
        while enqueued[-1].get_status(refresh=True) != "finished":
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        return wall / jobs, cpu.stop() / jobs

    def pss_mb(self) -> list[float]:
        """MB of memory of each worker with its descendants (the job process, rq's
        scheduler): their proportional set size, so pages they share count once."""
        out = []
        for p in self.procs:
            total = 0
            for pid in [p.pid, *descendants(p.pid)]:
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            out.append(total / 1024)
        return out

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.conn is not None:
            self.conn.flushdb()
        if "KHO_INDEX_NAME" in self.env:
            with contextlib.suppress(Exception):
                es = self.ctx.index.es
                es.indices.delete(index=f"{self.env['KHO_INDEX_NAME']}-v*", allow_no_indices=True)
        self.ctx.close()
        self.stack.close()


def redis_url() -> str:
    url = os.environ.get("KHO_REDIS_URL")
    if not url:
        raise SystemExit('needs Redis: eval "$(scripts/services up redis)"')
    return url.rsplit("/", 1)[0] + f"/{REDIS_DB}"


def rq_run(root: Path, docs: list[Path], workers: int, extra: dict) -> tuple[float, float]:
    d = Deployment(root, redis_url())
    try:
        d.start_workers(workers)
        run = d.run_batch(docs)
        if "per_job" not in extra and workers > 1:
            extra["per_job"] = d.job_seconds()
            extra["noop"] = d.noop_seconds(extra["noop_jobs"])
        return run
    finally:
        d.close()


def local_run(root: Path, folder: Path, jobs: int) -> tuple[float, float]:
    d = Deployment(root, None)
    try:
        return d.ingest(folder, jobs)
    finally:
        d.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=32)
    ap.add_argument("--doc-pages", type=int, default=4, help="pages per document")
    ap.add_argument("--height-in", type=float, default=5.0, help="page height in inches")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repetitions")
    ap.add_argument("--jobs", type=int, default=2, help="processes / workers (default 2)")
    ap.add_argument("--cli", action="store_true", help="also raw tesseract, the program")
    ap.add_argument("--scaling", action="store_true", help="also kho rq with 1 worker")
    ap.add_argument("--noop-jobs", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    redis_url()  # fail early
    n = args.jobs
    runs: dict[str, list[tuple[float, float]]] = {}
    extra: dict = {"noop_jobs": args.noop_jobs}
    with tempfile.TemporaryDirectory(prefix="kho-bench-") as tmp:
        root = Path(tmp)
        pngs, docs = make_pages(root / "scans", args.pages, args.height_in, args.doc_pages)
        plan = {
            f"engine alone, {n} processes": lambda r: engine_alone(pngs, n),
            f"kho local, ingest --jobs {n}": lambda r: local_run(r, root / "scans" / "docs", n),
            f"kho rq, {n} workers": lambda r: rq_run(r, docs, n, extra),
        }
        if args.cli:
            plan["raw tesseract program, 1 process"] = lambda r: engine_alone(
                pngs, 1, _program_page
            )
            plan[f"raw tesseract program, {n} processes"] = lambda r: engine_alone(
                pngs, n, _program_page
            )
        if args.scaling:
            plan["kho rq, 1 worker"] = lambda r: rq_run(r, docs, 1, extra)
        names = list(plan)
        for k in range(args.rounds):
            for i in range(len(names)):
                name = names[(i + k) % len(names)]
                runs.setdefault(name, []).append(plan[name](root / f"r{k}-{i}"))
                print(f"round {k + 1}: {name}: {runs[name][-1][0]:.1f} s", file=sys.stderr)
    result = summarize(args, runs, extra, names[0])
    if args.json:
        print(json.dumps(result))
        return
    report(result)


def summarize(args, runs: dict, extra: dict, base: str) -> dict:
    pages = args.pages
    rows = []
    for name, got in runs.items():
        wall = [w for w, _ in got]
        cpu = [c / pages for _, c in got]
        by_wall = [b[0] / w for b, w in zip(runs[base], wall, strict=True)]
        by_cpu = [b[1] / pages / c for b, c in zip(runs[base], cpu, strict=True)]
        rows.append(
            {
                "run": name,
                "pages_per_min": round(60 * pages / statistics.mean(wall), 1),
                "cpu_s_per_page": round(statistics.mean(cpu), 3),
                "vs_engine_pages_per_min": round(statistics.mean(by_wall), 2),
                "vs_engine_spread": round(max(by_wall) - min(by_wall), 2),
                "vs_engine_cpu": round(statistics.mean(by_cpu), 2),
                "pages_per_hour_per_core_cpu": round(3600 / statistics.mean(cpu)),
            }
        )
    out = {"pages": pages, "doc_pages": args.doc_pages, "rounds": args.rounds, "rows": rows}
    out["height_in"] = args.height_in
    if "per_job" in extra:
        out.update({f"seconds_{k}": round(v, 3) for k, v in extra["per_job"].items()})
        out["noop_job_ms"] = round(1000 * extra["noop"][0], 1)
        out["noop_job_cpu_ms"] = round(1000 * extra["noop"][1], 1)
    return out


def report(r: dict) -> None:
    """The table and the ratios, for people."""
    docs_n = -(-r["pages"] // r["doc_pages"])
    print(
        f"{r['pages']} pages in {docs_n} documents ({r['height_in']} in tall, 300 dpi), "
        f"{r['rounds']} interleaved rounds, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':36}{'pages/min':>10}{'CPU s/page':>11}{'x engine':>9}{'+-':>6}{'x CPU':>7}")
    for row in r["rows"]:
        print(
            f"{row['run']:36}{row['pages_per_min']:10.1f}{row['cpu_s_per_page']:11.3f}"
            f"{row['vs_engine_pages_per_min']:9.2f}{row['vs_engine_spread']:6.2f}"
            f"{row['vs_engine_cpu']:7.2f}"
        )
    print(
        f"x engine: pages/min over the engine alone's in the same round (mean; +-: spread); "
        f"x CPU: the engine's CPU per page over the run's. Target >= {TARGET}x"
    )
    if "noop_job_ms" in r:
        print(
            f"rq, per page: read (cleanup + OCR) {r['seconds_read']:.2f} s, whole page job "
            f"{r['seconds_page_job']:.2f} s; per document: index job {r['seconds_index_job']:.2f}"
            f" s; a no-op job: {r['noop_job_ms']:.1f} ms ({r['noop_job_cpu_ms']:.1f} ms CPU)"
        )


if __name__ == "__main__":
    main()
