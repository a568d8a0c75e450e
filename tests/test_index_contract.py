"""The SearchIndex contract, run against every backend, plus the embedded index's own checks.

Contract tests take the `search_index` fixture (tests/conftest.py); a backend joins by adding
its name to BACKENDS there and a branch to `open_index` here.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import unicodedata
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from kho.core.errors import BadInputError, IndexError_, UsageError
from kho.core.settings import load_settings
from kho.core.types import Access, PageDoc, Principal, can_see
from kho.index.base import HIGHLIGHT, SearchIndex, SearchQuery, SearchResult
from kho.index.cursor import CursorError
from kho.index.embedded import SCHEMA_VERSION, EmbeddedIndex, acl_sql
from kho.index.text import fold, normalize, tokens

from .conftest import BACKENDS, es_client, need_service

ADMIN = Principal("admin", clearance=3, units=("*",))
MARK, END = HIGHLIGHT


def open_index(backend: str, tmp_path: Path) -> SearchIndex:
    if backend == "embedded":
        return EmbeddedIndex(tmp_path / "index.sqlite")
    if backend == "elasticsearch":
        from kho.index.elastic import ElasticIndex

        url = need_service("Elasticsearch", "KHO_ELASTICSEARCH_URL")
        options = load_settings().elasticsearch
        return ElasticIndex(url, f"kho-test-{uuid.uuid4().hex[:12]}", refresh=True, options=options)
    raise ValueError(backend)


def page(doc_id: str, text: str, n: int = 1, *, level=0, unit="qk7", groups=(), **fields):
    return PageDoc(
        doc_id=doc_id, page=n, text=text, access=Access(level, unit, tuple(groups)), **fields
    )


def find(index: SearchIndex, text: str = "", principal=ADMIN, **kw) -> SearchResult:
    """Page hits (`group="page"`): what most checks here are about."""
    kw.setdefault("group", "page")
    return index.search(SearchQuery(text, limit=kw.pop("limit", 1000), **kw), principal)


def find_docs(index: SearchIndex, text: str = "", principal=ADMIN, **kw) -> SearchResult:
    """Document hits, the default grouping."""
    return index.search(SearchQuery(text, limit=kw.pop("limit", 1000), **kw), principal)


def subtrees(units) -> Counter:
    """Counts per unit subtree of the given units, one per item (as a unit filter covers)."""
    return Counter("/".join(u.split("/")[: i + 1]) for u in units for i in range(u.count("/") + 1))


def keys(result: SearchResult) -> list[tuple[str, int]]:
    return [(h.doc_id, h.page) for h in result.hits]


QD = {"category": "quyet_dinh", "doc_type": "Quyết định", "doc_date": "2024-03-15"}
DOCS = [
    page("qd1", "QUYẾT ĐỊNH số 125/QĐ-CT về việc khen thưởng tập thể và cá nhân", 1,
         title="Quyết định khen thưởng", **QD),
    page("qd1", "Điều 1. Khen thưởng các đồng chí có thành tích trong công tác dân vận.", 2,
         title="Quyết định khen thưởng", **QD),
    page("nq1", "NGHỊ QUYẾT của Đảng ủy Quân khu về lãnh đạo thực hiện nhiệm vụ năm 2024",
         category="nghi_quyet", doc_date="2024-01-10", title="Nghị quyết lãnh đạo"),
    page("bc1", "bao cao cua dang uy trung doan ve viec thuc hien quyet dinh cap tren",
         category="bao_cao", doc_date="2023-12-01", title="Báo cáo trung đoàn"),
    page("tb1", "Thông báo về việc thưởng tết, khen ngợi đơn vị làm tốt công tác dân vận",
         category="thong_bao", doc_date="2024-02-01", title="Thông báo tết"),
    page("en1", "Terms and conditions or penalties apply to this contract",
         category="khac", doc_date="", title="Contract"),
    page("xss", "<script>alert(1)</script> quyết định & báo cáo", category="khac"),
]  # fmt: skip


@pytest.fixture
def corpus(search_index):
    search_index.index_pages(DOCS)
    return search_index


# -- text normalisation ------------------------------------------------------------------


def test_normalise_fold_and_tokens():
    assert normalize("  QUYẾT\n\tĐỊNH ") == "quyết định"
    assert normalize("Quye\u0302\u0301t") == "quyết"  # decomposed input composes
    assert fold("Đảng ủy QUÂN KHU") == "dang uy quan khu"
    assert fold("đ Đ") == "d d"
    assert tokens("125/QĐ-CT") == ["125", "qđ", "ct"]
    assert tokens("Số 12, ngày 3.4") == ["số", "12", "ngày", "3", "4"]


# -- matching with and without diacritics ------------------------------------------------


def test_plain_queries_find_marked_pages_and_ignoring_marks_finds_the_same(corpus):
    for exact, plain in [("quyết định", "quyet dinh"), ("Đảng ủy", "dang uy")]:
        with_marks, without = find(corpus, exact), find(corpus, plain)
        loosely = find(corpus, exact, marks="ignore")
        assert set(keys(loosely)) == set(keys(without))
        assert loosely.total == without.total >= 2
        assert ("bc1", 1) in keys(without)  # OCR text that lost its marks
        assert set(keys(with_marks)) == set(keys(without)) - {("bc1", 1)}
        assert with_marks.loose == 1 and without.loose == loosely.loose == 0
    assert set(keys(find(corpus, "QUYẾT ĐỊNH"))) == set(keys(find(corpus, "quyết định")))


def test_exact_diacritics_rank_first(search_index):
    tones = ["ma", "má", "mà", "mả", "mã", "mạ"]
    pages = [page(f"t{i}", f"Ghi chép số {i}: chữ {w} trong văn bản") for i, w in enumerate(tones)]
    pages += [page(f"f{i}", f"Văn bản khác số {i} không liên quan") for i in range(8)]
    search_index.index_pages(pages)
    for i, w in enumerate(tones):
        if w == "ma":
            continue
        assert [h.doc_id for h in find(search_index, w).hits] == [f"t{i}"]
        result = find(search_index, w, marks="ignore")
        assert result.hits[0].doc_id == f"t{i}", (w, keys(result))
        assert {h.doc_id for h in result.hits} == {f"t{k}" for k in range(6)}
        assert f"{MARK}{w}{END}" in result.hits[0].snippet
    assert find(search_index, "ma").total == 6  # no marks typed: every tone matches
    # excluding: '-mà' drops only the page with 'mà'; '-ma' drops every tone of 'ma'
    assert {h.doc_id for h in find(search_index, "chữ -mà").hits} == {"t0", "t1", "t3", "t4", "t5"}
    assert find(search_index, "chữ -ma").total == 0


def test_exact_page_ranks_above_folded_page(search_index):
    search_index.index_pages(
        [
            page("plain", "bao cao cong tac dang uy"),
            page("exact", "báo cáo công tác Đảng ủy"),
            page("long", "Trong văn bản này có chữ mà ở giữa một câu dài về công tác đảng"),
            page("dense", "ma má mạ mả"),  # more, shorter, but only folded matches
            *[page(f"f{i}", f"văn bản số {i}") for i in range(6)],
        ]
    )
    loosely = {"marks": "ignore"}
    assert [h.doc_id for h in find(search_index, "Đảng ủy", **loosely).hits] == ["exact", "plain"]
    assert [h.doc_id for h in find(search_index, "mà", **loosely).hits] == ["long", "dense"]


def test_phrase_query(corpus):
    assert {d for d, _ in keys(find(corpus, "khen thưởng"))} == {"qd1", "tb1"}
    assert {d for d, _ in keys(find(corpus, '"khen thưởng"'))} == {"qd1"}
    assert {d for d, _ in keys(find(corpus, '"khen thuong"'))} == {"qd1"}
    assert keys(find(corpus, "125/QĐ-CT")) == [("qd1", 1)]  # one word, several tokens


def test_prefix_query(corpus):
    exact = {d for d, _ in keys(find(corpus, "quyế*"))}
    assert exact | {"bc1"} == {d for d, _ in keys(find(corpus, "quye*"))}
    assert exact >= {"qd1", "nq1", "xss"} and "bc1" not in exact
    assert {d for d, _ in keys(find(corpus, "quyế*", marks="ignore"))} == exact | {"bc1"}
    assert {d for d, _ in keys(find(corpus, "thưở*"))} == {"qd1", "tb1"}


def test_excluded_terms(corpus):
    found = {d for d, _ in keys(find(corpus, "quyết -nghị"))}
    assert "nq1" not in found and "qd1" in found
    assert "nq1" not in {d for d, _ in keys(find(corpus, "-nghi"))}


def test_snippets_highlight_original_text_and_escape_html(corpus):
    hit = find(corpus, "quyet dinh").hits
    qd = next(h for h in hit if h.doc_id == "qd1")
    assert f"{MARK}QUYẾT{END} {MARK}ĐỊNH{END}" in qd.snippet  # folded match, original text
    xss = next(h for h in hit if h.doc_id == "xss")
    assert "<script>" not in xss.snippet and "&lt;script&gt;" in xss.snippet
    assert "&amp;" in xss.snippet
    corpus.index_pages([page("tone", "ma và mà"), page("lost", "ma và ma")])
    assert [h.doc_id for h in find(corpus, "mà").hits] == ["tone"]
    tone = {h.doc_id: h.snippet for h in find(corpus, "mà", marks="ignore").hits}
    assert tone == {"tone": f"ma và {MARK}mà{END}", "lost": f"{MARK}ma{END} và {MARK}ma{END}"}
    corpus.index_pages([page("marks", "Bình đẳng <b> và dang dở")])
    assert "marks" not in [h.doc_id for h in find(corpus, "đảng").hits]  # marks mean the word
    other = next(h for h in find(corpus, "đảng", marks="ignore").hits if h.doc_id == "marks")
    assert other.snippet == f"Bình đẳng &lt;b&gt; và {MARK}dang{END} dở"  # đẳng: another word
    plain = find(corpus, "quyet dinh", highlight=False).hits[0]
    assert MARK not in plain.snippet and plain.snippet


NASTY = [
    '"', '""', '"""', "*", "**", "^", "-", "--", "(", ")", "()", ":", "{", "}", "'", "\\",
    "\x00", "🙂", "AND", "OR", "NOT", "NEAR", "NEAR(", "AND OR NOT", "exact:", "folded:",
    "{exact}:", '"quyết', 'quyết"', "quyết )", "^quyết", "quyết^", "*quyết", "quyết**",
    "NEAR(quyết định, 2)", "quyết OR khen", "folded: quyet", "exact : dinh", "{folded} : dinh",
    "'; DROP TABLE pages; --", "x" * 20000, " ".join(["quyết"] * 3000),
    " ".join(f"w{i}" for i in range(500)), '"' * 501, "-" * 100 + "quyết",
]  # fmt: skip


