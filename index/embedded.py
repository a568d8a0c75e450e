"""The embedded search index: one SQLite file with FTS5, no server.

Pages live in a plain table; an external-content FTS5 table indexes each page twice, as
`exact` (the NFC text, diacritics kept) and `folded` (diacritics removed), and bm25 weighs
exact matches far above folded ones so 'mà' ranks pages with 'mà' above pages with 'ma'
(the SQL is in `index/fts.py`). Access control is an SQL condition (`acl_sql`) inside
every query. WAL mode and a busy timeout let several processes write one after another.
A file made by an older kho is upgraded in place when opened (`_UPGRADES`), keeping its
pages.

A search's work is bounded by its window: by relevance, the newest WINDOW_PAGES visible
matching pages are ranked and counted exactly. A search that matches more lists them
first and the rest after them (ranked among themselves, when paged to), and its total,
facets and `loose` are estimated from the window and a sample of the rest
(`SearchResult.estimated`); sorted by date, or with no words, every match is counted.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..core import sqlite
from ..core.errors import IndexError_, ServiceError
from ..core.types import Access, PageDoc, Principal, normalize_unit
from .base import (
    FACET_SIZE,
    HIT_PAGES,
    MAX_QUERY_CHARS,
    UNIT_KEYS,
    ParsedQuery,
    SearchHit,
    SearchQuery,
    SearchResult,
    complete_words,
    group_pages,
    make_snippet,
    needs_loose,
    parse_query,
    unit_rollup,
)
from .cursor import CursorError, Cursors, search_key
from .fts import (
    _COLUMNS,
    _DERIVED,
    _DOCS,
    _DOCS_SQL,
    _HIT_COLUMNS,
    _MATCHED,
    _ORDERS,
    _PLACEHOLDERS,
    _SCHEMA,
    _UPGRADES,
    _VISIBLE,
    BUSY_TIMEOUT_S,
    EXACT_WEIGHT,
    FOLDED_WEIGHT,
    SAMPLE_BUCKETS,
    SAMPLE_MATCH,
    SCHEMA_VERSION,
    SUGGEST_PAGES,
    Counts,
    Search,
    _like,
    acl_sql,
    acl_tokens,
    match_expression,
)
from .text import TOKEN_RE, fold, normalize

__all__ = ["SCHEMA_VERSION", "EmbeddedIndex", "_SCHEMA", "_UPGRADES", "acl_sql", "_row"]
WINDOW_PAGES = 5_000  # visible matching pages one search ranks and counts exactly


class EmbeddedIndex:
    """SearchIndex on a SQLite FTS5 file."""

    def __init__(self, path: Path, cursors: Cursors | None = None, window: int = WINDOW_PAGES):
        self.path = Path(path)
        self.window = max(1, window)
        self.cursors = cursors or Cursors.at(self.path.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.create_function("kho_acl", 3, acl_tokens, deterministic=True)  # upgrades
        with self._errors():
            sqlite.prepare(self._db, BUSY_TIMEOUT_S)
        with self._errors():  # per connection: scratch space for one search
            self._db.execute(f"CREATE TEMP TABLE visible ({', '.join(_VISIBLE)})")
            self._db.execute("CREATE INDEX temp.visible_doc ON visible (doc_id, page)")
            self._db.execute(f"CREATE TEMP TABLE docs ({', '.join(_DOCS)})")
        with self._transaction():
            self._prepare_schema()

    def _prepare_schema(self) -> None:
        """Create the schema in a new file or bring an older one up to SCHEMA_VERSION."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise IndexError_(
                f"index {self.path} has schema {version}, kho needs {SCHEMA_VERSION}:"
                " delete the file and run `kho reindex`"
            )
        if version == 0:
            for statement in _SCHEMA:
                self._db.execute(statement)
            version = 1
        for step in range(version, SCHEMA_VERSION):
            for statement in _UPGRADES[step]:
                self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def __enter__(self) -> EmbeddedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> None:
        """Committed writes are already searchable; nothing to wait for."""

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite trouble as kho errors: a lock held too long is retryable, the rest not."""
        try:
            yield
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise ServiceError(f"index {self.path} stayed locked: {err}; retry") from err
            raise IndexError_(f"index {self.path}: {err}") from err
        except sqlite3.DatabaseError as err:
            raise IndexError_(f"index {self.path} is damaged ({err}): rebuild it") from err

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction; IMMEDIATE takes the write lock up front (no deadlock)."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction, so totals, facets and hits see the same pages."""
        with self._errors():
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row]:
        with self._errors():
            return self._db.execute(sql, params).fetchall()

    # -- writing ---------------------------------------------------------------------

    def index_pages(self, pages: Sequence[PageDoc]) -> int:
        docs = group_pages(pages)
        with self._transaction():
            for doc_id, doc_pages in docs.items():
                self._replace(doc_id, doc_pages)
        return sum(len(p) for p in docs.values())

    def replace_document(self, doc_id: str, pages: Sequence[PageDoc]) -> int:
        docs = group_pages(pages)
        if set(docs) - {doc_id}:
            raise IndexError_(f"replace_document({doc_id!r}) was given pages of other documents")
        with self._transaction():
            self._replace(doc_id, docs.get(doc_id, []))
        return len(pages)

    def delete_document(self, doc_id: str) -> int:
        with self._transaction():
            return self._db.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,)).rowcount

    def _replace(self, doc_id: str, pages: Sequence[PageDoc]) -> None:
        self._db.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
        self._db.executemany(
            f"INSERT INTO pages ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
            [_row(p) for p in pages],
        )

    # -- reading ---------------------------------------------------------------------

    def search(self, query: SearchQuery, principal: Principal) -> SearchResult:
        parsed = parse_query(query.text)
        sort = query.sort if parsed.include else "date"
        bound = search_key(query, principal, f"{sort}/{query.group}/{query.marks}")
        after = self.cursors.open(query.after, bound) if query.after is not None else None
        with self._snapshot():
            try:
                hits, more, counts = self._search(Search(query, principal, parsed, sort), after)
            finally:
                self._clear()
        cursor = self.cursors.seal(bound, hits[-1].doc_id, hits[-1].page) if more and hits else None
        return SearchResult(
            hits, counts.total, counts.facets, cursor, counts.loose, counts.estimated
        )

    def _search(self, s: Search, after: tuple[str, int] | None) -> tuple[tuple, bool, Counts]:
        """Hits, whether more follow, and the counts. By relevance, the newest `window`
        visible matching pages are ranked first (all of them when there are no more); a
        larger match set goes on, after them, with the rest ranked, and is counted from
        the window and a sample of the rest (`Counts.estimated`)."""
        limit = self.window + 1 if s.parsed.include and s.sort == "relevance" else None
        if self._fill(s, "1", [], limit) <= self.window or limit is None:
            counts = self._counts(s)
            hits, more = self._hits(s, after, s.query.offset, s.query.limit)
            return hits, more, counts
        cut = self._cut(s)
        if not cut:  # one document fills the window: count it all
            self._clear()
            self._fill(s, "1", [])
            return (*self._hits(s, after, s.query.offset, s.query.limit), self._counts(s))
        counts = self._estimate(s, cut)
        window = self._count(s)
        if after is not None and not self._found(s, after):
            self._fill_rest(s, cut)
            hits, more = self._hits(s, after, 0, s.query.limit)
            return hits, more, counts
        hits, more = self._hits(s, after, s.query.offset, s.query.limit)
        if more:
            return hits, more, counts
        need, offset = s.query.limit - len(hits), max(0, s.query.offset - window)
        if after is not None:
            offset = 0
        if need == 0:  # the window ends here: more if the rest has a visible match
            return hits, self._fill_rest(s, cut, 1) > 0, counts
        self._fill_rest(s, cut)
        rest, more = self._hits(s, None, offset, need)
        return hits + rest, more, counts

    def _clear(self) -> None:
        for table in ("visible", "docs"):
            self._db.execute(f"DELETE FROM temp.{table}")

    def _fill(self, s: Search, span: str, span_params: list, limit: int | None = None) -> int:
        """Fill temp.visible (and temp.docs) with the visible, filtered matching pages
        in `span` (a condition on the FTS5 rowid `f.rowid`), the newest first and at most
        `limit`, each with its bm25 rank and the columns the search reads (sort keys and
        its facets: the others stay NULL); how many.

        Totals, facets and hits are all drawn from it, so none can count a hidden page;
        bm25 is computed for the visible pages only, and the join reads `pages_meta`,
        never the page's text."""
        fields = ", ".join(_DERIVED.get(c, "p." + c) for c in s.columns)
        where, params = s.where
        if s.parsed.include:
            rank = f"bm25(pages_fts, {EXACT_WEIGHT}, {FOLDED_WEIGHT}, 0)"
            source = f"{_MATCHED} AND {span}"
            params = [s.match, *span_params, *params]
            order = " ORDER BY f.rowid DESC" + (f" LIMIT {int(limit)}" if limit else "")
        else:
            rank, source, order = "0.0", "FROM pages p INDEXED BY pages_meta WHERE 1", ""
        self._db.execute(
            f"INSERT INTO temp.visible (id, rank, {', '.join(s.columns)})"
            f" SELECT p.id, {rank}, {fields} {source} AND {where}{order}",
            params,
        )
        if s.query.group == "document":
            self._db.execute(_DOCS_SQL)
        return self._rows("SELECT COUNT(*) FROM temp.visible", [])[0][0]

    def _fill_rest(self, s: Search, cut: int, limit: int | None = None) -> int:
        """The matches older than the window, in place of it."""
        self._clear()
        return self._fill(s, "f.rowid < ?", [cut], limit)

    def _cut(self, s: Search) -> int:
        """Trim the window to whole documents (a document's pages have neighbouring
        rowids: they are written together); the lowest rowid it keeps."""
        oldest = "SELECT doc_id FROM temp.visible ORDER BY id LIMIT 1"
        for table in ("docs", "visible"):
            self._db.execute(f"DELETE FROM temp.{table} WHERE doc_id = ({oldest})")
        return self._rows("SELECT MIN(id) FROM temp.visible", [])[0][0] or 0

    def _count(self, s: Search) -> int:
        return self._rows(f"SELECT COUNT(*) FROM {s.table}", [])[0][0]

    def _counts(self, s: Search) -> Counts:
        """Exact total, facets and loose, from temp.visible holding every visible match."""
        total = self._count(s)
        facets = {key: self._facet(key, s.query.group) if total else [] for key in s.query.facets}
        loose = self._loose(s, "1", []) if needs_loose(s.query, s.parsed) else 0
        return Counts(total, facets, loose, False)

    def _estimate(self, s: Search, cut: int) -> Counts:
        """Counts of a match set larger than the window: the window's, and SAMPLE_BUCKETS
        times those of the rest's sampled documents (one bucket of doc_id hashes); facets
        and loose are the window's, scaled alike. Only visible pages count anywhere, and
        which are sampled depends on their own doc_id alone."""
        where, params = s.where
        count = "COUNT(DISTINCT p.doc_id)" if s.query.group == "document" else "COUNT(*)"
        sampled = self._rows(
            f"SELECT {count} {_MATCHED} AND f.rowid < ? AND {where}",
            [f"{s.match} AND {SAMPLE_MATCH}", cut, *params],
        )[0][0]
        window = self._count(s)
        total = window + sampled * SAMPLE_BUCKETS
        scale = total / window
        facets = {
            key: [(v, round(n * scale)) for v, n in self._facet(key, s.query.group)]
            for key in s.query.facets
        }
        loose = self._loose(s, "f.rowid >= ?", [cut]) if needs_loose(s.query, s.parsed) else 0
        return Counts(total, facets, round(loose * scale), True)

    def _found(self, s: Search, after: tuple[str, int]) -> bool:
        return bool(self._rows(f"SELECT 1 FROM {s.table} WHERE doc_id = ? AND page = ?", after))

    def _hits(
        self, s: Search, after: tuple[str, int] | None, offset: int, limit: int
    ) -> tuple[tuple[SearchHit, ...], bool]:
        """A page of hits from temp.visible (pages) or temp.docs (their documents, each as
        its best page), after the cursor's hit or from `offset`; and whether more follow."""
        query, table = s.query, s.table
        order, later = _ORDERS[s.sort]
        where, params = "1", []
        if after is not None:  # keyset paging from the cursor's hit, looked up among visible
            found = self._rows(
                f"SELECT rank, doc_date FROM {table} WHERE doc_id = ? AND page = ?", after
            )
            if not found:
                raise CursorError(
                    "the results changed since this cursor was made; repeat the search"
                )
            where = later
            rank, doc_date = found[0]
            params = [rank, *after] if s.sort == "relevance" else [doc_date, doc_date, *after]
        rows = self._rows(
            f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, limit + 1, offset],
        )
        more, rows = len(rows) > limit, rows[:limit]
        ids = [r["id"] for r in rows]
        marks = ", ".join("?" * len(ids))
        by_id = {
            r["id"]: r
            for r in self._rows(f"SELECT {_HIT_COLUMNS} FROM pages p WHERE p.id IN ({marks})", ids)
        }
        matching: dict[str, list[int]] = {}
        if query.group == "document":
            docs = [by_id[i]["doc_id"] for i in ids]
            for doc_id, page in self._rows(
                "SELECT doc_id, page FROM temp.visible WHERE doc_id IN"
                f" ({', '.join('?' * len(docs))}) ORDER BY doc_id, page",
                docs,
            ):
                matching.setdefault(doc_id, []).append(page)
        hits = tuple(
            _hit(by_id[i], s.parsed, query.highlight, matching.get(by_id[i]["doc_id"])) for i in ids
        )
        return hits, more

    def _loose(self, s: Search, span: str, span_params: list) -> int:
        """Visible, filtered documents in `span` that match only when marks are ignored."""
        where, params = s.where
        return self._rows(
            f"SELECT COUNT(DISTINCT p.doc_id) {_MATCHED} AND {span} AND {where}"
            " AND p.doc_id NOT IN (SELECT doc_id FROM temp.visible)",
            [s.matching("folded"), *span_params, *params],
        )[0][0]

    def _facet(self, key: str, group: str) -> list[tuple[str, int]]:
        """Value counts (documents or pages) over the visible match set, most first; a
        unit counts its sub-units too (`unit_rollup`), as its filter does."""
        count = "COUNT(DISTINCT doc_id)" if group == "document" else "COUNT(*)"
        limit = "" if key in UNIT_KEYS else f" LIMIT {FACET_SIZE}"  # rolled up first
        rows = self._rows(
            f"SELECT {key}, {count} AS n FROM temp.visible WHERE {key} != ''"
            f" GROUP BY {key} ORDER BY n DESC, {key}{limit}",
            [],
        )
        counts = [(str(value), n) for value, n in rows]
        return unit_rollup(counts) if key in UNIT_KEYS else counts

    def get_page(self, doc_id: str, page: int, principal: Principal) -> PageDoc | None:
        acl, params = acl_sql(principal)
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM pages p WHERE p.doc_id = ? AND p.page = ? AND {acl}",
            [doc_id, page, *params],
        )
        return _page(rows[0]) if rows else None

    def document_access(self, doc_id: str) -> Access | None:
        rows = self._rows(
            "SELECT level, unit, groups FROM pages WHERE doc_id = ? LIMIT 1", [doc_id]
        )
        return _access(*rows[0]) if rows else None

    def count(self, principal: Principal) -> int:
        acl, params = acl_sql(principal)
        return self._rows(f"SELECT COUNT(*) FROM pages p WHERE {acl}", params)[0][0]

    def suggest(self, prefix: str, principal: Principal, limit: int = 10) -> list[str]:
        text = normalize(prefix[:MAX_QUERY_CHARS])
        words = TOKEN_RE.findall(text)
        if not words or limit <= 0:
            return []
        acl, acl_params = acl_sql(principal)
        start = _like(fold(text))
        titles = self._rows(
            f"SELECT p.title, COUNT(*) AS n FROM pages p WHERE {acl} AND p.title != ''"
            " AND (p.title_folded LIKE ? ESCAPE '\\' OR p.title_folded LIKE ? ESCAPE '\\')"
            " GROUP BY p.title ORDER BY n DESC, p.title LIMIT ?",
            [*acl_params, start + "%", "% " + start + "%", limit],
        )
        found = [t for t, _ in titles]
        if not prefix[-1:].isspace():
            found += self._complete(words, acl, acl_params)
        unique = list(dict.fromkeys(found))
        return unique[:limit]

    def _complete(self, words: list[str], acl: str, acl_params: list) -> list[str]:
        """Completions of the last word found in the best visible pages matching the rest."""
        parsed = parse_query(" ".join(words) + "*")
        if not parsed.include:
            return []
        rows = self._rows(
            "SELECT p.text FROM pages p JOIN (SELECT rowid AS rid, rank FROM pages_fts"
            f" WHERE pages_fts MATCH ?) m ON m.rid = p.id WHERE {acl}"
            f" ORDER BY m.rank LIMIT {SUGGEST_PAGES}",
            [match_expression(parsed.include), *acl_params],
        )
        return complete_words(words, (page_text for (page_text,) in rows))


