"""Scale benchmark: search latency and index size as the archive grows, both backends.

    python bench/scale_bench.py [--pages 2000000] [--steps 250000,500000,1000000,2000000]
                                [--embedded-steps 100000,250000,500000] [--queries 60]
                                [--compare-pages 50000] [--log FILE] [--skip-es]
                                [--skip-embedded]

The corpus is index_bench's (`Corpus`: documents of 1-12 pages, sentences from
`synth.text.paragraphs`, levels, units, share groups, categories, types and dates spread
out), streamed, never held whole. Elasticsearch (KHO_ELASTICSEARCH_URL; use an instance
of your own for millions of pages): the first --compare-pages pages are indexed chunk by
chunk, in alternating order, by kho's `ElasticIndex.index_pages` and by raw
`helpers.bulk` of the same actions into a twin index (the baseline, same run); then kho
alone carries on, stopping at each step to refresh and measure: search p50/p95/p99 as
the five index_bench principals (access filter in every query), document hits and page
hits, with the default facets, and the index's store size per million pages
(`_stats`). The embedded index (SQLite FTS5, a temporary file) is measured the same way at
its own steps. Every step's figures are printed (and appended to --log as a JSON line)
as soon as they are measured, so a run cut short still tells the largest size reached.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from index_bench import (
    DEFAULT_FACETS,
    PRINCIPALS,
    WRITERS,
    Corpus,
    chunks,
    compare_bulk,
    cpu_s,
    make_queries,
    quantiles,
    record_took,
)

from kho.index.base import SearchQuery
from kho.index.embedded import EmbeddedIndex

VARIANTS = {  # name: SearchQuery fields
    "documents+facets": {"group": "document", "facets": DEFAULT_FACETS},
    "pages+facets": {"group": "page", "facets": DEFAULT_FACETS},
    "documents": {"group": "document", "facets": ()},
}
ES_TARGET_MS, EMBEDDED_TARGET_MS = 50.0, 100.0  # p95, documents+facets


def measure(index, queries, took: list[int] | None = None) -> dict:
    """p50/p95/p99 (ms, end to end) of every (query, principal) in each variant; one
    untimed pass first, then the variants of a pair run in turn, rotating the first."""
    pairs = [(text, p) for _, text in queries for p in PRINCIPALS]
    names = list(VARIANTS)
    for text, principal in pairs:
        index.search(SearchQuery(text=text, **VARIANTS[names[0]]), principal)
    ms: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    server: dict[str, list[float]] = {n: [] for n in names}
    for i, (text, principal) in enumerate(pairs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            mark = len(took) if took is not None else 0
            start, cpu_start = time.perf_counter(), time.process_time()
            index.search(SearchQuery(text=text, limit=20, **VARIANTS[name]), principal)
            ms[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append((time.process_time() - cpu_start) * 1000)
            if took is not None:
                server[name].append(float(sum(took[mark:])))
    out = {}
    for name in names:
        out[name] = {"n": len(ms[name]), **quantiles(ms[name])}
        out[name]["cpu_p50"], out[name]["cpu_p95"] = _cuts(cpu[name])
        if took is not None:
            out[name]["server_p95"] = quantiles(server[name])["p95"]
    return out


def _cuts(values: list[float]) -> tuple[float, float]:
    q = quantiles(values)
    return q["p50"], q["p95"]


def report(step: dict, log: Path | None) -> None:
    line = f"{step['backend']:<8} {step['pages']:>9} pages"
    if "store_mb" in step:
        line += f"  {step['store_mb']:>8.0f} MB ({step['mb_per_million']:.0f} MB/M pages)"
    line += f"  indexed in {step['index_s']:.0f} s wall"
    print(line)
    for name, s in step["search"].items():
        srv = f"  srv p95 {s['server_p95']:6.1f}" if "server_p95" in s else ""
        srv += f"  cpu p50 {s['cpu_p50']:6.1f} p95 {s['cpu_p95']:6.1f}" if "cpu_p95" in s else ""
        print(f"    {name:<17} n {s['n']:>4}  p50 {s['p50']:6.1f}  p95 {s['p95']:6.1f}"
              f"  p99 {s['p99']:6.1f}{srv}")  # fmt: skip
    sys.stdout.flush()
    if log:
        with log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(step) + "\n")


def bulk_line(bulk: dict, log: Path | None) -> None:
    """index_bench.compare_bulk's figures, printed and logged."""
    parts = [
        f"{who} {bulk['pages_s'][who]:.0f} pages/s ({bulk['ratio'][who]:.2f}x, client CPU"
        f" {bulk['client_cpu_s'][who]:.1f} s)"
        for who in WRITERS
    ]
    print(f"bulk     {bulk['pages']:>9} pages  " + ", ".join(parts))
    if log:
        with log.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"backend": "bulk", **bulk}) + "\n")