def test_injection_attempts_are_plain_text(corpus):
    everything = find(corpus).total
    for text in NASTY:
        result = find(corpus, text)
        assert result.total >= len(result.hits), text
    # Operators and column names are words, never FTS syntax.
    assert keys(find(corpus, "AND OR")) == [("en1", 1)]
    for text in ["NEAR(quyết định, 2)", "quyết OR khen", "folded: quyet", "{folded} : dinh"]:
        assert find(corpus, text).total == 0, text
    # Stray quotes, carets and stars fall away.
    quyet = set(keys(find(corpus, "quyết")))
    for text in ['"quyết', 'quyết"', "^quyết", "*quyết", "quyết )", " ".join(["quyết"] * 3000)]:
        assert set(keys(find(corpus, text))) == quyet, text
    assert set(keys(find(corpus, '"quyết định'))) == set(keys(find(corpus, '"quyết định"')))
    for text in ['"', "*", "^", "()", "-", "🙂"]:  # no words: the filtered listing
        assert find(corpus, text).total == everything, text
    assert find(corpus, "x" * 20000).total == 0
    assert find(corpus).total == everything  # nothing was dropped


# -- writing -----------------------------------------------------------------------------


def test_reindex_replaces_a_documents_pages(search_index):
    three = [page("doc", f"kế hoạch huấn luyện trang {n}", n) for n in (1, 2, 3)]
    assert search_index.index_pages(three) == 3
    assert search_index.index_pages(three) == 3  # idempotent
    assert find(search_index, "kế hoạch").total == 3
    assert search_index.count(ADMIN) == 3
    search_index.index_pages([page("doc", "kế hoạch sửa đổi", 1)])
    assert keys(find(search_index, "kế hoạch")) == [("doc", 1)]
    assert find(search_index, "huấn luyện").total == 0
    assert search_index.get_page("doc", 2, ADMIN) is None
    assert search_index.get_page("doc", 1, ADMIN).text == "kế hoạch sửa đổi"
    assert search_index.count(ADMIN) == 1
    assert search_index.replace_document("doc", three[1:]) == 2
    assert keys(find(search_index, "kế hoạch")) == [("doc", 2), ("doc", 3)]
    assert search_index.replace_document("doc", []) == 0
    assert search_index.count(ADMIN) == 0 and search_index.document_access("doc") is None
    assert isinstance(search_index, SearchIndex)


