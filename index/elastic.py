"""The Elasticsearch index: page documents behind an alias, access control in every query.

Each page is one Elasticsearch document (id `doc_id:page`) carrying its document's fields,
so a hit, a facet count and a total are all counts of visible pages and need no join. The
text is indexed twice: `text` keeps diacritics (exact, also for phrases) and `text_folded`
holds `index.text.fold(text)` (diacritics removed, đ -> d), folded here in Python with the
very function the embedded index uses, so both backends fold alike and the cluster needs no
analysis plugin. Exact matches are boosted above folded ones. Queries are built from
`parse_query` terms, so user input never reaches Lucene syntax.

The alias (`kho-pages`) points at a versioned index (`kho-pages-v3`); `build_version` and
`swap_alias` let `kho reindex` rebuild without downtime. An index made by an older kho gets
the fields it lacks added to its mapping when opened, so it needs no reindex.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

from kho.core.secrets import redact_url
from kho.core.settings import ElasticOptions

from ..core.errors import ConfigError, IndexError_, ServiceError, UsageError
from ..core.types import ALL_UNITS, Access, PageDoc, Principal, normalize_unit, unit_scopes
from .base import (
    FACET_SIZE,
    HIT_PAGES,
    MAX_QUERY_CHARS,
    MAX_WINDOW,
    UNIT_KEYS,
    ParsedQuery,
    SearchHit,
    SearchQuery,
    SearchResult,
    Term,
    complete_words,
    group_pages,
    make_snippet,
    needs_loose,
    parse_query,
    year_dates,
)
from .cursor import CursorError, Cursors, search_key
from .text import fold, tokens

EXACT_BOOST, FOLDED_BOOST = 4.0, 1.0
BULK_CHUNK = 500  # pages per bulk request (smaller ones cost a busy node more per page)
BULK_THREADS = 2  # requests in flight when a call has more: the shard takes them side by side
SUGGEST_PAGES = 200  # best visible pages scanned for word completions

SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}
_KEYWORDS = (
    *("doc_id", "uid", "category", "doc_type", "issuer", "unit", "unit_path", "groups"),
    *("batch", "lang", "filename", "fonds", "dossier"),
    *("origin_node", "origin_unit", "origin_unit_path"),  # origin_unit_path as unit_path
)
_TEXT = {"type": "text", "analyzer": "standard"}  # UAX#29 words, lower-cased, marks kept
MAPPINGS = {
    "dynamic": "strict",
    "_source": {"excludes": ["text_folded", "title_folded"]},
    "properties": {
        **{k: {"type": "keyword"} for k in _KEYWORDS},
        "page": {"type": "integer"},
        "level": {"type": "integer"},
        "confidence": {"type": "float"},
        "doc_date": {"type": "date", "format": "strict_date"},
        "ingested_at": {"type": "date"},
        "title": {**_TEXT, "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "title_folded": _TEXT,
        "text": _TEXT,
        "text_folded": _TEXT,
    },
}
_FACET_FIELD = {"level": "level"}  # every other facet key is a keyword field of its name
# The year is doc_date's, counted by calendar year: an index needs no field of its own.
_YEAR_AGG = {
    "date_histogram": {
        "field": "doc_date", "calendar_interval": "year", "format": "yyyy", "min_doc_count": 1
    }
}  # fmt: skip
# Documents counted: exact up to this many (HyperLogLog++ above; Elasticsearch's maximum).
_DOC_COUNT = {"cardinality": {"field": "doc_id", "precision_threshold": 40_000}}
_SORTS = {  # hit order; ties broken by what a hit shows (doc_id, page), as embedded does
    "relevance": [{"_score": "desc"}, {"uid": "asc"}],
    "date": [
        {"doc_date": {"order": "desc", "missing": "_last"}},
        {"ingested_at": {"order": "desc", "missing": "_last"}},
        {"uid": "asc"},
    ],
}


def _facet_agg(key: str, group: str) -> dict:
    """Value counts of one facet (documents: a cardinality of doc_id in each bucket); an
    empty value is not one (as in the embedded index); a unit counts its subtree (its
    `_path` field), as its filter does."""
    docs = group == "document"
    if key == "year":
        return {**_YEAR_AGG, "aggs": {"docs": _DOC_COUNT}} if docs else _YEAR_AGG
    field = _FACET_FIELD.get(key, f"{key}_path" if key in UNIT_KEYS else key)
    terms: dict = {"field": field, "size": FACET_SIZE}
    if key not in _FACET_FIELD:
        terms["exclude"] = [""]
    if not docs:
        return {"terms": terms}
    terms["order"] = [{"docs": "desc"}, {"_key": "asc"}]
    return {"terms": terms, "aggs": {"docs": _DOC_COUNT}}


def unit_path(unit: str) -> list[str]:
    """'qk7/f9/e1' -> ['qk7', 'qk7/f9', 'qk7/f9/e1']: what a unit scope term-matches.

    The unit in normal form (`normalize_unit`, as every scope is), so its prefixes are
    exactly the scopes `core.types.unit_covers` lets see it.
    """
    unit = normalize_unit(unit)
    parts = unit.split("/") if unit else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def acl_filter(principal: Principal) -> dict:
    """`core.types.can_see` as an Elasticsearch filter."""
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


def _term_query(term: Term, field: str = "text", marks: str = "ignore") -> dict:
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


def _exclude_query(term: Term) -> dict:
    """'-mà' drops pages with 'mà'; '-ma' drops every tone of 'ma' (as the embedded index)."""
    kind = "match_phrase_prefix" if term.prefix else "match_phrase"
    if term.has_diacritics:
        return {kind: {"text": " ".join(term.exact)}}
    return {kind: {"text_folded": " ".join(term.folded)}}


def build_query(
    query: SearchQuery, parsed: ParsedQuery, principal: Principal, marks: str | None = None
) -> dict:
    marks = marks or query.marks
    filters = [acl_filter(principal)]
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
    must = [_term_query(t, marks=marks) for t in parsed.include] or [{"match_all": {}}]
    must_not = [_exclude_query(t) for t in parsed.exclude]
    return {"bool": {"must": must, "filter": filters, "must_not": must_not}}


def _any_of(queries: list[dict]) -> dict:
    return {"bool": {"should": queries, "minimum_should_match": 1}}


def _keyword_filter(key: str, values: Sequence[str]) -> dict:
    """Pages whose `key` is one of `values`; the empty value also matches a page stored
    before the field was in the mapping, which has none (as the embedded index reads it)."""
    match = {"terms": {key: list(values)}}
    if "" not in values:
        return match
    return _any_of([match, {"bool": {"must_not": {"exists": {"field": key}}}}])


def _facet_counts(key: str, buckets: list[dict]) -> list[tuple[str, int]]:
    """A facet's (value, count) list, most frequent first, then by value (as embedded)."""
    counts = [
        (
            str(b.get("key_as_string", b["key"])),
            b["docs"]["value"] if "docs" in b else b["doc_count"],
        )
        for b in buckets
    ]
    if key == "year":  # a histogram comes in year order, every year there is
        counts = sorted(counts, key=lambda c: (-c[1], c[0]))[:FACET_SIZE]
    return counts