def run_elastic(url: str, corpus: Corpus, args, queries, log: Path | None) -> None:
    from kho.core.settings import load_settings
    from kho.index.elastic import ElasticIndex
    from kho.index.elastic_query import PAGES_ONLY

    alias = f"kho-scale-{os.getpid()}"
    kho = ElasticIndex(url, alias, timeout=300, options=load_settings().elasticsearch)
    stream = chunks(corpus.documents(args.pages))
    start = time.perf_counter()
    try:
        bulk_line(compare_bulk(kho, stream, min(args.compare_pages, args.pages)), log)
        stored = kho.es.count(index=alias, query=PAGES_ONLY)["count"]
        for target in args.steps:
            for chunk in stream:
                kho.index_pages(chunk)
                stored += len(chunk)
                if stored >= target:
                    break
            kho.refresh()
            stats = kho.es.indices.stats(index=alias, metric="store")["_all"]["primaries"]
            pages = kho.es.count(index=alias, query=PAGES_ONLY)["count"]  # page records
            store = stats["store"]["size_in_bytes"] / 2**20  # both kinds of record
            took = record_took(kho.es)
            step = {"backend": "elastic", "pages": pages, "store_mb": store,
                    "mb_per_million": store / pages * 1e6, "index_s": time.perf_counter() - start,
                    "client_cpu_s": cpu_s(), "search": measure(kho, queries, took)}  # fmt: skip
            del kho.es.search  # record_took's wrapper: stop recording
            report(step, log)
            if stored < target:
                break
    finally:
        if not args.keep:
            kho.es.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
        kho.close()


def estimated_share(index, queries) -> float:
    """The share of (query, principal) document searches whose counts are estimates."""
    pairs = [(text, p) for _, text in queries for p in PRINCIPALS]
    return sum(index.search(SearchQuery(text=t), p).estimated for t, p in pairs) / len(pairs)


def run_embedded(corpus: Corpus, args, queries, log: Path | None) -> None:
    stream = chunks(corpus.documents(max(args.embedded_steps)))
    start, stored, write_cpu = time.perf_counter(), 0, 0.0
    with tempfile.TemporaryDirectory(prefix="kho-scale-") as tmp:
        with EmbeddedIndex(Path(tmp) / "index.sqlite") as index:
            for target in args.embedded_steps:
                for chunk in stream:
                    cpu_start = time.process_time()
                    stored += index.index_pages(chunk)
                    write_cpu += time.process_time() - cpu_start
                    if stored >= target:
                        break
                mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
                step = {"backend": "embedded", "pages": stored, "store_mb": mb,
                        "mb_per_million": mb / stored * 1e6,
                        "index_s": time.perf_counter() - start, "client_cpu_s": cpu_s(),
                        "write_cpu_s": write_cpu, "search": measure(index, queries),
                        "estimated": estimated_share(index, queries)}  # fmt: skip
                report(step, log)
                share = f"{step['estimated']:.0%}"
                print(f"    indexing {stored / write_cpu:.0f} pages per CPU second of"
                      f" index_pages; estimated totals: {share} of searches")  # fmt: skip


def sizes(text: str) -> list[int]:
    return sorted(int(float(s)) for s in text.split(",") if s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2_000_000)
    parser.add_argument("--steps", type=sizes, default=sizes("250000,500000,1000000,2000000"))
    parser.add_argument("--embedded-steps", type=sizes, default=sizes("100000,250000,500000"))
    parser.add_argument("--queries", type=int, default=60, help="x 5 principals x 3 variants")
    parser.add_argument("--compare-pages", type=int, default=50_000)
    parser.add_argument("--log", type=Path, help="append each step's figures as a JSON line")
    parser.add_argument("--keep", action="store_true", help="keep the Elasticsearch index")
    parser.add_argument("--skip-es", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args(argv)
    args.steps = [s for s in args.steps if s <= args.pages] or [args.pages]
    corpus = Corpus(seed=1)
    queries = make_queries(corpus, args.queries)
    start = time.perf_counter()
    targets = f"< {ES_TARGET_MS:.0f} ms (Elasticsearch), < {EMBEDDED_TARGET_MS:.0f} ms (embedded)"
    print(
        f"{len(queries)} queries x {len(PRINCIPALS)} principals x {len(VARIANTS)} variants"
        f" per step, limit 20, end to end (ms); targets: p95 documents+facets {targets}"
    )
    url = os.environ.get("KHO_ELASTICSEARCH_URL", "")
    if not args.skip_es and url:
        run_elastic(url, corpus, args, queries, args.log)
    elif not args.skip_es:
        print("note: KHO_ELASTICSEARCH_URL is unset: Elasticsearch skipped", file=sys.stderr)
    if not args.skip_embedded:
        run_embedded(corpus, args, queries, args.log)
    print(f"wall {time.perf_counter() - start:.0f} s, client CPU {cpu_s():.0f} s, peak memory"
          f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
