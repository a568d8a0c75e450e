"""Index benchmark: indexing throughput and access-controlled search latency, both backends.

    python bench/index_bench.py [--pages 200000] [--embedded-pages 20000] [--queries 200]
                                [--compare-pages 50000] [--json] [--skip-es]

Pages come from a seeded generator (8-15 sentences sampled from a pool drawn from
`synth.text.paragraphs`, documents of 1-12 pages with mixed levels, units, share groups,
categories, types and dates), streamed in chunks of whole documents, never held whole.

Elasticsearch (KHO_ELASTICSEARCH_URL): the first --compare-pages pages are indexed three
times, chunk by chunk in rotating order (`compare_bulk`): as the baseline by raw
`helpers.bulk` of the very actions kho's `bulk_actions` made (page and document
records), by kho's
`ElasticIndex.index_pages` into its alias, and by `index_pages(fresh=True)` into a new
index as `kho reindex` writes; the twins with the same settings and mappings, no refresh
per request and one at the end, counted in each. The rest of the corpus is indexed by kho
alone. Then
each query of a generated set is run end to end (`ElasticIndex.search`, client included)
as several principals, with the default facets and without. The embedded index (SQLite
FTS5 in a temporary dir) is measured the same way on a smaller corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kho.core.types import Access, PageDoc, Principal
from kho.index.base import SearchQuery, SearchResult
from kho.index.embedded import EmbeddedIndex
from kho.index.text import fold, tokens
from kho.synth.text import CATEGORIES, DOC_TYPES, UNITS, paragraphs

CHUNK_PAGES = 1000  # pages per index_pages call (whole documents), as `kho reindex` writes
POOL_PARAGRAPHS = 1000  # per category: about 3,000 sentences each
TARGET_RATIO = 0.95  # kho bulk indexing against raw helpers.bulk
TARGET_P95_MS = 50.0  # Elasticsearch search p95, warm single node
NO_FACETS: tuple[str, ...] = ()
DEFAULT_FACETS = SearchQuery().facets
GROUPS = ("tuyen-huan", "to-chuc", "can-bo", "bao-ve", "dan-van", "chinh-sach", "kiem-tra")
# Readers from the whole-archive view down to a regiment, and one reading by groups only.
PRINCIPALS = (
    Principal("cuc-chinh-tri", 3, ("*",)),
    Principal("qk7-chu-nhiem", 2, ("qk7",)),
    Principal("qk3-f2-tuyen-huan", 1, ("qk3/f2",), ("tuyen-huan",)),
    Principal("qk5-f1-e3-tro-ly", 0, ("qk5/f1/e3",), ("can-bo",)),
    Principal("to-cong-tac", 2, (), ("bao-ve", "kiem-tra")),
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


class Corpus:
    """A seeded stream of documents; the same seed gives the same pages in the same order."""

    def __init__(self, seed: int = 1):
        self.seed = seed
        self.pool = {
            c: [s for p in paragraphs(c, POOL_PARAGRAPHS, seed) for s in _SENTENCE_END.split(p)]
            for c in CATEGORIES
        }

    def documents(self, pages: int) -> Iterator[list[PageDoc]]:
        """Documents until `pages` pages in all (the last one cut to fit)."""
        rng = random.Random(f"corpus:{self.seed}")
        made, n = 0, 0
        while made < pages:
            count = min(pages - made, 1 + min(11, int(rng.expovariate(1 / 3))))
            yield self._document(rng, f"bench{n:07d}", count)
            made, n = made + count, n + 1

    def _document(self, rng: random.Random, doc_id: str, count: int) -> list[PageDoc]:
        category = rng.choice(CATEGORIES)
        depth = rng.choices((1, 2, 3), (15, 25, 60))[0]
        path = (f"qk{rng.randint(1, 9)}", f"f{rng.randint(1, 5)}", f"e{rng.randint(1, 4)}")
        groups = tuple(rng.sample(GROUPS, rng.choices((0, 1, 2), (60, 30, 10))[0]))
        access = Access(
            rng.choices((0, 1, 2, 3), (40, 30, 20, 10))[0], "/".join(path[:depth]), groups
        )
        doc_type = rng.choice(DOC_TYPES)
        fields = dict(
            category=category,
            title=f"{doc_type} {' '.join(rng.choice(self.pool[category]).split()[:8])}",
            batch=f"bench-{rng.randint(1, 40):03d}",
            filename=f"{doc_id}.pdf",
            access=access,
            doc_type=doc_type,
            issuer=rng.choice(UNITS),
            doc_date=f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            ingested_at=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T08:00:00",
            lang="vi",
        )
        return [
            PageDoc(
                doc_id, page, self._text(rng, category), confidence=rng.uniform(70, 99), **fields
            )
            for page in range(1, count + 1)
        ]

    def _text(self, rng: random.Random, category: str) -> str:
        """8-15 sentences of the document's category, sometimes one of a neighbour's."""
        sentences = rng.choices(self.pool[category], k=rng.randint(8, 15))
        if rng.random() < 0.3:
            sentences[rng.randrange(len(sentences))] = rng.choice(self.pool[rng.choice(CATEGORIES)])
        return " ".join(sentences)


def chunks(docs: Iterator[list[PageDoc]], size: int = CHUNK_PAGES) -> Iterator[list[PageDoc]]:
    """Whole documents grouped into lists of about `size` pages."""
    chunk: list[PageDoc] = []
    for pages in docs:
        if chunk and len(chunk) + len(pages) > size:
            yield chunk
            chunk = []
        chunk.extend(pages)
    if chunk:
        yield chunk


def make_queries(corpus: Corpus, n: int, seed: int = 2) -> list[tuple[str, str]]:
    """(kind, text): words, word sets and quoted phrases from corpus sentences, half folded."""
    rng = random.Random(f"queries:{seed}")
    out: list[tuple[str, str]] = []
    while len(out) < n:
        words = [t for t in tokens(rng.choice(corpus.pool[rng.choice(CATEGORIES)])) if len(t) > 1]
        words = [t for t in words if not t.isdigit()]
        if len(words) < 3:
            continue
        kind = rng.choices(("word", "words", "phrase"), (40, 35, 25))[0]
        if kind == "word":
            text = rng.choice(words)
        elif kind == "words":
            picked = sorted(rng.sample(range(len(words)), rng.randint(2, 3)))
            text = " ".join(words[i] for i in picked)
        else:
            start = rng.randrange(len(words) - 1)
            text = '"' + " ".join(words[start : start + rng.randint(2, 3)]) + '"'
        folded = len(out) % 2 == 1
        out.append((kind + (" folded" if folded else ""), fold(text) if folded else text))
    return out


def timed(call: Callable[[], object]) -> float:
    """Seconds `call` took."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def timed_index(
    index_pages: Callable[[list[PageDoc]], object], stream: Iterator[list[PageDoc]]
) -> tuple[int, float]:
    """Pages stored and seconds spent inside `index_pages` (generation excluded)."""
    pages, seconds = 0, 0.0
    for chunk in stream:
        seconds += timed(lambda c=chunk: index_pages(c))
        pages += len(chunk)
    return pages, seconds


