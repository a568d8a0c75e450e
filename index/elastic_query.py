"""Elasticsearch queries of kho's searches, built from `parse_query` terms (user input never
reaches Lucene syntax), with the access filter inside every one of them.

`build_query(..., records)` asks page records (`records="page"`) or document records
("document"): the same filters on the same fields, and the words as one query on a page,
which a document record holds for each of its pages in `nested` objects. So a document
matches when one page of it matches, exactly as the page view finds that page.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.types import ALL_UNITS, Principal, unit_scopes
from .base import FACET_SIZE, UNIT_KEYS, ParsedQuery, SearchQuery, Term, year_dates
from .elastic_records import DOCUMENT

EXACT_BOOST, FOLDED_BOOST = 4.0, 1.0
PAGES_ONLY = {"bool": {"must_not": {"term": {"kind": DOCUMENT}}}}  # page records
DOCUMENTS_ONLY = {"term": {"kind": DOCUMENT}}
_KIND = {"page": PAGES_ONLY, "document": DOCUMENTS_ONLY}
_FACET_FIELD = {"level": "level"}  # every other facet key is a keyword field of its name
# The year is doc_date's, counted by calendar year: an index needs no field of its own.
_YEAR_AGG = {
    "date_histogram": {
        "field": "doc_date", "calendar_interval": "year", "format": "yyyy", "min_doc_count": 1
    }
}  # fmt: skip
SORTS = {  # hit order; ties broken by what a hit shows (doc_id, page), as embedded does
    "relevance": [{"_score": "desc"}, {"uid": "asc"}],
    "date": [
        {"doc_date": {"order": "desc", "missing": "_last"}},
        {"ingested_at": {"order": "desc", "missing": "_last"}},
        {"uid": "asc"},
    ],
}


def facet_agg(key: str) -> dict:
    """Value counts of one facet (of the records searched: pages or documents); an empty
    value is not one (as in the embedded index); a unit counts its subtree (its `_path`
    field), as its filter does."""
    if key == "year":
        return _YEAR_AGG
    field = _FACET_FIELD.get(key, f"{key}_path" if key in UNIT_KEYS else key)
    terms: dict = {"field": field, "size": FACET_SIZE}
    if key not in _FACET_FIELD:
        terms["exclude"] = [""]
    return {"terms": terms}


def facet_counts(key: str, buckets: list[dict]) -> list[tuple[str, int]]:
    """A facet's (value, count) list, most frequent first, then by value (as embedded)."""
    counts = [(str(b.get("key_as_string", b["key"])), b["doc_count"]) for b in buckets]
    if key == "year":  # a histogram comes in year order, every year there is
        counts = sorted(counts, key=lambda c: (-c[1], c[0]))[:FACET_SIZE]
    return counts


def acl_filter(principal: Principal) -> dict:
    """`core.types.can_see` as an Elasticsearch filter (both kinds of record carry the
    access fields)."""
    level = {"range": {"level": {"lte": principal.clearance}}}
    scopes = list(unit_scopes(principal))
    if scopes == [ALL_UNITS]:
        return level
    should = []
    if scopes:
        should.append({"terms": {"unit_path": scopes}})
    if principal.groups:
        should.append({"terms": {"groups": list(principal.groups)}})
    if not should:
        return {"bool": {"must_not": {"match_all": {}}}}
    return {"bool": {"filter": [level], "should": should, "minimum_should_match": 1}}


def term_query(term: Term, field: str = "text", marks: str = "ignore") -> dict:
    """One required word or phrase. Typed with marks (`marks="exact"`): its exact phrase,
    or for a phrase mixing marked and plain words its folded phrase and each marked word
    exactly. Else exact (boosted) or folded."""
    kind = "match_phrase_prefix" if term.prefix else "match_phrase"
    exact, folded = " ".join(term.exact), " ".join(term.folded)
    if marks == "exact" and term.has_diacritics:
        if term.all_marked:
            return {kind: {field: {"query": exact, "boost": EXACT_BOOST}}}
        words = [
            {("match_phrase_prefix" if prefix else "match_phrase"): {field: word}}
            for word, prefix in term.marked()
        ]
        return {"bool": {"must": [{kind: {f"{field}_folded": folded}}, *words]}}
    return {
        "bool": {
            "should": [
                {kind: {field: {"query": exact, "boost": EXACT_BOOST}}},
                {kind: {f"{field}_folded": {"query": folded, "boost": FOLDED_BOOST}}},
            ],
            "minimum_should_match": 1,
        }
    }


def _exclude_query(term: Term, field: str) -> dict:
    """'-mà' drops pages with 'mà'; '-ma' drops every tone of 'ma' (as the embedded index)."""
    kind = "match_phrase_prefix" if term.prefix else "match_phrase"
    if term.has_diacritics:
        return {kind: {field: " ".join(term.exact)}}
    return {kind: {f"{field}_folded": " ".join(term.folded)}}


def page_text_query(parsed: ParsedQuery, marks: str, field: str = "text") -> dict:
    """The words of a query as one query on a page's text (`field`)."""
    must = [term_query(t, field, marks) for t in parsed.include] or [{"match_all": {}}]
    must_not = [_exclude_query(t, field) for t in parsed.exclude]
    return {"bool": {"must": must, "must_not": must_not}}


def build_query(
    query: SearchQuery,
    parsed: ParsedQuery,
    principal: Principal,
    marks: str | None = None,
    records: str = "page",
) -> dict:
    """The visible, filtered page records (`records="page"`) or document records
    ("document", a document matching when one of its pages does) a search finds."""
    marks = marks or query.marks
    filters = [acl_filter(principal), _KIND[records]]
    for key, values in query.filters.items():
        if key in UNIT_KEYS:  # values in normal form (SearchQuery); '' covers nothing
            filters.append({"terms": {f"{key}_path": [v for v in values if v]}})
        elif key == "level":
            filters.append({"terms": {"level": [int(v) for v in values]}})
        elif key == "year":
            years = [dict(zip(("gte", "lte"), year_dates(v), strict=True)) for v in values]
            filters.append(_any_of([{"range": {"doc_date": b}} for b in years]))
        else:
            filters.append(_keyword_filter(key, values))
    if query.date_from or query.date_to:
        bounds = {k: v for k, v in (("gte", query.date_from), ("lte", query.date_to)) if v}
        filters.append({"range": {"doc_date": bounds}})
    if records == "page":
        words = page_text_query(parsed, marks)
    else:
        words = {
            "nested": {
                "path": "pages",
                "query": page_text_query(parsed, marks, "pages.text"),
                "score_mode": "max",  # a document ranks by its best page
            }
        }
    return {"bool": {"must": [words], "filter": filters}}


def _any_of(queries: list[dict]) -> dict:
    return {"bool": {"should": queries, "minimum_should_match": 1}}


def _keyword_filter(key: str, values: Sequence[str]) -> dict:
    """Records whose `key` is one of `values`; the empty value also matches a page stored
    before the field was in the mapping, which has none (as the embedded index reads it)."""
    match = {"terms": {key: list(values)}}
    if "" not in values:
        return match
    return _any_of([match, {"bool": {"must_not": {"exists": {"field": key}}}}])