def _source(p: PageDoc) -> dict:
    text = unicodedata.normalize("NFC", p.text)  # exact tokens must be composed
    return {
        "doc_id": p.doc_id,
        "uid": f"{p.doc_id}:{p.page:06d}",
        "page": p.page,
        "text": text,
        "text_folded": fold(text),
        "title": p.title,
        "title_folded": fold(p.title),
        "category": p.category,
        "doc_type": p.doc_type,
        "issuer": p.issuer,
        "unit": normalize_unit(p.access.unit),
        "unit_path": unit_path(p.access.unit),
        "level": p.access.level,
        "groups": list(p.access.groups),
        "batch": p.batch,
        "lang": p.lang,
        "doc_date": p.doc_date or None,
        "ingested_at": p.ingested_at or None,
        "filename": p.filename,
        "confidence": p.confidence,
        "fonds": p.fonds,
        "dossier": p.dossier,
        "origin_node": p.origin_node,
        "origin_unit": normalize_unit(p.origin_unit),
        "origin_unit_path": unit_path(p.origin_unit),
    }


def _page(src: dict) -> PageDoc:
    return PageDoc(
        doc_id=src["doc_id"],
        page=src["page"],
        text=src["text"],
        category=src["category"],
        title=src["title"],
        batch=src["batch"],
        filename=src["filename"],
        access=Access(level=src["level"], unit=src["unit"], groups=tuple(src["groups"])),
        doc_type=src["doc_type"],
        issuer=src["issuer"],
        doc_date=src["doc_date"] or "",
        ingested_at=src["ingested_at"] or "",
        lang=src["lang"],
        confidence=src["confidence"],
        fonds=src.get("fonds", ""),
        dossier=src.get("dossier", ""),
        origin_node=src.get("origin_node", ""),
        origin_unit=src.get("origin_unit", ""),
    )