def _row(p: PageDoc) -> tuple:
    a = p.access
    text = unicodedata.normalize("NFC", p.text)  # exact tokens must be composed
    groups = "|" + "|".join(a.groups) + "|" if a.groups else ""
    unit = normalize_unit(a.unit)
    return (
        p.doc_id, p.page, p.category, p.doc_type, p.issuer, unit, a.level, groups,
        p.batch, p.lang, p.doc_date, p.ingested_at, p.filename, p.title,
        fold(normalize(p.title)), float(p.confidence), text, fold(text), p.fonds, p.dossier,
        p.origin_node, normalize_unit(p.origin_unit), acl_tokens(p.doc_id, unit, groups),
    )  # fmt: skip


def _access(level: int, unit: str, groups: str) -> Access:
    return Access(level=level, unit=unit, groups=tuple(groups[1:-1].split("|")) if groups else ())


_PAGE_FIELDS: tuple[str, ...] = (
    "doc_id",
    "page",
    "text",
    "category",
    "title",
    "batch",
    "filename",
    "doc_type",
)
_PAGE_FIELDS += ("issuer", "doc_date", "ingested_at", "lang", "confidence", "fonds", "dossier")
_PAGE_FIELDS += ("origin_node", "origin_unit")


def _page(r: sqlite3.Row) -> PageDoc:
    access = _access(r["level"], r["unit"], r["groups"])
    return PageDoc(**{k: r[k] for k in _PAGE_FIELDS}, access=access)


def _hit(
    r: sqlite3.Row, parsed: ParsedQuery, highlight: bool, pages: list[int] | None
) -> SearchHit:
    """A document hit (`pages`: its matching page numbers) or a page hit (None)."""
    return SearchHit(
        pages=tuple((pages or [r["page"]])[:HIT_PAGES]), page_count=len(pages or [r["page"]]),
        doc_id=r["doc_id"], page=r["page"], category=r["category"],
        snippet=make_snippet(r["text"], parsed, highlight),
        filename=r["filename"], title=r["title"], unit=r["unit"], level=r["level"],
        doc_type=r["doc_type"], issuer=r["issuer"], doc_date=r["doc_date"],
        fonds=r["fonds"], dossier=r["dossier"],
        origin_node=r["origin_node"], origin_unit=r["origin_unit"],
    )  # fmt: skip
