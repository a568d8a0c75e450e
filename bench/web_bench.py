"""Server times of the search and document pages on an archive of ~20,000 pages.

    .venv/bin/python bench/web_bench.py [--pages 20000] [--runs 30] [--es] [--keep DIR]
                                        [--reuse DIR]

The archive is built through the real CLI from born-digital PDFs (a text layer, no OCR, so
it is quick) of Vietnamese text from `synth.text.paragraphs`: documents of 5 to 300 pages,
levels 0-2 and units qk7, qk7/f9, qk9 spread over them (a manifest). Then a real
`kho web serve` (waitress) is asked over HTTP by an officer logged in with a password
(clearance 1, unit qk7: the access filter is in every query), each request `--runs` times:

- "/" (the search page's HTML) and /api/search for a set of queries: marked and unmarked
  words, a phrase, a facet filter, page 3 of a long result list, the page-level view;
- /doc/<id> of a 300-page and of a 5-page document, and the 300-page one's next batch of
  pages (what the page fetches as the reader scrolls).

Baselines in the same run: for each query, the index's own `search` in this process with
the same query and principal (what the page costs on top of the engine); for every page,
/health over the same connection (what a round trip through waitress and Flask costs).
Printed: p50 and p95 in milliseconds. `--es` uses the Elasticsearch that
KHO_ELASTICSEARCH_URL names (a fresh index name) instead of the embedded index.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # serve_web: the tests' own way to start the server

SIZES = (5, 12, 40, 120, 300)  # pages per document, cycled
UNITS = ("qk7", "qk7/f9", "qk9")
PASSWORD = "officer-bench-1"
QUERIES = (  # (name, query arguments)
    ("marked word", {"q": "đảng"}),
    ("unmarked words", {"q": "dan van"}),
    ("phrase", {"q": '"công tác"'}),
    ("two words + unit", {"q": "chính trị", "unit": "qk7"}),
    ("filter only", {"level": "1"}),
    ("page 3", {"q": "đơn vị", "offset": "40"}),
    ("page view", {"q": "kiểm tra", "group": "page"}),
)


def build(root: Path, pages: int, es: bool) -> tuple[Path, dict]:
    """The archive through the real CLI: (home, env)."""
    from kho.synth.pages import write_born_digital_pdf
    from kho.synth.text import CATEGORIES, paragraphs
    from kho.web.auth import hash_password

    scans = root / "scans"
    scans.mkdir()
    rows, total, n = ["file,level,unit"], 0, 0
    while total < pages:
        size = min(SIZES[n % len(SIZES)], pages - total)
        texts = paragraphs(CATEGORIES[n % len(CATEGORIES)], size, seed=n)
        name = f"tai-lieu-{n:04d}.pdf"
        write_born_digital_pdf(scans / name, [f"Trang {i + 1}. {t}" for i, t in enumerate(texts)])
        rows.append(f"{name},{n % 3},{UNITS[n % len(UNITS)]}")
        total, n = total + size, n + 1
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = root / "kho.toml"
    config.write_text(
        '[web]\nauth = "password"\n[principals.officer]\nclearance = 1\nunits = ["qk7"]\n'
        f'password = "{hash_password(PASSWORD)}"\n',
        encoding="utf-8",
    )
    home = root / "home"
    env = {"KHO_CONFIG": str(config), "KHO_HOME": str(home)}
    if es:
        env["KHO_ELASTICSEARCH_URL"] = os.environ["KHO_ELASTICSEARCH_URL"]
        env["KHO_INDEX_NAME"] = f"kho-webbench-{os.getpid()}"
        (root / "es-index").write_text(env["KHO_INDEX_NAME"])
    t0 = time.perf_counter()
    kho(["ingest", str(scans), "--batch", "bench", "--jobs", "2", "-q"], env)
    print(f"built: {n} documents, {total:,} pages, ingested in {time.perf_counter() - t0:.0f} s")
    return home, env


def kho(args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KHO_") or "ELASTIC" in k}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "kho", *args], env=full, check=True, **kw)


def documents_by_size(env: dict) -> dict[int, str]:
    """{page count: a document id} among those the officer may open."""
    import json

    found = kho(["search", "", "--json", "--as", "officer", "--limit", "200"], env,
                capture_output=True, text=True).stdout  # fmt: skip
    by_size: dict[int, str] = {}
    from kho.core.settings import load_settings
    from kho.workers.context import Context

    c = Context(load_settings())
    for hit in json.loads(found):
        doc = c.catalog.document(hit["doc_id"])
        by_size.setdefault(doc.page_count, doc.id)
    c.close()
    return by_size


class Client:
    """An HTTP client with its own cookies, logged in as the officer."""

    def __init__(self, base: str):
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        form = self.get("/login").decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]
        data = urllib.parse.urlencode({"name": "officer", "password": PASSWORD, "csrf": csrf})
        req = urllib.request.Request(base + "/login", data=data.encode(),
                                     headers={"Origin": base})  # fmt: skip
        with self.opener.open(req, timeout=60) as reply:
            assert "/login" not in reply.url, "login refused"

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=60) as reply:
            assert reply.status == 200, (path, reply.status)
            return reply.read()

    def timed(self, path: str, runs: int) -> list[float]:
        self.get(path)  # warm: caches, the first query's compiled statements
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.get(path)
            out.append(time.perf_counter() - t0)
        return out


def engine_times(query: dict, runs: int) -> list[float]:
    """The index's own search for the page's query, in this process, as the officer."""
    from kho.core.settings import load_settings
    from kho.index.base import SearchQuery
    from kho.web.pages import FACETS, PAGE_SIZE
    from kho.workers.context import Context

    args = dict(query)
    text, offset = args.pop("q", ""), int(args.pop("offset", "0"))
    group = args.pop("group", "document")
    q = SearchQuery(text=text, filters={k: (v,) for k, v in args.items()}, limit=PAGE_SIZE,
                    offset=offset, facets=FACETS, group=group)  # fmt: skip
    settings = load_settings()
    principal = settings.principals["officer"]
    c = Context(settings)
    c.index.search(q, principal)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        c.index.search(q, principal)
        out.append(time.perf_counter() - t0)
    c.close()
    return out


def ms(times: list[float]) -> str:
    p50 = statistics.median(times) * 1000
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)] * 1000
    return f"{p50:8.1f} {p95:8.1f}"


def report(env: dict, base: str, runs: int) -> None:
    client = Client(base)
    health = client.timed("/health", runs)
    print(f"\n{'request':<34}{'p50 ms':>9}{'p95 ms':>9}   baseline p50/p95 ms")
    print(f"{'/health (round trip)':<34}{ms(health)}")
    for name, query in QUERIES:
        engine = ms(engine_times(query, runs))
        args = urllib.parse.urlencode(query)
        print(f"{'/ ' + name:<34}{ms(client.timed('/?' + args, runs))}   index {engine}")
        print(f"{'/api/search ' + name:<34}{ms(client.timed('/api/search?' + args, runs))}")
    for size, doc_id in sorted(documents_by_size(env).items()):
        if size in (5, 300):
            print(f"{f'/doc/<id> ({size} pages)':<34}{ms(client.timed(f'/doc/{doc_id}', runs))}"
                  f"   /health {ms(health)}")  # fmt: skip
            if size > 20:  # the next batch of pages, as the page loads it when scrolled to
                more = f"/doc/{doc_id}/pages/21"
                print(f"{'  its pages from 21 (lazy batch)':<34}{ms(client.timed(more, runs))}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--es", action="store_true")
    ap.add_argument("--keep", type=Path, help="build the archive in this folder and keep it")
    ap.add_argument("--reuse", type=Path, help="a folder --keep made: measure only")
    args = ap.parse_args()
    from conftest import serve_web

    tmp = None
    if args.reuse:
        root = args.reuse
    elif args.keep:
        root = args.keep
        root.mkdir(parents=True)
    else:
        tmp = tempfile.mkdtemp(prefix="kho-webbench-")
        root = Path(tmp)
    try:
        if not args.reuse:
            build(root, args.pages, args.es)
        env = {"KHO_CONFIG": str(root / "kho.toml"), "KHO_HOME": str(root / "home")}
        if args.es:
            env.update({k: v for k, v in os.environ.items() if k.startswith("KHO_ELASTIC")})
            env["KHO_INDEX_NAME"] = (root / "es-index").read_text()
        os.environ.update(env)  # this process's own Context (the engine baseline) reads them
        proc, base = serve_web(root / "home", env)
        try:
            report(env, base, args.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