def quantiles(ms: list[float]) -> dict[str, float]:
    """p50/p95/p99 (interpolated between samples) and the mean."""
    cuts = statistics.quantiles(ms * 2 if len(ms) == 1 else ms, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "mean": statistics.fmean(ms)}


def measure_search(index, queries: list[tuple[str, str]], took: list[int] | None = None) -> dict:
    """Latency of every (query, principal) with the default facets and with none.

    One untimed pass warms caches; then both variants run per pair, alternating which
    goes first so neither gets the warmer cache.
    """
    pairs = [(kind, text, p) for kind, text in queries for p in PRINCIPALS]

    def run(text: str, principal: Principal, facets: tuple[str, ...]) -> tuple[float, SearchResult]:
        query = SearchQuery(text=text, limit=20, facets=facets)
        start = time.perf_counter()
        result = index.search(query, principal)
        return (time.perf_counter() - start) * 1000, result

    for _, text, principal in pairs:
        run(text, principal, DEFAULT_FACETS)
    rows: dict[tuple[str, ...], list] = {DEFAULT_FACETS: [], NO_FACETS: []}
    for i, (kind, text, principal) in enumerate(pairs):
        for facets in (DEFAULT_FACETS, NO_FACETS)[:: 1 if i % 2 else -1]:
            mark = len(took) if took is not None else 0
            ms, result = run(text, principal, facets)
            server = took[mark] if took is not None and len(took) > mark else None
            rows[facets].append((kind, ms, server, result.total))
    out = {}
    for facets, name in ((DEFAULT_FACETS, "facets"), (NO_FACETS, "no facets")):
        data = rows[facets]
        stats = {"n": len(data), **quantiles([ms for _, ms, _, _ in data])}
        stats["mean_hits"] = statistics.fmean(total for *_, total in data)
        if took is not None:
            server = quantiles([float(s) for _, _, s, _ in data])
            stats["server_p50"], stats["server_p95"] = server["p50"], server["p95"]
        kinds = sorted({k for k, *_ in data})
        stats["by_kind"] = {
            k: {"n": sum(r[0] == k for r in data), **quantiles([r[1] for r in data if r[0] == k])}
            for k in kinds
        }
        out[name] = stats
    return out