def test_delete_document(corpus):
    before = corpus.count(ADMIN)
    assert corpus.delete_document("qd1") == 2
    assert corpus.count(ADMIN) == before - 2
    assert "qd1" not in {h.doc_id for h in find(corpus, "khen thưởng").hits}
    assert corpus.get_page("qd1", 1, ADMIN) is None
    assert corpus.document_access("qd1") is None
    assert corpus.delete_document("qd1") == 0


def test_bad_pages_are_refused(search_index):
    with pytest.raises(BadInputError):
        search_index.index_pages([page("a", "x", 0)])
    with pytest.raises(BadInputError):
        search_index.index_pages([page("a", "x", 1), page("a", "y", 1)])
    with pytest.raises(BadInputError):
        search_index.index_pages([page("a", "x", 1, level=4)])
    with pytest.raises(BadInputError):
        search_index.index_pages([page("a", "x", 1, doc_date="15/03/2024")])
    with pytest.raises(BadInputError):
        search_index.index_pages([page("a", "x", 1), page("a", "y", 2, level=1)])
    assert search_index.count(ADMIN) == 0


# -- filters, facets, paging -------------------------------------------------------------

UNITS = ["qk7", "qk7/f9", "qk7/f9/e1", "qk70", "qk9"]


def filtered_corpus() -> list[PageDoc]:
    pages = []
    for i in range(40):
        pages.append(
            page(f"d{i:02d}", f"kế hoạch công tác số {i} " + "năm " * (i % 7), level=i % 4,
                 unit=UNITS[i % 5], category=("bao_cao", "ke_hoach", "chi_thi")[i % 3],
                 doc_type=("Báo cáo", "Kế hoạch")[i % 2], batch=f"b{i % 2}",
                 doc_date=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 9 else "")
        )  # fmt: skip
    return pages


def test_filters(search_index):
    pages = filtered_corpus()
    search_index.index_pages(pages)

    def docs(**kw) -> set[str]:
        return {h.doc_id for h in find(search_index, "kế hoạch", **kw).hits}

    def expect(pred) -> set[str]:
        return {p.doc_id for p in pages if pred(p)}

    assert docs(filters={"category": ("bao_cao",)}) == expect(lambda p: p.category == "bao_cao")
    assert docs(filters={"category": ("bao_cao", "chi_thi")}) == expect(
        lambda p: p.category in ("bao_cao", "chi_thi")
    )
    qk7 = expect(lambda p: p.access.unit in ("qk7", "qk7/f9", "qk7/f9/e1"))
    assert docs(filters={"unit": ("qk7",)}) == qk7  # covers sub-units, not qk70
    assert docs(filters={"unit": ("qk7/f9",)}) == expect(lambda p: p.access.unit.startswith("qk7/"))
    assert docs(filters={"level": ("2",)}) == expect(lambda p: p.access.level == 2)
    assert docs(filters={"batch": ("b1",), "level": ("0", "1")}) == expect(
        lambda p: p.batch == "b1" and p.access.level < 2
    )
    in_range = expect(lambda p: p.doc_date and "2024-03-01" <= p.doc_date <= "2024-06-30")
    assert docs(date_from="2024-03-01", date_to="2024-06-30") == in_range
    assert docs(date_from="20240301", date_to="20240630") == in_range  # basic ISO form too
    assert docs(date_from="2024-11-01") == expect(lambda p: p.doc_date >= "2024-11-01")
    assert docs(date_to="2024-02-28") == expect(lambda p: p.doc_date and p.doc_date <= "2024-02-28")
    for bad in [{"filters": {"colour": ("red",)}}, {"filters": {"level": ("9",)}},
                {"date_from": "2024-05-01", "date_to": "2024-01-01"}, {"date_from": "May"},
                {"facets": ("text",)}, {"sort": "random"}, {"limit": -1}]:  # fmt: skip
        with pytest.raises(UsageError):
            SearchQuery("x", **bad)


def test_empty_query_lists_filtered_pages_newest_first(search_index):
    pages = filtered_corpus()
    search_index.index_pages(pages)
    result = find(search_index, "", filters={"unit": ("qk7",)})
    assert result.total == sum(
        p.access.unit.startswith("qk7/") or p.access.unit == "qk7" for p in pages
    )
    dates = [h.doc_date for h in result.hits]
    assert dates == sorted(dates, reverse=True)


def test_facets_count_the_visible_match_set(search_index):
    pages = filtered_corpus()
    search_index.index_pages(pages)
    reader = Principal("r", clearance=2, units=("qk7/f9",))
    query = {"facets": ("category", "doc_type", "unit", "level", "batch")}
    result = find(search_index, "kế hoạch năm", reader, filters={"batch": ("b0", "b1")}, **query)
    seen = [p for p in pages if can_see(reader, p.access) and "năm" in p.text]
    assert result.total == len(seen) == len(result.hits)
    for key, value in [("category", lambda p: p.category), ("doc_type", lambda p: p.doc_type),
                       ("level", lambda p: str(p.access.level)),
                       ("batch", lambda p: p.batch)]:  # fmt: skip
        assert dict(result.facets[key]) == Counter(value(p) for p in seen), key
    assert dict(result.facets["unit"]) == subtrees(p.access.unit for p in seen)
    counts = [n for _, n in result.facets["category"]]
    assert counts == sorted(counts, reverse=True)
    assert find(search_index, "không có từ này").facets["unit"] == []


