"""Document hits (the default grouping) answer a hidden document exactly as a missing one.

Elasticsearch keeps one record per document beside its pages, and the embedded index counts
documents over its pages: a document tightened or moved to another unit must leave no trace
in a reader's document hits, totals, facets, matching pages or cursors, and a document
deleted must leave no record behind.
"""

from __future__ import annotations

import pytest

from kho.core.types import Principal

from ..test_index_contract import find_docs, page

READER = Principal("officer", clearance=1, units=("qk7",))
FACETS = ("level", "unit", "category", "year")


def answer(index, text: str, **kw) -> tuple:
    """What a reader's document search shows, cursor left out (it is signed per search)."""
    result = find_docs(index, text, READER, facets=FACETS, limit=2, **kw)
    hits = [(h.doc_id, h.pages, h.page_count, h.snippet) for h in result.hits]
    return hits, result.total, result.facets, result.loose, result.next_cursor is None


def pages_of(doc_id: str, word: str, n: int = 3, **access) -> list:
    return [
        page(doc_id, f"{word} kế hoạch trang {i}", i, category="ke_hoach", doc_date="2024-05-01",
             **access)
        for i in range(1, n + 1)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "hidden", [{"level": 3}, {"unit": "qk9"}, {"unit": "qk9", "groups": ("ban_tc",)}]
)
def test_a_tightened_document_answers_like_a_missing_one(search_index, hidden):
    search_index.index_pages(pages_of("shown", "chung") + pages_of("secret", "riêng"))
    seen = answer(search_index, "riêng")
    assert [h[0] for h in seen[0]] == ["secret"] and seen[1] == 1
    search_index.replace_document("secret", pages_of("secret", "riêng", n=2, **hidden))
    missing = answer(search_index, "khôngcótừnày")  # a word in no document
    assert answer(search_index, "riêng") == missing
    assert answer(search_index, '"riêng kế"') == missing
    everything = answer(search_index, "kế hoạch")
    assert everything == answer(search_index, "kế hoạch -riêng")  # only "shown" remains
    assert [h[0] for h in everything[0]] == ["shown"] and everything[1] == 1
    assert dict(everything[2]["level"]) == {"0": 1}
    assert dict(everything[2]["category"]) == {"ke_hoach": 1}
    filtered = answer(search_index, "", filters={"category": ("ke_hoach",)})
    assert [h[0] for h in filtered[0]] == ["shown"] and filtered[1] == 1


def test_a_deleted_document_leaves_nothing_to_find(search_index):
    search_index.index_pages(pages_of("gone", "xoá") + pages_of("kept", "giữ"))
    search_index.delete_document("gone")
    assert answer(search_index, "xoá") == answer(search_index, "khôngcótừnày")
    kept = answer(search_index, "")
    assert [h[0] for h in kept[0]] == ["kept"] and kept[1] == 1
    if hasattr(search_index, "es"):  # no document record outlives its pages
        from kho.index.elastic_query import DOCUMENTS_ONLY

        records = search_index.es.count(index=search_index.alias, query=DOCUMENTS_ONLY)
        assert records["count"] == 1
