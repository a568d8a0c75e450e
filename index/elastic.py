"""The Elasticsearch index: page and document records behind an alias, access control in
every query.

What is stored is in `elastic_records` (a page record per page, a document record per
document with its pages nested), the queries in `elastic_query`. Page hits, page totals
and page facets read page records; document hits, document totals and document facets
read document records (no collapse, no cardinality estimate: plain counts, paged by
`search_after` past any depth), and the hits' best pages, snippets and matching page
numbers come from one follow-up query on the page records of the hit documents only.

The alias (`kho-pages`) points at a versioned index (`kho-pages-vN`); `build_version` and
`swap_alias` let `kho reindex` rebuild without downtime. An index made by an older kho gets
the fields it lacks added to its mapping when opened; one made before document records
serves page hits at once and asks for `kho reindex` before document hits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

from kho.core.secrets import redact_url
from kho.core.settings import ElasticOptions

from ..core.errors import ConfigError, IndexError_, ServiceError
from ..core.types import Access, PageDoc, Principal
from .base import (
    HIT_PAGES,
    MAX_QUERY_CHARS,
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
)
from .cursor import CursorError, Cursors, search_key
from .elastic_query import (
    PAGES_ONLY,
    SORTS,
    acl_filter,
    build_query,
    facet_agg,
    facet_counts,
    term_query,
)
from .elastic_records import MAPPINGS, RECORDS, SETTINGS, _source, document_source, page_doc
from .text import tokens

__all__ = ["BULK_CHUNK", "MAPPINGS", "SETTINGS", "ElasticIndex", "_source", "connect"]

BULK_CHUNK = 500  # pages per bulk request (smaller ones cost a busy node more per page)
BULK_THREADS = 2  # requests in flight when a call has more: the shard takes them side by side
SUGGEST_PAGES = 200  # best visible pages scanned for word completions
_STALE_CURSOR = "the results changed since this cursor was made; repeat the search"


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
        self.refresh_writes = refresh  # each write searchable when it returns (tests)
        self.url = redact_url(url)  # what messages show
        self.es = connect(url, options, timeout=timeout)
        self.documents_missing = False  # an index older than document records
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
        dossier, origin_node, origin_unit, the document records'): adding a field rewrites
        nothing, so what was stored before stays searchable with no reindex; a page stored
        before has none, read as empty. One made before document records (no
        `_meta.kho_records`) holds none: `kho reindex` writes them."""
        mappings = dict(self.es.indices.get_mapping(index=self.alias))
        for index, mapping in mappings.items():
            have = mapping["mappings"].get("properties", {})
            fields: dict = MAPPINGS["properties"]  # type: ignore[assignment]
            missing = {k: v for k, v in fields.items() if k not in have}
            if missing:
                self.es.indices.put_mapping(index=index, properties=missing)
        self._records_complete(mappings)

    def _records_complete(self, mappings: dict | None = None) -> bool:
        """Whether the alias's index holds document records (a reindex by another process
        may have put such a version behind the alias since this one looked)."""
        if mappings is None:
            with self._errors():
                mappings = dict(self.es.indices.get_mapping(index=self.alias))
        complete = all(
            m["mappings"].get("_meta", {}).get("kho_records") == RECORDS for m in mappings.values()
        )
        self.documents_missing = not complete
        return complete

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
        """Each document's page records, then its document record (of the same sources:
        the text is folded once)."""
        target = index or self.alias
        for doc_id, doc_pages in group_pages(pages).items():
            sources = [_source(p) for p in doc_pages]
            for p, src in zip(doc_pages, sources, strict=True):
                yield {"_op_type": "index", "_index": target, "_id": f"{doc_id}:{p.page}",
                       "_source": src}  # fmt: skip
            yield {"_op_type": "index", "_index": target, "_id": doc_id,
                   "_source": document_source(doc_pages, sources)}  # fmt: skip

    def index_pages(
        self, pages: Sequence[PageDoc], index: str | None = None, *, fresh: bool = False
    ) -> int:
        """Store pages (and their documents' records); each document named is replaced by
        the pages given for it. Returns the pages stored.

        `fresh`: `index` is a version being built that holds none of these documents'
        earlier pages (`kho reindex`'s target), so no stale pages are looked for. Else the
        look-up follows the bulk write: run beside it, it could reach a just-made index
        before its shard is up (503), which the write itself waits for.
        """
        docs = group_pages(pages)
        written = self._bulk(self.bulk_actions(pages, index), index, len(pages) + len(docs))
        if not fresh:
            with self._errors():
                first = self._extra_pages(docs, index)
            self._drop_extra_pages(docs, index, first)
        return written - len(docs)

    def replace_document(self, doc_id: str, pages: Sequence[PageDoc]) -> int:
        if not pages:
            self.delete_document(doc_id)
            return 0
        if any(p.doc_id != doc_id for p in pages):
            raise IndexError_(f"replace_document({doc_id[:12]}) was given another document's page")
        return self.index_pages(pages)

    def delete_document(self, doc_id: str) -> int:
        """Delete the document's page records and its document record; returns the pages."""
        ids = self._record_ids(doc_id)
        self._delete_ids(ids)
        return sum(i != doc_id for i in ids)

    def _record_ids(self, doc_id: str, index: str | None = None) -> list[str]:
        """Ids of every stored record of the document (a document has at most max_pages)."""
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

        # refreshed at once, not waiting for the next scheduled refresh (up to 1 s a write)
        refresh = self.refresh_writes
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
        """Ids of pages the documents have stored but not among `docs` (at most 10,000);
        their document records were just written."""
        keep = [*docs, *(f"{d}:{p.page}" for d, pages in docs.items() for p in pages)]
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
        """Hits of page or document records, the same way: the records' query, filters and
        sort, `from` or `search_after` the cursor's record, an exact total, facets as plain
        counts of the records searched."""
        parsed = parse_query(query.text)
        sort_by = query.sort if parsed.include else "date"
        documents = query.group == "document"
        if documents and self.documents_missing and not self._records_complete():
            raise IndexError_(
                f"the index {self.alias} was made by an older kho and holds no document"
                " records: run `kho reindex` (page hits, `kho search --pages`, work meanwhile)"
            )
        bound = search_key(query, principal, f"{sort_by}/{query.group}/{query.marks}")
        body: dict = {
            "query": build_query(query, parsed, principal, records=query.group),
            "sort": SORTS[sort_by],
            "track_total_hits": True,
        }
        body["_source"] = ["doc_id"] if documents else {"excludes": []}
        if query.facets:
            body["aggs"] = {k: facet_agg(k) for k in query.facets}
        after = self.cursors.open(query.after, bound) if query.after is not None else None
        body["size"] = query.limit if after is None else query.limit + 1
        if after is not None:
            body["search_after"] = self._sort_values(body, after, documents)
        else:
            body["from"] = query.offset
        with self._errors():
            res = self.es.search(index=self.alias, **body)
        raw = res["hits"]["hits"][: query.limit]
        if documents:
            hits = self._document_hits(
                [h["_source"]["doc_id"] for h in raw], query, parsed, principal
            )
        else:
            hits = [self._hit(h["_source"], parsed, query.highlight) for h in raw]
        total = res["hits"]["total"]["value"]
        # after a cursor one more hit was asked for; else the (exact) total tells
        more = (
            query.offset + len(raw) < total
            if after is None
            else len(res["hits"]["hits"]) > query.limit
        )
        last = (hits[-1].doc_id, 0 if documents else hits[-1].page) if more and hits else None
        cursor = self.cursors.seal(bound, *last) if last else None
        facets = {k: facet_counts(k, res["aggregations"][k]["buckets"]) for k in query.facets}
        loose = self._loose(query, parsed, principal) if needs_loose(query, parsed) else 0
        return SearchResult(tuple(hits), total, facets, cursor, loose)

    def _document_hits(
        self, doc_ids: list[str], query: SearchQuery, parsed: ParsedQuery, principal: Principal
    ) -> list[SearchHit]:
        """The hits of these documents, in this order: each document's best page (first in
        the page view's order), its snippet, its matching pages and their count, from one
        pass over the matching page records of these documents only (a bucket per
        document: no query per hit, as a collapse's inner hits would run)."""
        if not doc_ids:
            return []
        sort_by = query.sort if parsed.include else "date"
        pages_query = build_query(query, parsed, principal)
        pages_query["bool"]["filter"].append({"terms": {"doc_id": doc_ids}})
        best = {"size": 1, "sort": SORTS[sort_by], "_source": {"excludes": []}}
        pages = {"size": HIT_PAGES, "sort": [{"page": "asc"}], "_source": False}
        per_doc = {
            "best": {"top_hits": best},
            "pages": {"top_hits": {**pages, "docvalue_fields": ["page"]}},
        }
        aggs = {"docs": {"terms": {"field": "doc_id", "size": len(doc_ids)}, "aggs": per_doc}}
        with self._errors():
            res = self.es.search(
                index=self.alias, query=pages_query, size=0, aggs=aggs, track_total_hits=False
            )
        hits = {}
        for bucket in res["aggregations"]["docs"]["buckets"]:
            numbers = [h["fields"]["page"][0] for h in bucket["pages"]["hits"]["hits"]]
            source = bucket["best"]["hits"]["hits"][0]["_source"]
            hits[bucket["key"]] = self._hit(
                source, parsed, query.highlight, tuple(numbers), bucket["doc_count"]
            )
        # a document replaced between the two requests may have no matching page left
        return [hits[d] for d in doc_ids if d in hits]

    def _loose(self, query: SearchQuery, parsed: ParsedQuery, principal: Principal) -> int:
        """Visible, filtered documents that match only when marks are ignored: document
        records of the looser query and not of the query."""
        loose = build_query(query, parsed, principal, "ignore", records="document")
        exact = build_query(query, parsed, principal, records="document")
        with self._errors():
            res = self.es.count(
                index=self.alias, query={"bool": {"filter": [loose], "must_not": [exact]}}
            )
        return int(res["count"])

    def _sort_values(self, body: dict, after: tuple[str, int], documents: bool) -> list:
        """The sort values of the cursor's record (a document's, or a page's), asked of the
        same visible, filtered query (one more filter does not change a score), so they
        never travel in the cursor."""
        doc_id, page = after
        if documents != (page == 0):
            raise CursorError(_STALE_CURSOR)
        record = doc_id if documents else f"{doc_id}:{page}"
        bool_query = dict(body["query"]["bool"])
        bool_query["filter"] = [*bool_query["filter"], {"ids": {"values": [record]}}]
        with self._errors():
            res = self.es.search(
                index=self.alias, query={"bool": bool_query}, sort=body["sort"], size=1,
                source=False,
            )  # fmt: skip
        hits = res["hits"]["hits"]
        if not hits:
            raise CursorError(_STALE_CURSOR)
        return hits[0]["sort"]

    @staticmethod
    def _hit(
        s: dict, parsed: ParsedQuery, highlight: bool, pages: tuple[int, ...] = (), count: int = 1
    ) -> SearchHit:
        """A hit of the page record `s`: a page hit, or a document's best page with the
        document's matching `pages` (the first HIT_PAGES) and their `count`."""
        return SearchHit(
            pages=pages or (s["page"],),
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
        return page_doc(hits[0]["_source"]) if hits else None

    def document_access(self, doc_id: str) -> Access | None:
        with self._errors():
            res = self.es.search(
                index=self.alias,
                query={"bool": {"filter": [{"term": {"doc_id": doc_id}}, PAGES_ONLY]}},
                size=1,
                source=["level", "unit", "groups"],
            )
        hits = res["hits"]["hits"]
        if not hits:
            return None
        s = hits[0]["_source"]
        return Access(level=s["level"], unit=s["unit"], groups=tuple(s["groups"]))

    def count(self, principal: Principal) -> int:
        """Visible pages."""
        query = {"bool": {"filter": [acl_filter(principal), PAGES_ONLY]}}
        with self._errors():
            return int(self.es.count(index=self.alias, query=query)["count"])

    def suggest(self, prefix: str, principal: Principal, limit: int = 10) -> list[str]:
        """Visible titles starting with the prefix, then completions of its last word."""
        words = tokens(prefix[:MAX_QUERY_CHARS])
        parsed = parse_query(" ".join(words) + "*")
        if not parsed.include or limit <= 0:
            return []
        visible = [acl_filter(principal), PAGES_ONLY]
        last = parsed.include[-1]
        title_query = term_query(Term(last.exact, last.folded, prefix=True), "title")
        with self._errors():
            res = self.es.search(
                index=self.alias,
                size=0,
                query={"bool": {"must": [title_query], "filter": visible}},
                aggs={"titles": {"terms": {"field": "title.raw", "size": limit}}},
            )
        found = [b["key"] for b in res["aggregations"]["titles"]["buckets"] if b["key"]]
        if not prefix[-1:].isspace():
            query = {"bool": {"must": [term_query(t) for t in parsed.include], "filter": visible}}
            with self._errors():
                res = self.es.search(
                    index=self.alias, query=query, size=SUGGEST_PAGES, source=["text"]
                )
            found += complete_words(words, (h["_source"]["text"] for h in res["hits"]["hits"]))
        return list(dict.fromkeys(found))[:limit]