@pytest.mark.parametrize("sort", ["relevance", "date"])
@pytest.mark.parametrize("text", ["kế hoạch năm", ""])
def test_pagination_covers_every_hit_once(search_index, sort, text):
    search_index.index_pages(filtered_corpus())
    everything = keys(find(search_index, text, sort=sort))
    assert len(everything) == find(search_index, text).total > 20
    by_offset = []
    for offset in range(0, len(everything), 7):
        by_offset += keys(find(search_index, text, sort=sort, limit=7, offset=offset))
    assert by_offset == everything
    by_cursor, after = [], None
    while True:
        result = find(search_index, text, sort=sort, limit=7, after=after)
        by_cursor += keys(result)
        assert result.total == len(everything)
        after = result.next_cursor
        if after is None:
            break
    assert by_cursor == everything
    with pytest.raises(CursorError):
        find(search_index, text, sort=sort, limit=7, after="bm90IGEgY3Vyc29y")


# -- access control ----------------------------------------------------------------------

PRINCIPALS = [
    Principal("p0", clearance=0, units=("qk7",)),
    Principal("p1", clearance=2, units=("qk7/f9",)),
    Principal("p2", clearance=3, units=("qk9",), groups=("ban_tc",)),
    Principal("p3", clearance=1, groups=("ban_tc",)),
    Principal("p4", clearance=3),
    Principal("p5", clearance=3, units=("*",)),
    Principal("p6", clearance=1, units=("QK7", "qk7/f")),  # any case; partial names match nothing
    Principal("p7", clearance=2, units=("qk7/f9/e1", "qk9"), groups=("ban_cs",)),
]


def mixed_corpus() -> list[PageDoc]:
    pages, n = [], 0
    for level in range(4):
        for unit in ["qk7", "qk7/f9", "qk7/f9/e1", "qk9", "qk70"]:
            for groups in [(), ("ban_tc",), ("ban_cs", "ban_tc")]:
                n += 1
                for p in range(1, 1 + n % 2 + 1):
                    pages.append(
                        page(f"m{n:03d}", f"tài liệu mật danh k{n:03d}x trang {p} cấp {level}", p,
                             level=level, unit=unit, groups=groups, category=f"c{level}",
                             title=f"Hồ sơ k{n:03d}x", doc_date=f"2024-01-{1 + n % 28:02d}")
                    )  # fmt: skip
    return pages


def test_acl_never_leaks_and_hides_nothing_visible(search_index):
    pages = mixed_corpus()
    search_index.index_pages(pages)
    for who in PRINCIPALS:
        visible = [p for p in pages if can_see(who, p.access)]
        hidden = {p.doc_id for p in pages} - {p.doc_id for p in visible}
        for text in ["", "tài liệu", "tai lieu mat danh"]:
            result = find(search_index, text, who, facets=("unit", "level", "category"))
            assert sorted(keys(result)) == sorted((p.doc_id, p.page) for p in visible), who
            assert result.total == len(visible)
            for key in ("level", "category"):
                assert sum(n for _, n in result.facets[key]) == len(visible)
            assert dict(result.facets["unit"]) == subtrees(p.access.unit for p in visible)
        assert search_index.count(who) == len(visible)
        for p in pages:
            got = search_index.get_page(p.doc_id, p.page, who)
            assert (got is not None) == can_see(who, p.access), (who.name, p.doc_id)
            code = f"k{p.doc_id[1:]}x"
            result = find(search_index, code, who)
            assert result.total == (0 if p.doc_id in hidden else 1 + int(p.doc_id[1:]) % 2)
            if p.doc_id in hidden:
                assert all(n == 0 for f in result.facets.values() for _, n in f)
                assert not any(code in s for s in search_index.suggest(code[:3], who, limit=100))
                assert search_index.suggest(code, who) == []
            else:
                assert f"Hồ sơ {code}" in search_index.suggest(f"hồ sơ {code}", who)
                assert code in search_index.suggest(code[:-1], who)
        suggestions = search_index.suggest("k", who, limit=1000)
        codes = {f"k{d[1:]}x" for d in hidden}
        assert not [s for s in suggestions if any(c in s for c in codes)]


def test_suggest(corpus):
    assert "quyết" in corpus.suggest("quyế", ADMIN)
    assert "quyết" in corpus.suggest("quye", ADMIN)
    assert "quyết định" in corpus.suggest("quyết đị", ADMIN)
    assert "Quyết định khen thưởng" in corpus.suggest("quyet dinh", ADMIN)
    assert corpus.suggest("", ADMIN) == [] and corpus.suggest('"*', ADMIN) == []
    assert corpus.suggest("quyế", Principal("nobody")) == []


def test_document_access(corpus):
    assert corpus.document_access("qd1") == Access(0, "qk7", ())
    assert corpus.document_access("nope") is None


# -- embedded backend only ---------------------------------------------------------------

SCOPES = ["qk7", "qk7/", "/qk7/f9", "qk7/f9/e1", "qk70", "QK7", "q%", "q_7", "qk7/%", "", "*"]
GROUPS = ["", "a", "b", "ban_tc", "a|b"]


def random_principal(rng: random.Random, scopes: list, groups: list) -> Principal:
    """A principal of a random clearance, up to 3 of `scopes` and up to 2 of `groups`."""
    return Principal(
        "p",
        clearance=rng.randint(0, 3),
        units=tuple(rng.sample(scopes, rng.randint(0, 3))),
        groups=tuple(rng.sample(groups, rng.randint(0, 2))),
    )


