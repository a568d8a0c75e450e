"""The embedded index's search window: a search matching more visible pages than its
window ranks and counts the newest of them exactly, estimates its counts from them and a
sample of the rest (and says so), and still pages through every visible hit once."""

from __future__ import annotations

import random
import sqlite3

from kho.core.types import Access, PageDoc, Principal
from kho.index.base import SearchQuery, SearchResult
from kho.index.embedded import _SCHEMA, _UPGRADES, SCHEMA_VERSION, EmbeddedIndex, _row

ADMIN = Principal("admin", clearance=3, units=("*",))
READER = Principal("reader", clearance=1, units=("qk7",), groups=("ban-tc",))
WORDS = "dân vận công tác đảng chi bộ kế hoạch năm báo cáo quyết định khen thưởng".split()
FACETS = ("category", "unit", "level", "year")


def corpus(docs: int, seed: int = 3, prefix: str = "d", **access) -> list[PageDoc]:
    """Documents of 1-4 pages, nearly all of them about "dân vận", mixed access."""
    rng = random.Random(seed)
    pages = []
    for i in range(docs):
        level = access.get("level", rng.choice((0, 1, 2)))
        unit = access.get("unit", rng.choice(("qk7", "qk7/f9", "qk7/f9/e1", "qk9", "")))
        groups = access.get("groups", tuple(rng.sample(("ban-tc", "ban-cb"), rng.randint(0, 1))))
        fields = dict(
            category=rng.choice(("quyet_dinh", "bao_cao", "ke_hoach")),
            doc_date=f"{rng.randint(2018, 2024)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        )
        for n in range(1, rng.randint(1, 4) + 1):
            words = rng.choices(WORDS, k=rng.randint(4, 30))
            words += ["dân", "vận"] if rng.random() < 0.9 else ["dan", "van"]
            rng.shuffle(words)
            pages.append(
                PageDoc(
                    f"{prefix}{i:04d}",
                    n,
                    " ".join(words),
                    access=Access(level, unit, groups),
                    **fields,
                )
            )
    return pages


def search(index: EmbeddedIndex, principal: Principal, **kw) -> SearchResult:
    kw.setdefault("text", "dân vận")
    return index.search(SearchQuery(facets=FACETS, **kw), principal)


def keys(result: SearchResult) -> list[tuple[str, int]]:
    return [(h.doc_id, h.page) for h in result.hits]


def paged(
    index: EmbeddedIndex, principal: Principal, group: str, limit: int = 37
) -> list[tuple[str, int]]:
    """Every hit, by cursor, `limit` at a time."""
    seen, cursor = [], None
    while True:
        result = search(index, principal, group=group, limit=limit, after=cursor)
        seen += keys(result)
        if not (cursor := result.next_cursor):
            return seen


def test_past_the_window_every_visible_hit_comes_once_by_cursor_and_by_offset(tmp_path):
    path = tmp_path / "index.sqlite"
    pages = corpus(1000)
    with EmbeddedIndex(path) as index:
        index.index_pages(pages)
    with EmbeddedIndex(tmp_path / "again.sqlite") as index:
        index.index_pages(pages)
        index.index_pages([p for p in pages if p.doc_id in ("d0003", "d0990")])  # again
    db = sqlite3.connect(tmp_path / "again.sqlite")  # the window is cut between documents:
    spans = db.execute("SELECT MAX(id) - MIN(id) + 1, COUNT(*) FROM pages GROUP BY doc_id")
    assert all(span == n for span, n in spans)  # a document's pages have neighbouring rowids
    db.close()
    whole, small = EmbeddedIndex(path), EmbeddedIndex(path, window=300)
    for principal in (ADMIN, READER):
        for group in ("document", "page"):
            exact = search(whole, principal, group=group, limit=1000)
            first = search(small, principal, group=group, limit=5)
            assert not exact.estimated and first.estimated
            assert 0.7 * exact.total < first.total < 1.3 * exact.total, (exact.total, first.total)
            for key in FACETS:  # the same values, counts near the exact ones
                counts, guessed = dict(exact.facets[key]), dict(first.facets[key])
                assert set(guessed) <= set(counts)
                for value, n in guessed.items():
                    assert 0.5 * counts[value] <= n <= 1.5 * counts[value], (key, value, n)
            everything = paged(small, principal, group)
            assert sorted(everything) == sorted(paged(whole, principal, group))  # each once
            assert len(set(everything)) == len(everything)
            by_offset = [
                k
                for offset in range(0, min(len(everything), 1500), 30)
                for k in keys(search(small, principal, group=group, limit=30, offset=offset))
            ]
            assert by_offset == everything[: len(by_offset)]
            assert len(by_offset) >= min(len(everything), 1500)
            assert keys(first) == everything[:5]
    for index in (whole, small):
        index.close()


def test_a_search_within_the_window_is_exact_and_sorting_by_date_counts_all(tmp_path):
    path = tmp_path / "index.sqlite"
    with EmbeddedIndex(path) as index:
        index.index_pages(corpus(120))
    whole, small = EmbeddedIndex(path), EmbeddedIndex(path, window=30)
    exact = search(whole, READER, text="khen thưởng", limit=1000)
    rare = search(small, READER, text='"khen thưởng" "kế hoạch" "báo cáo" "chi bộ" năm')
    assert not rare.estimated  # fewer matches than the window: counted exactly
    assert (rare.total, rare.facets) == (
        search(whole, READER, text='"khen thưởng" "kế hoạch" "báo cáo" "chi bộ" năm').total,
        search(whole, READER, text='"khen thưởng" "kế hoạch" "báo cáo" "chi bộ" năm').facets,
    )
    by_date = search(small, READER, text="khen thưởng", sort="date", limit=1000)
    assert not by_date.estimated and by_date.total == exact.total
    assert sorted(keys(by_date)) == sorted(keys(exact))
    for index in (whole, small):
        index.close()


V3_COLUMNS = (  # the embedded index's pages before access tokens (schema version 3)
    "doc_id, page, category, doc_type, issuer, unit, level, groups, batch, lang, doc_date,"
    " ingested_at, filename, title, title_folded, confidence, text, folded, fonds, dossier,"
    " origin_node, origin_unit"
)


def test_an_index_of_schema_3_is_upgraded_and_read_by_unit_and_group(tmp_path):
    path = tmp_path / "index.sqlite"
    pages = corpus(60)
    db = sqlite3.connect(path, isolation_level=None)
    for statement in (*_SCHEMA, *_UPGRADES[1], *_UPGRADES[2]):  # version 3
        db.execute(statement)
    db.execute("PRAGMA user_version = 3")
    marks = ", ".join("?" * len(V3_COLUMNS.split(",")))
    rows = [_row(p)[: len(V3_COLUMNS.split(","))] for p in pages]
    db.executemany(f"INSERT INTO pages ({V3_COLUMNS}) VALUES ({marks})", rows)
    db.close()
    with EmbeddedIndex(path) as old:
        found = paged(old, READER, "page")
    fresh = tmp_path / "fresh.sqlite"
    with EmbeddedIndex(fresh) as index:
        index.index_pages(pages)
        assert sorted(found) == sorted(paged(index, READER, "page")) and found
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    db.close()


def test_counting_by_folded_phrases_finds_what_ignoring_marks_finds(tmp_path):
    """`marks="folded"` (what `loose` counts with) matches the very pages "ignore" does, for
    marked, plain, mixed, prefixed and quoted terms, on pages with and without marks."""
    from kho.index.base import parse_query
    from kho.index.fts import match_expression

    with EmbeddedIndex(tmp_path / "index.sqlite") as index:
        index.index_pages(corpus(120, seed=5))
        db = index._db
        for text in ("dân vận", "dan vận", '"công tác"', "quyết đ*", "Đảng -khen", '"chi bo" năm'):
            terms = parse_query(text).include
            found = {
                marks: {
                    r[0]
                    for r in db.execute(
                        "SELECT rowid FROM pages_fts WHERE pages_fts MATCH ?",
                        [match_expression(terms, marks)],
                    )
                }
                for marks in ("ignore", "folded", "exact")
            }
            assert found["folded"] == found["ignore"] >= found["exact"], text
            assert found["folded"], text