def record_took(es) -> list[int]:
    """Server-side `took` (ms) of every search the client sends, to split client from server."""
    took: list[int] = []
    search = es.search

    def search_and_record(*args, **kwargs):
        response = search(*args, **kwargs)
        took.append(response["took"])
        return response

    es.search = search_and_record
    return took


WRITERS = ("raw", "kho", "kho-fresh")  # compare_bulk's three, in this order on chunk 0


def cpu_s() -> float:
    """CPU seconds of this process (all threads), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def compare_bulk(kho, stream: Iterator[list[PageDoc]], compare: int) -> dict:
    """The first `compare` pages of `stream` written, chunk by chunk in rotating order, by
    raw `helpers.bulk` of the actions kho's `bulk_actions` makes (built untimed: the
    baseline), by kho's `index_pages` into its alias (a live index: the stale-page look-up
    runs) and by `index_pages(fresh=True)` into a new index (what `kho reindex` does); raw
    and fresh into twin indices of the same settings and mappings, deleted after. One
    refresh at the end is counted in each. Wall and client CPU seconds per writer."""
    from elasticsearch import helpers

    from kho.index.elastic import BULK_CHUNK, MAPPINGS, SETTINGS

    es, twins = kho.es, {w: f"{kho.alias}-{w}" for w in ("raw", "kho-fresh")}
    for index in twins.values():
        es.indices.create(index=index, settings=SETTINGS, mappings=MAPPINGS)
    wall, cpu, pages = dict.fromkeys(WRITERS, 0.0), dict.fromkeys(WRITERS, 0.0), 0
    try:
        for n, chunk in enumerate(stream):
            actions = list(kho.bulk_actions(chunk, index=twins["raw"]))  # untimed
            runs = {
                "raw": lambda a=actions: helpers.bulk(es, a, chunk_size=BULK_CHUNK),
                "kho": lambda c=chunk: kho.index_pages(c),
                "kho-fresh": lambda c=chunk: kho.index_pages(c, twins["kho-fresh"], fresh=True),
            }
            refresh = {"kho": kho.refresh, **{w: lambda i=i: es.indices.refresh(index=i)
                                               for w, i in twins.items()}}  # fmt: skip
            last = pages + len(chunk) >= compare
            for who in WRITERS[n % 3 :] + WRITERS[: n % 3]:
                c0, w0 = cpu_s(), time.perf_counter()
                runs[who]()
                if last:
                    refresh[who]()
                wall[who] += time.perf_counter() - w0
                cpu[who] += cpu_s() - c0
            pages += len(chunk)
            if last:
                break
    finally:
        es.indices.delete(index=list(twins.values()), ignore_unavailable=True)
    return {
        "pages": pages,
        "seconds": wall,
        "client_cpu_s": cpu,
        "pages_s": {w: pages / wall[w] for w in WRITERS},
        "ratio": {w: wall["raw"] / wall[w] for w in WRITERS},
    }


def run_elastic(url: str, corpus: Corpus, pages: int, compare: int, queries) -> dict:
    from kho.core.settings import load_settings
    from kho.index.elastic import ElasticIndex
    from kho.index.elastic_query import PAGES_ONLY

    alias = f"kho-bench-{os.getpid()}"
    options = load_settings().elasticsearch  # KHO_ELASTICSEARCH_* login
    kho = ElasticIndex(url, alias, refresh=False, timeout=120, options=options)
    es = kho.es
    try:
        stream = chunks(corpus.documents(pages))
        bulk = compare_bulk(kho, stream, compare)
        rest, rest_s = timed_index(kho.index_pages, stream)  # the same stream, carried on
        rest_s += timed(kho.refresh)
        stored = es.count(index=alias, query=PAGES_ONLY)["count"]  # page records
        segments = len(es.cat.segments(index=alias, format="json"))
        took = record_took(es)
        search = measure_search(kho, queries, took)
    finally:
        es.indices.delete(index=kho.current_index(), ignore_unavailable=True)
        kho.close()
    return {
        "pages": stored,
        "segments": segments,
        "compare": bulk,
        "kho_all": {"pages": bulk["pages"] + rest, "seconds": bulk["seconds"]["kho"] + rest_s},
        "search": search,
    }


def run_embedded(corpus: Corpus, pages: int, queries) -> dict:
    with tempfile.TemporaryDirectory(prefix="kho-bench-") as tmp:
        with EmbeddedIndex(Path(tmp) / "index.sqlite") as index:
            stored, seconds = timed_index(index.index_pages, chunks(corpus.documents(pages)))
            size = sum(f.stat().st_size for f in Path(tmp).iterdir())  # with the WAL
            search = measure_search(index, queries)
    return {"pages": stored, "seconds": seconds, "mb": size / 2**20, "search": search}


def print_tables(result: dict) -> None:
    es, emb = result.get("elastic", {}), result["embedded"]
    print(f"{'indexing':<40} {'pages':>8} {'seconds':>8} {'pages/s':>8} {'vs raw':>7}")
    if "skipped" in es:
        print(f"{'Elasticsearch':<40} skipped: {es['skipped']}")
    elif es:
        c = es["compare"]
        labels = {"raw": "ES raw helpers.bulk (baseline)", "kho": "ES kho index_pages (live)",
                  "kho-fresh": "ES kho index_pages (fresh version)"}  # fmt: skip
        for who in WRITERS:
            ratio = c["ratio"][who]
            met = "" if who == "raw" else "met" if ratio >= TARGET_RATIO else "MISSED"
            note = f"  target >= {TARGET_RATIO}x: {met}" if met else ""
            print(f"{labels[who]:<40} {c['pages']:>8} {c['seconds'][who]:>8.1f}"
                  f" {c['pages_s'][who]:>8.0f} {ratio:>6.2f}x"
                  f"  client CPU {c['client_cpu_s'][who]:.1f} s{note}")  # fmt: skip
        a = es["kho_all"]
        print(f"{'ES kho index_pages, whole corpus':<40} {a['pages']:>8} {a['seconds']:>8.1f}"
              f" {a['pages'] / a['seconds']:>8.0f}")  # fmt: skip
    print(f"{'embedded index_pages':<40} {emb['pages']:>8} {emb['seconds']:>8.1f}"
          f" {emb['pages'] / emb['seconds']:>8.0f}   ({emb['mb']:.0f} MB file)")  # fmt: skip
    print()
    nq = result["queries"]
    print(f"search: {nq} queries x {len(PRINCIPALS)} principals, limit 20, end to end (ms)")
    head = f"{'backend':<26} {'facets':<9} {'n':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'mean':>6}"
    print(head + f" {'srv p50':>7} {'srv p95':>7} {'hits':>8}")
    backends = [] if not es or "skipped" in es else [(f"ES {es['pages']} pages", es)]
    for name, data in [*backends, (f"embedded {emb['pages']} pages", emb)]:
        for variant, s in data["search"].items():
            server = (
                f" {s['server_p50']:>7.1f} {s['server_p95']:>7.1f}"
                if "server_p50" in s
                else " " * 16
            )
            print(f"{name:<26} {variant:<9} {s['n']:>5} {s['p50']:>6.1f} {s['p95']:>6.1f}"
                  f" {s['p99']:>6.1f} {s['mean']:>6.1f}{server}"
                  f" {s['mean_hits']:>8.0f}")  # fmt: skip
    print("srv: Elasticsearch's own `took`; hits: mean visible matching pages (the total)")
    if backends:
        p95 = es["search"]["facets"]["p95"]
        met = "met" if p95 < TARGET_P95_MS else "MISSED"
        print(f"ES p95 with facets {p95:.1f} ms, target < {TARGET_P95_MS:.0f} ms: {met}")
    print()
    print("p95 by query kind (ms, with facets)")
    kinds = sorted(emb["search"]["facets"]["by_kind"])
    print(f"{'backend':<26} " + " ".join(f"{k:>14}" for k in kinds))
    for name, data in [*backends, (f"embedded {emb['pages']} pages", emb)]:
        by_kind = data["search"]["facets"]["by_kind"]
        print(f"{name:<26} " + " ".join(f"{by_kind[k]['p95']:>14.1f}" for k in kinds))
    print()
    print(f"wall time {result['wall_s']:.0f} s, peak memory {result['peak_rss_mb']:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200_000, help="Elasticsearch corpus size")
    parser.add_argument("--embedded-pages", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--compare-pages", type=int, default=50_000,
                        help="pages indexed both by kho and by raw helpers.bulk")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--skip-es", action="store_true", help="measure the embedded index only")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    corpus = Corpus(seed=1)
    queries = make_queries(corpus, args.queries)
    result: dict = {"queries": len(queries), "principals": [p.name for p in PRINCIPALS]}
    url = os.environ.get("KHO_ELASTICSEARCH_URL", "")
    if args.skip_es:
        result["elastic"] = {"skipped": "--skip-es given"}
    elif not url:
        result["elastic"] = {
            "skipped": "KHO_ELASTICSEARCH_URL is unset; start Elasticsearch with "
            '`eval "$(scripts/services up elasticsearch)"` to measure it'
        }
        print(f"note: Elasticsearch part skipped: {result['elastic']['skipped']}", file=sys.stderr)
    else:
        compare = min(args.compare_pages, args.pages)
        result["elastic"] = run_elastic(url, corpus, args.pages, compare, queries)
    result["embedded"] = run_embedded(corpus, args.embedded_pages, queries)
    result["wall_s"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print_tables(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