def test_acl_sql_is_can_see(tmp_path):
    rng = random.Random(7)
    units = ["qk7", "qk7/f9", "/qk7/f9/", "qk7/f9/e1", "qk70", "QK7", "q%7", "q_7", "qk7/%", ""]
    pages = []
    for i in range(300):
        groups = tuple(rng.sample([g for g in GROUPS if "|" not in g], rng.randint(0, 2)))
        pages.append(
            page(f"a{i}", "x", level=rng.randint(0, 3), unit=rng.choice(units), groups=groups)
        )
    with EmbeddedIndex(tmp_path / "acl.sqlite") as index:
        index.index_pages(pages)
    db = sqlite3.connect(tmp_path / "acl.sqlite")
    for _ in range(300):
        who = random_principal(rng, SCOPES, GROUPS)
        sql, params = acl_sql(who)
        got = {r[0] for r in db.execute(f"SELECT doc_id FROM pages p WHERE {sql}", params)}
        assert got == {p.doc_id for p in pages if can_see(who, p.access)}, who
    db.close()


WRITER = """
import sys
from pathlib import Path
from kho.core.types import PageDoc
from kho.index.embedded import EmbeddedIndex
path, who = Path(sys.argv[1]), sys.argv[2]
for round_ in range(3):
    with EmbeddedIndex(path) as index:
        for d in range(40):
            index.index_pages([PageDoc(f"{who}-{d}", n, f"văn bản {who} lần {round_}")
                               for n in range(1, 4)])
"""


def test_several_processes_write_one_index(tmp_path):
    path = tmp_path / "shared.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{i}"], stderr=subprocess.PIPE)
        for i in range(3)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    with EmbeddedIndex(path) as index:
        assert index.count(ADMIN) == 3 * 40 * 3
        assert find(index, "lần 2").total == 360 and find(index, "lần 1").total == 0
    db = sqlite3.connect(path)
    db.execute("INSERT INTO pages_fts (pages_fts, rank) VALUES ('integrity-check', 1)")
    db.close()


def test_reopen_keeps_pages_and_refuses_other_schema(tmp_path):
    path = tmp_path / "index.sqlite"
    with EmbeddedIndex(path) as index:
        index.index_pages(DOCS)
    with EmbeddedIndex(path) as index:
        assert find(index, "dang uy").total == 2
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(IndexError_, match="schema 99"):
        EmbeddedIndex(path)


def test_offset_and_cursor_together_are_refused():
    with pytest.raises(UsageError):
        SearchQuery("x", offset=20, after="abc")
    with pytest.raises(UsageError):
        SearchQuery("x", offset=9_990, limit=20)


# -- the archive hierarchy: fonds, dossier, type, issuer, year ---------------------------

FONDS = ["G09", "G10", ""]
DOSSIERS = {  # fonds -> its dossiers; one code is a prefix of another, one differs in case
    "G09": ["000.00.00.G09.2024.01-TCCB", "000.00.00.G09.2024.01", "000.00.00.G09.2024.01-tccb"],
    "G10": ["000.00.00.G10.2023.07-VP"],
    "": [""],
}
ISSUERS = ["Đảng ủy Quân khu 7", "Ban Tổ chức", ""]