def connect(url: str, options: ElasticOptions | None = None, *, timeout: float = 30.0):
    """An Elasticsearch client for `url` that logs in with the API key or the user and
    password of `options` and checks an https certificate against its CA bundle."""
    from elasticsearch import Elasticsearch

    options = options or ElasticOptions()
    login: dict = {}
    if options.api_key:
        login["api_key"] = options.api_key
    elif options.user:
        login["basic_auth"] = (options.user, options.password)
    if options.ca:
        if not url.lower().startswith("https://"):
            raise ConfigError(
                f"KHO_ELASTICSEARCH_CA is set but {redact_url(url)} is not https: use https://"
            )
        login["ca_certs"] = options.ca
    return Elasticsearch(
        url, request_timeout=timeout, retry_on_timeout=True, max_retries=2, **login
    )


class ElasticIndex:
    """`SearchIndex` on Elasticsearch 8 (works with any 8.x cluster, no plugins)."""

    def __init__(
        self,
        url: str,
        name: str = "kho-pages",
        *,
        refresh: bool = False,
        timeout: float = 30.0,
        options: ElasticOptions | None = None,
        cursors: Cursors | None = None,
    ):
        self.cursors = cursors or Cursors()  # a key of this process only, unless given one
        self.alias = name
        self.refresh_writes = refresh  # wait for each write to be searchable (tests)
        self.url = redact_url(url)  # what messages show
        self.es = connect(url, options, timeout=timeout)
        with self._errors():
            if not self.es.indices.exists_alias(name=self.alias):
                self._create_first_version()
            else:
                self._add_new_fields()

    # administration ------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        from elastic_transport import TlsError
        from elasticsearch import ApiError, TransportError

        try:
            yield
        except TlsError as err:
            raise ConfigError(
                f"Elasticsearch at {self.url}: its certificate could not be verified ({err}); "
                "set KHO_ELASTICSEARCH_CA to the CA bundle that signed it"
            ) from err
        except TransportError as err:
            raise ServiceError(
                f"Elasticsearch is unavailable at {self.url}: {err}; "
                "start it or check KHO_ELASTICSEARCH_URL"
            ) from err
        except ApiError as err:
            if err.status_code in (401, 403):
                raise ConfigError(
                    f"Elasticsearch at {self.url} refused kho's login ({err.status_code}): "
                    "check KHO_ELASTICSEARCH_API_KEY, or KHO_ELASTICSEARCH_USER and _PASSWORD, "
                    "and the role's rights on the kho indices"
                ) from err
            if err.status_code in (429, 502, 503, 504):
                raise ServiceError(f"Elasticsearch is busy ({err.status_code}): retry") from err
            raise IndexError_(f"Elasticsearch refused the request: {err}") from err

    def _create_first_version(self) -> None:
        from elasticsearch import BadRequestError

        index = f"{self.alias}-v1"
        try:
            self.es.indices.create(
                index=index,
                settings=SETTINGS,
                mappings=MAPPINGS,
                aliases={self.alias: {"is_write_index": True}},
            )
        except BadRequestError as err:  # another process created it first
            if "already_exists" not in str(err):
                raise

    def _add_new_fields(self) -> None:
        """Give an index made by an older kho the fields of MAPPINGS it lacks (fonds,
        dossier, origin_node, origin_unit): adding a field rewrites nothing, so what was
        stored before stays searchable with no reindex; a page stored before has none, read
        as empty."""
        mappings = self.es.indices.get_mapping(index=self.alias)
        for index, mapping in mappings.items():
            have = mapping["mappings"].get("properties", {})
            fields: dict = MAPPINGS["properties"]  # type: ignore[assignment]
            missing = {k: v for k, v in fields.items() if k not in have}
            if missing:
                self.es.indices.put_mapping(index=index, properties=missing)

    def current_index(self) -> str:
        with self._errors():
            return next(iter(self.es.indices.get_alias(name=self.alias)))

    def build_version(self) -> str:
        """Create the next empty version (not yet behind the alias) and return its name."""
        current = self.current_index()
        version = int(current.rsplit("-v", 1)[1]) + 1
        index = f"{self.alias}-v{version}"
        with self._errors():
            if self.es.indices.exists(index=index):
                self.es.indices.delete(index=index)
            self.es.indices.create(
                index=index, settings={**SETTINGS, "refresh_interval": "-1"}, mappings=MAPPINGS
            )
        return index

    def unfinished_version(self, index: str) -> bool:
        """Whether `index` is a version of this alias that `build_version` made and no
        `swap_alias` has put behind the alias yet: a reindex may carry on filling it."""
        prefix = f"{self.alias}-v"
        if not index.startswith(prefix) or not index[len(prefix) :].isdigit():
            return False
        current = self.current_index()
        if int(index[len(prefix) :]) <= int(current.rsplit("-v", 1)[1]):
            return False  # the alias's own version, or one older than it
        with self._errors():
            return bool(self.es.indices.exists(index=index))

    def swap_alias(self, new_index: str) -> str:
        """Point the alias at `new_index` in one atomic step; delete and return the old one."""
        old = self.current_index()
        with self._errors():
            self.es.indices.put_settings(index=new_index, settings={"refresh_interval": "1s"})
            self.es.indices.refresh(index=new_index)
            self.es.indices.update_aliases(
                actions=[
                    {"remove": {"index": old, "alias": self.alias}},
                    {"add": {"index": new_index, "alias": self.alias, "is_write_index": True}},
                ]
            )
            self.es.indices.delete(index=old)
        return old

    def refresh(self) -> None:
        self.refresh_index(None)

    def close(self) -> None:
        self.es.close()

    # writing -------------------------------------------------------------------------------
    def bulk_actions(self, pages: Sequence[PageDoc], index: str | None = None) -> Iterator[dict]:
        for p in pages:
            yield {
                "_op_type": "index",
                "_index": index or self.alias,
                "_id": f"{p.doc_id}:{p.page}",
                "_source": _source(p),
            }

    def index_pages(
        self, pages: Sequence[PageDoc], index: str | None = None, *, fresh: bool = False
    ) -> int:
        """Store pages; each document named is replaced by the pages given for it.

        `fresh`: `index` is a version being built that holds none of these documents'
        earlier pages (`kho reindex`'s target), so no stale pages are looked for. Else the
        look-up follows the bulk write: run beside it, it could reach a just-made index
        before its shard is up (503), which the write itself waits for.
        """
        docs = group_pages(pages)
        stored = self._bulk(self.bulk_actions(pages, index), index, len(pages))
        if not fresh:
            with self._errors():
                first = self._extra_pages(docs, index)
            self._drop_extra_pages(docs, index, first)
        return stored

    def replace_document(self, doc_id: str, pages: Sequence[PageDoc]) -> int:
        if not pages:
            self.delete_document(doc_id)
            return 0
        if any(p.doc_id != doc_id for p in pages):
            raise IndexError_(f"replace_document({doc_id[:12]}) was given another document's page")
        return self.index_pages(pages)

    def delete_document(self, doc_id: str) -> int:
        ids = self._page_ids(doc_id)
        self._delete_ids(ids)
        return len(ids)

    def _page_ids(self, doc_id: str, index: str | None = None) -> list[str]:
        """Ids of every stored page of the document (a document has at most max_pages)."""
        with self._errors():
            res = self.es.search(
                index=index or self.alias,
                query={"term": {"doc_id": doc_id}},
                size=10_000,
                source=False,
                sort=["page"],
            )
        return [h["_id"] for h in res["hits"]["hits"]]

    def _delete_ids(self, ids: Sequence[str], index: str | None = None) -> None:
        if ids:
            actions = ({"_op_type": "delete", "_index": index or self.alias, "_id": i} for i in ids)
            self._bulk(actions, index, len(ids))

    def _bulk(self, actions, index: str | None, count: int = BULK_CHUNK) -> int:
        """Send the actions (`count` of them, about) in requests of BULK_CHUNK, up to
        BULK_THREADS of them in flight; returns how many were stored."""
        from elasticsearch import helpers

        refresh = "wait_for" if self.refresh_writes else False
        ok, refused = 0, []
        with self._errors():
            if count <= BULK_CHUNK:  # one request: no threads to start
                ok, errors = helpers.bulk(
                    self.es, actions, chunk_size=BULK_CHUNK, raise_on_error=False, refresh=refresh
                )
                refused = cast(list, errors)  # the refused actions, as stats_only is off
            else:
                for done, item in helpers.parallel_bulk(
                    self.es, actions, thread_count=BULK_THREADS, chunk_size=BULK_CHUNK,
                    queue_size=BULK_THREADS, raise_on_error=False, refresh=refresh,
                ):  # fmt: skip
                    ok += done
                    if not done:
                        refused.append(item)
        if refused:
            raise IndexError_(f"{len(refused)} pages were refused, first: {refused[0]}")
        return ok

    def _extra_pages(self, docs: dict[str, list[PageDoc]], index: str | None) -> list[str]:
        """Ids of pages the documents have stored but not among `docs` (at most 10,000)."""
        keep = [f"{d}:{p.page}" for d, pages in docs.items() for p in pages]
        query = {
            "bool": {
                "filter": [{"terms": {"doc_id": list(docs)}}],
                "must_not": [{"ids": {"values": keep}}],
            }
        }
        res = self.es.search(
            index=index or self.alias,
            query=query,
            size=10_000,
            source=False,
            sort=["_doc"],  # no scores, no ranking: the cheapest order
            track_total_hits=False,
        )
        return [h["_id"] for h in res["hits"]["hits"]]

    def _drop_extra_pages(
        self, docs: dict[str, list[PageDoc]], index: str | None, stale: list[str]
    ) -> None:
        """Delete the pages the documents had before but not now (a re-read found fewer
        pages): `stale`, the first answer of `_extra_pages`, and any more there are."""
        while True:
            self._delete_ids(stale, index)
            if len(stale) < 10_000:
                return
            self.refresh_index(index)
            with self._errors():
                stale = self._extra_pages(docs, index)

    def refresh_index(self, index: str | None) -> None:
        with self._errors():
            self.es.indices.refresh(index=index or self.alias)

    # reading -------------------------------------------------------------------------------
    def search(self, query: SearchQuery, principal: Principal) -> SearchResult:
        parsed = parse_query(query.text)
        sort_by = query.sort if parsed.include else "date"
        bound = search_key(query, principal, f"{sort_by}/{query.group}/{query.marks}")
        body: dict = {
            "query": build_query(query, parsed, principal),
            "_source": {"excludes": []},
            "sort": _SORTS[sort_by],
        }
        if query.facets:
            body["aggs"] = {k: _facet_agg(k, query.group) for k in query.facets}
        after = self.cursors.open(query.after, bound) if query.after is not None else None
        if query.group == "document":
            hits, total, facets, last = self._documents(body, query, parsed, after)
        else:
            hits, total, facets, last = self._pages(body, query, parsed, after)
        cursor = self.cursors.seal(bound, *last) if last else None
        loose = self._loose(query, parsed, principal) if needs_loose(query, parsed) else 0
        return SearchResult(tuple(hits), total, facets, cursor, loose)

    def _pages(self, body: dict, query: SearchQuery, parsed: ParsedQuery, after):
        """Page hits: keyset paging by the cursor page's sort values (`search_after`)."""
        body.update(track_total_hits=True)
        body["size"] = query.limit if after is None else query.limit + 1
        if after is not None:
            body["search_after"] = self._sort_values(body, after)
        else:
            body["from"] = query.offset
        with self._errors():
            res = self.es.search(index=self.alias, **body)
        raw = res["hits"]["hits"]
        hits = [self._hit(h, parsed, query.highlight) for h in raw[: query.limit]]
        total = res["hits"]["total"]["value"]
        # after a cursor one more hit was asked for; else the (exact) total tells
        more = query.offset + len(hits) < total if after is None else len(raw) > query.limit
        last = (hits[-1].doc_id, hits[-1].page) if more and hits else None
        return hits, total, self._facets(res, query), last

    def _documents(self, body: dict, query: SearchQuery, parsed: ParsedQuery, after):
        """Document hits: the pages collapsed on doc_id (the best page first, as the sort
        orders them), the matching page numbers from inner_hits, documents counted by a
        cardinality of doc_id. Collapse pages by offset only, so a cursor holds the
        document and its position, and the next page checks the document is still there."""
        start = query.offset if after is None else after[1] - 1
        size = query.limit + 1 + (after is not None)  # the cursor's document, and one more
        if start + size > MAX_WINDOW:
            raise UsageError(
                f"document hits page only within the first {MAX_WINDOW}: narrow the search,"
                " or page through pages (group page, `kho search --pages`)"
            )
        inner = {"name": "pages", "size": HIT_PAGES, "sort": [{"page": "asc"}]}
        inner.update(_source=False, fields=["page"])
        body.update(track_total_hits=False, size=size, **{"from": start})
        body["collapse"] = {"field": "doc_id", "inner_hits": inner}
        body.setdefault("aggs", {})["_documents"] = _DOC_COUNT
        with self._errors():
            res = self.es.search(index=self.alias, **body)
        raw = res["hits"]["hits"]
        if after is not None:
            if not raw or raw[0]["_source"]["doc_id"] != after[0]:
                raise CursorError(
                    "the results changed since this cursor was made; repeat the search"
                )
            raw = raw[1:]
        hits = [self._hit(h, parsed, query.highlight) for h in raw[: query.limit]]
        last = None
        if len(raw) > query.limit and hits:  # the position of the last document shown
            last = (hits[-1].doc_id, start + (after is not None) + len(hits))
        total = int(res["aggregations"]["_documents"]["value"])
        return hits, total, self._facets(res, query), last

    @staticmethod
    def _facets(res: dict, query: SearchQuery) -> dict:
        return {k: _facet_counts(k, res["aggregations"][k]["buckets"]) for k in query.facets}

    def _loose(self, query: SearchQuery, parsed: ParsedQuery, principal: Principal) -> int:
        """Visible, filtered documents that match only when marks are ignored: those of the
        looser query less those of the query (a subset of them)."""
        body = {
            "query": build_query(query, parsed, principal, "ignore"),
            "size": 0,
            "aggs": {
                "all": _DOC_COUNT,
                "exact": {
                    "filter": build_query(query, parsed, principal),
                    "aggs": {"docs": _DOC_COUNT},
                },
            },
        }
        with self._errors():
            aggs = self.es.search(index=self.alias, **body)["aggregations"]
        return max(0, int(aggs["all"]["value"]) - int(aggs["exact"]["docs"]["value"]))

    def _sort_values(self, body: dict, after: tuple[str, int]) -> list:
        """The sort values of the cursor's page, asked of the same visible, filtered query
        (one more filter does not change a score), so they never travel in the cursor."""
        doc_id, page = after
        bool_query = dict(body["query"]["bool"])
        bool_query["filter"] = [*bool_query["filter"], {"ids": {"values": [f"{doc_id}:{page}"]}}]
        with self._errors():
            res = self.es.search(
                index=self.alias,
                query={"bool": bool_query},
                sort=body["sort"],
                size=1,
                source=False,
            )
        hits = res["hits"]["hits"]
        if not hits:
            raise CursorError("the results changed since this cursor was made; repeat the search")
        return hits[0]["sort"]

    @staticmethod
    def _hit(h: dict, parsed: ParsedQuery, highlight: bool) -> SearchHit:
        """A page hit, or a collapsed document hit (its matching pages in inner_hits)."""
        s = h["_source"]
        pages, count = (s["page"],), 1
        if "inner_hits" in h:
            inner = h["inner_hits"]["pages"]["hits"]
            pages = tuple(p["fields"]["page"][0] for p in inner["hits"])
            count = inner["total"]["value"]
        return SearchHit(
            pages=pages,
            page_count=count,
            doc_id=s["doc_id"],
            page=s["page"],
            category=s["category"],
            snippet=make_snippet(s["text"], parsed, highlight),
            filename=s["filename"],
            title=s["title"],
            unit=s["unit"],
            level=s["level"],
            doc_type=s["doc_type"],
            issuer=s["issuer"],
            doc_date=s["doc_date"] or "",
            fonds=s.get("fonds", ""),
            dossier=s.get("dossier", ""),
            origin_node=s.get("origin_node", ""),
            origin_unit=s.get("origin_unit", ""),
        )

    def get_page(self, doc_id: str, page: int, principal: Principal) -> PageDoc | None:
        query = {
            "bool": {"filter": [{"ids": {"values": [f"{doc_id}:{page}"]}}, acl_filter(principal)]}
        }
        with self._errors():
            res = self.es.search(index=self.alias, query=query, size=1)
        hits = res["hits"]["hits"]
        return _page(hits[0]["_source"]) if hits else None

    def document_access(self, doc_id: str) -> Access | None:
        with self._errors():
            res = self.es.search(
                index=self.alias,
                query={"term": {"doc_id": doc_id}},
                size=1,
                source=["level", "unit", "groups"],
            )
        hits = res["hits"]["hits"]
        if not hits:
            return None
        s = hits[0]["_source"]
        return Access(level=s["level"], unit=s["unit"], groups=tuple(s["groups"]))

    def count(self, principal: Principal) -> int:
        with self._errors():
            return int(self.es.count(index=self.alias, query=acl_filter(principal))["count"])

    def suggest(self, prefix: str, principal: Principal, limit: int = 10) -> list[str]:
        """Visible titles starting with the prefix, then completions of its last word."""
        words = tokens(prefix[:MAX_QUERY_CHARS])
        parsed = parse_query(" ".join(words) + "*")
        if not parsed.include or limit <= 0:
            return []
        acl = acl_filter(principal)
        last = parsed.include[-1]
        title_query = _term_query(Term(last.exact, last.folded, prefix=True), "title")
        with self._errors():
            res = self.es.search(
                index=self.alias,
                size=0,
                query={"bool": {"must": [title_query], "filter": [acl]}},
                aggs={"titles": {"terms": {"field": "title.raw", "size": limit}}},
            )
        found = [b["key"] for b in res["aggregations"]["titles"]["buckets"] if b["key"]]
        if not prefix[-1:].isspace():
            query = {"bool": {"must": [_term_query(t) for t in parsed.include], "filter": [acl]}}
            with self._errors():
                res = self.es.search(
                    index=self.alias, query=query, size=SUGGEST_PAGES, source=["text"]
                )
            found += complete_words(words, (h["_source"]["text"] for h in res["hits"]["hits"]))
        return list(dict.fromkeys(found))[:limit]
