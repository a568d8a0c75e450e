"""Document hits at archive depth: paging past the offset window, document records kept in
step with their pages (Elasticsearch), an index made before document records, and the
folded text the Elasticsearch records carry."""

from __future__ import annotations

import uuid

import pytest

from kho.core.errors import IndexError_
from kho.core.settings import load_settings
from kho.index.base import MAX_WINDOW, SearchQuery
from kho.index.text import fold
from kho.synth.text import CATEGORIES, paragraphs

from .conftest import es_client, need_service
from .test_index_contract import ADMIN, find, find_docs, page


@pytest.mark.slow
def test_document_hits_page_past_the_offset_window_by_cursor(search_index):
    count = MAX_WINDOW + 40
    search_index.index_pages(
        [page(f"d{n:05d}", f"công văn số {n}", doc_date="2024-05-01") for n in range(count)]
    )
    seen, after, calls = [], None, 0
    while True:
        query = SearchQuery("công văn", limit=1000, after=after, facets=("level",))
        result = search_index.search(query, ADMIN)
        seen += [h.doc_id for h in result.hits]
        if result.estimated:  # the embedded index past its window says it estimates
            assert abs(result.total - count) <= 0.3 * count
        else:
            assert result.total == count and dict(result.facets["level"]) == {"0": count}
        calls += 1
        if (after := result.next_cursor) is None:
            break
    assert len(seen) == len(set(seen)) == count and calls == 11


@pytest.mark.services
def test_document_records_follow_replace_and_delete():
    """Both kinds of record of a document change together (Elasticsearch only)."""
    url = need_service("Elasticsearch", "KHO_ELASTICSEARCH_URL")
    from kho.index.elastic import ElasticIndex
    from kho.index.elastic_query import DOCUMENTS_ONLY

    index = ElasticIndex(url, f"kho-test-{uuid.uuid4().hex[:12]}", refresh=True,
                         options=load_settings().elasticsearch)  # fmt: skip
    try:
        index.index_pages([page("doc", f"kế hoạch huấn luyện trang {n}", n) for n in (1, 2, 3)])
        index.replace_document("doc", [page("doc", "kế hoạch sửa đổi", 1, category="ke_hoach")])
        assert find_docs(index, "huấn luyện").total == 0  # no page says it any more
        (hit,) = find_docs(index, "kế hoạch", facets=("category",)).hits
        assert (hit.pages, hit.page_count, hit.category) == ((1,), 1, "ke_hoach")
        records = index.es.count(index=index.alias, query=DOCUMENTS_ONLY)["count"]
        assert records == 1
        assert index.delete_document("doc") == 1  # pages, not records
        assert index.es.count(index=index.alias)["count"] == 0
        assert find_docs(index, "", facets=("category",)).facets == {"category": []}
    finally:
        index.es.indices.delete(index=f"{index.alias}-v*")
        index.close()


@pytest.mark.services
def test_an_index_made_before_document_records_asks_for_a_reindex():
    """Page hits work at once; document hits say to run `kho reindex`, and after the
    rebuild (the calls `kho reindex` makes) they are there."""
    url = need_service("Elasticsearch", "KHO_ELASTICSEARCH_URL")
    from elasticsearch import helpers

    from kho.index.elastic import MAPPINGS, SETTINGS, ElasticIndex, _source

    alias = f"kho-test-{uuid.uuid4().hex[:12]}"
    es = es_client(url)
    old = {k: v for k, v in MAPPINGS["properties"].items() if k not in ("pages", "kind")}
    es.indices.create(
        index=f"{alias}-v1", settings=SETTINGS,
        mappings={"dynamic": "strict", "_source": {"excludes": ["text_folded", "title_folded"]},
                  "properties": old},
        aliases={alias: {"is_write_index": True}},
    )  # fmt: skip
    pages = [page("old", f"hồ sơ cũ trang {n}", n) for n in (1, 2)]
    helpers.bulk(es, ({"_index": alias, "_id": f"old:{p.page}", "_source": _source(p)}
                      for p in pages), refresh="wait_for")  # fmt: skip
    es.close()
    index = ElasticIndex(url, alias, refresh=True, options=load_settings().elasticsearch)
    try:
        assert find(index, "hồ sơ").total == 2
        with pytest.raises(IndexError_, match="kho reindex"):
            find_docs(index, "hồ sơ")
        rebuild = ElasticIndex(url, alias, options=load_settings().elasticsearch)  # a reindex
        target = rebuild.build_version()
        rebuild.index_pages(pages, index=target, fresh=True)
        rebuild.swap_alias(target)
        rebuild.close()
        (hit,) = find_docs(index, "hồ sơ").hits  # the same process sees the new version
        assert (hit.doc_id, hit.pages) == ("old", (1, 2))
    finally:
        index.es.indices.delete(index=f"{alias}-v*")
        index.close()


def test_records_fold_word_by_word_as_fold_does():
    """The word-cached fold of the Elasticsearch records gives fold's words, in order."""
    from kho.index.elastic_records import fold_text

    texts = [p for c in CATEGORIES for p in paragraphs(c, 3, seed=5)]
    texts += ["Đảng ủy\tQUÂN KHU\n\nđã  kết nạp 12-KH/ĐTN", "e\u0301 combining, ĐẢNG"]
    for text in texts:
        assert fold_text(text).split() == fold(text).split()
        assert fold_text(text) == fold_text(text)  # the cached words fold the same again