def hierarchy_corpus() -> list[PageDoc]:
    pages = []
    for i in range(36):
        fonds = FONDS[i % 3]
        dossiers = DOSSIERS[fonds]
        pages.append(
            page(f"h{i:02d}", f"hồ sơ lưu trữ số {i}", level=i % 3, unit=UNITS[i % 5],
                 fonds=fonds, dossier=dossiers[i // 3 % len(dossiers)],
                 doc_type=("Quyết định", "Báo cáo", "")[i // 2 % 3], issuer=ISSUERS[i // 4 % 3],
                 doc_date=f"{2022 + i % 4}-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 7 else "")
        )  # fmt: skip
    return pages


HIERARCHY = {
    "fonds": lambda p: p.fonds,
    "dossier": lambda p: p.dossier,
    "doc_type": lambda p: p.doc_type,
    "issuer": lambda p: p.issuer,
    "year": lambda p: p.year,
}


def test_hierarchy_filters_match_exactly(search_index):
    pages = hierarchy_corpus()
    search_index.index_pages(pages)

    def docs(**filters) -> set[str]:
        return {h.doc_id for h in find(search_index, "hồ sơ", filters=filters).hits}

    def expect(pred) -> set[str]:
        return {p.doc_id for p in pages if pred(p)}

    tccb = "000.00.00.G09.2024.01-TCCB"
    assert docs(fonds=("G09",)) == expect(lambda p: p.fonds == "G09") != set()
    assert docs(fonds=("G09", "G10")) == expect(lambda p: p.fonds in ("G09", "G10"))
    assert docs(fonds=("g09",)) == docs(fonds=("G0",)) == set()
    assert docs(dossier=(tccb,)) == expect(lambda p: p.dossier == tccb) != set()
    prefix = "000.00.00.G09.2024.01"  # a dossier filter is no prefix, no case folding
    assert docs(dossier=(prefix,)) == expect(lambda p: p.dossier == prefix) != set()
    assert docs(dossier=(prefix,)).isdisjoint(docs(dossier=(tccb,)))
    assert docs(doc_type=("Báo cáo",)) == expect(lambda p: p.doc_type == "Báo cáo") != set()
    issuer = ISSUERS[0]
    assert docs(issuer=(issuer,)) == expect(lambda p: p.issuer == issuer) != set()
    assert docs(year=("2024",)) == expect(lambda p: p.doc_date.startswith("2024-")) != set()
    assert docs(year=("2022", "2025")) == expect(lambda p: p.year in ("2022", "2025"))
    assert docs(year=("1999",)) == set()
    assert docs(fonds=("G09",), year=("2023",), level=("0", "1")) == expect(
        lambda p: p.fonds == "G09" and p.year == "2023" and p.access.level < 2
    )
    assert docs(fonds=("",)) == expect(lambda p: not p.fonds)  # no fonds: the empty value
    (hit,) = find(search_index, "số 9", filters={"dossier": (tccb,)}).hits
    assert (hit.doc_id, hit.fonds, hit.dossier, hit.year) == ("h09", "G09", tccb, "2023")
    shown = {k: hit.to_json()[k] for k in ("fonds", "dossier", "year")}
    assert shown == {"fonds": "G09", "dossier": tccb, "year": "2023"}
    stored = search_index.get_page("h09", 1, ADMIN)
    assert (stored.fonds, stored.dossier, stored.year) == ("G09", tccb, "2023")


def test_hierarchy_facets_count_visible_pages(search_index):
    pages = hierarchy_corpus()
    search_index.index_pages(pages)
    reader = Principal("r", clearance=1, units=("qk7",))
    result = find(search_index, "hồ sơ", reader, facets=tuple(HIERARCHY))
    seen = [p for p in pages if can_see(reader, p.access)]
    assert result.total == len(seen) < len(pages)
    for key, value in HIERARCHY.items():
        counts = Counter(value(p) for p in seen if value(p))
        assert dict(result.facets[key]) == counts, key
        order = sorted(counts.items(), key=lambda c: (-c[1], c[0]))  # most first, then value
        assert result.facets[key] == order, key
    narrowed = find(search_index, "", reader, filters={"fonds": ("G09",)}, facets=("dossier",))
    dossiers = Counter(p.dossier for p in seen if p.fonds == "G09")
    assert dict(narrowed.facets["dossier"]) == dossiers and len(dossiers) == 3


def test_year_filter_takes_four_digits():
    for bad in ["24", "02024", "2024-03", "năm 2024", "٢٠٢٤", "abcd", ""]:
        with pytest.raises(UsageError, match="4-digit year such as 2024"):
            SearchQuery("x", filters={"year": (bad,)})
    assert SearchQuery("x", filters={"year": (" 2024 ",)}).filters == {"year": ("2024",)}


V1_COLUMNS = (  # the embedded index's pages before the hierarchy (schema version 1)
    "doc_id, page, category, doc_type, issuer, unit, level, groups, batch, lang, doc_date,"
    " ingested_at, filename, title, title_folded, confidence, text, folded"
)
HIERARCHY_FIELDS = ("fonds", "dossier")
ORIGIN_FIELDS = ("origin_node", "origin_unit", "origin_unit_path")


def open_old_index(
    backend: str, tmp_path: Path, pages: list[PageDoc], lacks=HIERARCHY_FIELDS + ORIGIN_FIELDS
) -> SearchIndex:
    """An index as kho made it before the fields `lacks` (embedded: schema version 1, before
    fonds and dossier), holding `pages`, opened now."""
    if backend == "embedded":
        from kho.index.embedded import _SCHEMA, _row

        db = sqlite3.connect(tmp_path / "index.sqlite", isolation_level=None)
        for statement in _SCHEMA:  # version 1
            db.execute(statement)
        db.execute("PRAGMA user_version = 1")
        marks = ", ".join("?" * len(V1_COLUMNS.split(",")))
        rows = [_row(p)[: len(V1_COLUMNS.split(","))] for p in pages]
        db.executemany(f"INSERT INTO pages ({V1_COLUMNS}) VALUES ({marks})", rows)
        db.close()
        return EmbeddedIndex(tmp_path / "index.sqlite")
    from elasticsearch import helpers

    from kho.index.elastic import MAPPINGS, SETTINGS, ElasticIndex, _source

    url = need_service("Elasticsearch", "KHO_ELASTICSEARCH_URL")
    alias = f"kho-test-{uuid.uuid4().hex[:12]}"
    es = es_client(url)
    old = {k: v for k, v in MAPPINGS["properties"].items() if k not in lacks}
    es.indices.create(
        index=f"{alias}-v1", settings=SETTINGS, mappings={**MAPPINGS, "properties": old},
        aliases={alias: {"is_write_index": True}},
    )  # fmt: skip
    sources = [{k: v for k, v in _source(p).items() if k not in lacks} for p in pages]
    helpers.bulk(es, ({"_index": alias, "_id": f"{s['doc_id']}:{s['page']}", "_source": s}
                      for s in sources), refresh="wait_for")  # fmt: skip
    es.close()
    return ElasticIndex(url, alias, refresh=True, options=load_settings().elasticsearch)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_made_before_the_hierarchy_is_upgraded_in_place(backend, tmp_path):
    old_pages = [replace(p, fonds="", dossier="") for p in hierarchy_corpus()[:12]]
    index = open_old_index(backend, tmp_path, old_pages)
    try:
        assert find(index, "hồ sơ").total == len(old_pages)
        years = Counter(p.year for p in old_pages if p.year)
        assert dict(find(index, "", facets=("year", "fonds")).facets["year"]) == years
        assert find(index, "", facets=("fonds", "dossier")).facets == {"fonds": [], "dossier": []}
        assert find(index, "", filters={"fonds": ("",)}).total == len(old_pages)
        assert {h.doc_id for h in find(index, "", filters={"year": ("2023",)}).hits} == {
            p.doc_id for p in old_pages if p.year == "2023"
        }
        assert index.get_page("h01", 1, ADMIN).fonds == ""
        index.index_pages([page("new", "hồ sơ mới", fonds="G09", dossier="000.00.00.G09.2024.01")])
        result = find(index, "hồ sơ", filters={"fonds": ("G09",)}, facets=("fonds", "dossier"))
        assert keys(result) == [("new", 1)]
        assert result.facets == {"fonds": [("G09", 1)], "dossier": [("000.00.00.G09.2024.01", 1)]}
        assert find(index, "", filters={"fonds": ("",)}).total == len(old_pages)
    finally:
        if backend == "elasticsearch":
            index.es.indices.delete(index=f"{index.alias}-v*")
        index.close()
    if backend == "embedded":  # opened again: already upgraded, nothing lost
        with EmbeddedIndex(tmp_path / "index.sqlite") as again:
            assert again.count(ADMIN) == len(old_pages) + 1
        db = sqlite3.connect(tmp_path / "index.sqlite")
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.close()


# -- origins: the node and unit that made a record ----------------------------------------

ORIGIN_PAGES = [  # doc_id, origin node, its unit, level
    ("o1", "f9-e1", "qk7/f9/e1", 0),
    ("o2", "f9-e1", "qk7/f9/e1", 0),
    ("o3", "f9", "qk7/f9", 0),
    ("o4", "f90", "qk7/f90", 0),  # a sibling whose name starts like qk7/f9
    ("o5", "f9-e2", "qk7/f9/e2", 3),
    ("o6", "", "", 0),  # made here by a node without identity
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_made_before_origins_filters_and_counts_them(backend, tmp_path):
    old = [page("old", "hồ sơ cũ")]
    index = open_old_index(backend, tmp_path, old, lacks=ORIGIN_FIELDS)
    try:
        assert find(index, "hồ sơ").total == 1
        assert find(index, "", filters={"origin_node": ("",)}).total == 1  # none: empty
        index.index_pages(
            [page(d, "hồ sơ nhận", level=lv, origin_node=n, origin_unit=u)
             for d, n, u, lv in ORIGIN_PAGES]
        )  # fmt: skip

        def docs(principal=ADMIN, **filters) -> set[str]:
            return {h.doc_id for h in find(index, "hồ sơ", principal, filters=filters).hits}

        assert docs(origin_node=("f9-e1",)) == {"o1", "o2"}
        assert docs(origin_node=("f9",)) == {"o3"}  # exact
        assert docs(origin_unit=("qk7/f9",)) == {"o1", "o2", "o3", "o5"}
        assert docs(origin_unit=("QK7/F9/",)) == {"o1", "o2", "o3", "o5"}
        assert docs(origin_unit=("qk7",)) == {"o1", "o2", "o3", "o4", "o5"}
        assert docs(origin_unit=("qk7/f9/e1", "qk7/f90")) == {"o1", "o2", "o4"}
        assert docs(origin_node=("f9-e1", "f9-e2"), origin_unit=("qk7/f9/e2",)) == {"o5"}
        reader = Principal("r", clearance=1, units=("qk7",))
        assert docs(reader, origin_unit=("qk7/f9",)) == {"o1", "o2", "o3"}
        result = find(index, "", reader, facets=("origin_node", "origin_unit"))
        assert result.facets["origin_node"] == [("f9-e1", 2), ("f9", 1), ("f90", 1)]
        assert result.facets["origin_unit"] == [
            ("qk7", 4), ("qk7/f9", 3), ("qk7/f9/e1", 2), ("qk7/f90", 1)
        ]  # fmt: skip
        (hit,) = find(index, "", filters={"origin_node": ("f9",)}).hits
        assert (hit.origin_node, hit.origin_unit) == ("f9", "qk7/f9")
        assert {k: hit.to_json()[k] for k in ("origin_node", "origin_unit")} == {
            "origin_node": "f9", "origin_unit": "qk7/f9"
        }  # fmt: skip
        stored = index.get_page("o5", 1, ADMIN)
        assert (stored.origin_node, stored.origin_unit) == ("f9-e2", "qk7/f9/e2")
        assert index.get_page("o5", 1, reader) is None
        with pytest.raises(UsageError, match="origin_unit filter"):
            SearchQuery("x", filters={"origin_unit": ("qk7//f9",)})
    finally:
        if backend == "elasticsearch":
            index.es.indices.delete(index=f"{index.alias}-v*")
        index.close()


# -- marks mean the word; documents, not pages ---------------------------------------------

MARKED = [
    page("dv", "Báo cáo công tác dân vận của chi bộ"),
    page("dan", "Hướng dẫn văn thư lưu trữ"),  # 'dan van' without marks
    page("vb", "Văn bản về dân số"),  # văn, dân: never 'vận'
    page("lost", "bao cao cong tac dan van", 1),  # OCR lost the marks, on two pages
    page("lost", "cong tac dan van o co so", 2),
    page("dang", "Nghị quyết của Đảng ủy"),
    page("dang2", "ĐẢNG BỘ QUÂN KHU"),
    page("bd", "quyền bình đẳng của công dân"),
    page("doan", "Đoàn thanh niên"),
    page("doan2", "dự đoán tình hình"),
]


def doc_ids(index: SearchIndex, text: str, **kw) -> set[str]:
    return {h.doc_id for h in find_docs(index, text, **kw).hits}


def test_marks_typed_mean_the_word_and_none_typed_every_toned_form(search_index):
    search_index.index_pages(MARKED)
    assert doc_ids(search_index, "dân vận") == {"dv"} == doc_ids(search_index, '"dân vận"')
    assert doc_ids(search_index, "Đảng") == {"dang", "dang2"}  # never 'đẳng' nor 'dang'
    for same in ("đảng", "ĐẢNG", unicodedata.normalize("NFD", "Đảng"), "đả*"):
        assert doc_ids(search_index, same) == {"dang", "dang2"}, same
    assert doc_ids(search_index, "đẳng") == {"bd"} == doc_ids(search_index, '"bình đẳng"')
    assert doc_ids(search_index, "Đoàn") == {"doan"}
    assert doc_ids(search_index, "đoán") == {"doan2"}
    assert doc_ids(search_index, "văn") == {"dan", "vb"}
    assert doc_ids(search_index, "dẫn") == {"dan"}
    # a phrase mixing both: its plain words in order, its marked word exactly
    assert doc_ids(search_index, '"dân van"') == {"dv"}
    assert doc_ids(search_index, "dân -vận") == {"vb", "bd"}
    # typed without marks: every toned form
    assert doc_ids(search_index, "dan van") == {"dv", "dan", "vb", "lost"}
    assert doc_ids(search_index, '"dan van"') == {"dv", "dan", "lost"}
    assert doc_ids(search_index, "dang") == {"dang", "dang2", "bd"}
    assert doc_ids(search_index, "doan") == {"doan", "doan2"}
    assert doc_ids(search_index, "da*") == {"dv", "dan", "vb", "lost", "dang", "dang2", "bd"}


def test_documents_found_only_when_marks_are_ignored_are_counted_apart(search_index):
    search_index.index_pages(MARKED)
    facets = ("unit", "category")
    exact = find_docs(search_index, "dân vận", facets=facets)
    assert exact.total == 1 and exact.facets["unit"] == [("qk7", 1)]
    assert exact.loose == 3  # dan, vb and lost (one document of two pages)
    loosely = find_docs(search_index, "dân vận", marks="ignore", facets=facets)
    assert {h.doc_id for h in loosely.hits} == {"dv", "dan", "vb", "lost"}
    assert loosely.hits[0].doc_id == "dv" and loosely.loose == 0  # exact first
    assert loosely.total == 4 and loosely.facets["unit"] == [("qk7", 4)]
    assert find_docs(search_index, "Đảng").loose == 1  # bình đẳng
    assert find_docs(search_index, "dan van").loose == 0  # nothing typed with marks
    assert find(search_index, "dân vận").loose == 3  # documents, in the page view too
    assert find_docs(search_index, "dân vận", filters={"unit": ("qk9",)}).loose == 0


def test_a_document_is_one_hit_with_its_matching_pages(search_index):
    matching = [n for n in range(1, 41) if n % 3]  # 27 of 40 pages say it
    dossier = [
        page("dossier", f"trang {n}: " + ("công tác dân vận" if n in matching else "hậu cần"), n,
             unit="qk7/f9", category="bao_cao")
        for n in range(1, 41)
    ]  # fmt: skip
    small = [
        page(f"s{i}", "dân vận cơ sở", category=("ke_hoach", "bao_cao")[i % 2]) for i in (0, 1, 2)
    ]
    many = [page("many", "dân vận", n, unit="qk9") for n in range(1, 61)]
    search_index.index_pages([*dossier, *small, *many])
    facets = ("category", "unit", "level")
    result = find_docs(search_index, "dân vận", facets=facets)
    assert sorted(h.doc_id for h in result.hits) == ["dossier", "many", "s0", "s1", "s2"]
    assert result.total == 5
    big = next(h for h in result.hits if h.doc_id == "dossier")
    assert big.pages == tuple(matching) and big.page_count == 27 and big.page in matching
    assert "dân vận" in big.snippet.replace(MARK, "").replace(END, "")
    assert big.to_json()["pages"] == matching and big.to_json()["page_count"] == 27
    capped = next(h for h in result.hits if h.doc_id == "many")
    assert capped.pages == tuple(range(1, 51)) and capped.page_count == 60
    assert dict(result.facets["category"]) == {"bao_cao": 2, "ke_hoach": 2}
    assert dict(result.facets["unit"]) == {"qk7": 4, "qk7/f9": 1, "qk9": 1}
    assert dict(result.facets["level"]) == {"0": 5}
    pages = find(search_index, "dân vận", facets=facets)
    assert pages.total == len(pages.hits) == 27 + 3 + 60
    assert dict(pages.facets["unit"]) == {"qk7": 30, "qk7/f9": 27, "qk9": 60}
    assert all(h.pages == (h.page,) and h.page_count == 1 for h in pages.hits)
    # a document ranks by its best page: in the order its first page comes in the page view
    first = list(dict.fromkeys(h.doc_id for h in pages.hits))
    assert [h.doc_id for h in result.hits] == first
    assert find_docs(search_index, "", facets=facets).total == 5  # no words: documents too


@pytest.mark.parametrize("sort", ["relevance", "date"])
@pytest.mark.parametrize("text", ["kế hoạch năm", ""])
def test_cursor_pages_through_documents(search_index, sort, text):
    pages = [replace(p, page=n, text=f"{p.text} trang {n}")
             for p in filtered_corpus() for n in range(1, 2 + int(p.doc_id[1:]) % 3)]  # fmt: skip
    search_index.index_pages(pages)
    everything = [(h.doc_id, h.pages) for h in find_docs(search_index, text, sort=sort).hits]
    total = find_docs(search_index, text, sort=sort).total
    assert len(everything) == len({d for d, _ in everything}) == total > 20
    by_cursor, after = [], None
    while True:
        result = find_docs(search_index, text, sort=sort, limit=7, after=after)
        by_cursor += [(h.doc_id, h.pages) for h in result.hits]
        assert result.total == total
        if (after := result.next_cursor) is None:
            break
    assert by_cursor == everything
    by_offset = []
    for offset in range(0, total, 7):
        by_offset += [
            (h.doc_id, h.pages)
            for h in find_docs(search_index, text, sort=sort, limit=7, offset=offset).hits
        ]
    assert by_offset == everything
    page_cursor = find(search_index, text, sort=sort, limit=7).next_cursor
    with pytest.raises(CursorError):  # a cursor of the page view is not one of documents
        find_docs(search_index, text, sort=sort, limit=7, after=page_cursor)


def test_hidden_documents_count_nowhere(search_index):
    reader = Principal("r", clearance=1, units=("qk7",))
    search_index.index_pages(
        [
            *[page("open", "dân vận", n, level=1) for n in (1, 2, 3)],
            *[page("secret", "dân vận dân vận", n, level=3) for n in (1, 2)],
            page("other", "dân vận", unit="qk9"),
            page("open-lost", "dan van"),
            page("secret-lost", "dan van", level=2),
        ]
    )
    facets = ("unit", "level", "category")
    for group in ("document", "page"):
        result = search_index.search(
            SearchQuery("dân vận", group=group, facets=facets, limit=100), reader
        )
        assert [h.doc_id for h in result.hits] == ["open"] * (1 if group == "document" else 3)
        assert result.total == len(result.hits) and result.loose == 1  # open-lost only
        assert dict(result.facets["unit"]) == {"qk7": result.total}
        assert dict(result.facets["level"]) == {"1": result.total}
    assert (
        find_docs(search_index, "dân vận").loose == 2
        and find_docs(search_index, "dân vận").total == 3
    )


def test_a_unit_facet_counts_what_its_filter_returns(search_index):
    pages = [replace(p, origin_unit=p.access.unit) for p in filtered_corpus()]
    search_index.index_pages(pages)
    in_qk7 = sum(p.access.unit == "qk7" or p.access.unit.startswith("qk7/") for p in pages)
    assert in_qk7 > sum(p.access.unit == "qk7" for p in pages)  # qk7 has sub-units here
    for key in ("unit", "origin_unit"):
        for view in (find_docs, find):
            result = view(search_index, "kế hoạch", facets=(key,))
            assert ("qk7", in_qk7) in result.facets[key]
            for text in ("kế hoạch", "năm"):
                for value, n in view(search_index, text, facets=(key,)).facets[key]:
                    assert view(search_index, text, filters={key: (value,)}).total == n, value
