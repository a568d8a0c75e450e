"""The embedded search index: one SQLite file with FTS5, no server.

Pages live in a plain table; an external-content FTS5 table indexes each page twice, as
`exact` (the NFC text, diacritics kept) and `folded` (diacritics removed), and bm25 weighs
exact matches far above folded ones so 'mà' ranks pages with 'mà' above pages with 'ma'.
Access control is an SQL condition (`acl_sql`) inside every query. WAL mode and a busy
timeout let several processes write one after another. A file made by an older kho is
upgraded in place when opened (`_UPGRADES`), keeping its pages.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..core import sqlite
from ..core.errors import IndexError_, ServiceError
from ..core.types import ALL_UNITS, Access, PageDoc, Principal, normalize_unit, unit_scopes
from .base import (
    FACET_SIZE,
    HIT_PAGES,
    MAX_QUERY_CHARS,
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
    unit_rollup,
    year_dates,
)
from .cursor import CursorError, Cursors, search_key
from .text import TOKEN_RE, fold, normalize

SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = sqlite.BUSY_TIMEOUT_S  # how long a writer waits for another's transaction
EXACT_WEIGHT, FOLDED_WEIGHT = 10.0, 1.0  # bm25 column weights
SUGGEST_PAGES = 200  # best-ranked visible pages scanned for word completions

_SCHEMA = (
    """CREATE TABLE pages (
        id INTEGER PRIMARY KEY,  -- stable rowid: the FTS index refers to it
        doc_id TEXT NOT NULL, page INTEGER NOT NULL,
        category TEXT NOT NULL, doc_type TEXT NOT NULL, issuer TEXT NOT NULL,
        unit TEXT NOT NULL, level INTEGER NOT NULL,
        groups TEXT NOT NULL,  -- '|g1|g2|', matched with instr()
        batch TEXT NOT NULL, lang TEXT NOT NULL, doc_date TEXT NOT NULL,
        ingested_at TEXT NOT NULL, filename TEXT NOT NULL, title TEXT NOT NULL,
        title_folded TEXT NOT NULL, confidence REAL NOT NULL,
        text TEXT NOT NULL, folded TEXT NOT NULL,
        UNIQUE (doc_id, page))""",
    "CREATE INDEX pages_date ON pages (doc_date, id)",
    "CREATE INDEX pages_unit ON pages (unit)",
    "CREATE VIEW pages_content (id, exact, folded) AS SELECT id, text, folded FROM pages",
    """CREATE VIRTUAL TABLE pages_fts USING fts5 (exact, folded,
        content='pages_content', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0', prefix='2 3')""",
    """CREATE TRIGGER pages_ai AFTER INSERT ON pages BEGIN
        INSERT INTO pages_fts (rowid, exact, folded) VALUES (new.id, new.text, new.folded);
    END""",
    """CREATE TRIGGER pages_ad AFTER DELETE ON pages BEGIN
        INSERT INTO pages_fts (pages_fts, rowid, exact, folded)
        VALUES ('delete', old.id, old.text, old.folded);
    END""",
    """CREATE TRIGGER pages_au AFTER UPDATE ON pages BEGIN
        INSERT INTO pages_fts (pages_fts, rowid, exact, folded)
        VALUES ('delete', old.id, old.text, old.folded);
        INSERT INTO pages_fts (rowid, exact, folded) VALUES (new.id, new.text, new.folded);
    END""",
)  # version 1; a new file then takes every upgrade, as an old one does
# What takes a file from version N to N + 1, in place: adding a column with a default
# rewrites no row, so pages indexed before keep working (with no fonds, dossier or origin
# until they are indexed again).
_UPGRADES = {
    1: (
        "ALTER TABLE pages ADD COLUMN fonds TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE pages ADD COLUMN dossier TEXT NOT NULL DEFAULT ''",
    ),
    2: (
        "ALTER TABLE pages ADD COLUMN origin_node TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE pages ADD COLUMN origin_unit TEXT NOT NULL DEFAULT ''",
    ),
}
_COLUMNS = (
    "doc_id, page, category, doc_type, issuer, unit, level, groups, batch, lang, doc_date,"
    " ingested_at, filename, title, title_folded, confidence, text, folded, fonds, dossier,"
    " origin_node, origin_unit"
)
_PLACEHOLDERS = ", ".join("?" * len(_COLUMNS.split(",")))
# One search's visible match set: sort keys (rank, date, then doc_id and page: what a hit
# shows, never the rowid) and facet fields (FACET_KEYS).
_VISIBLE: tuple[str, ...] = (
    "id INTEGER PRIMARY KEY",
    "rank REAL",
    "doc_id",
    "page",
    "doc_date",
    "category",
)
_VISIBLE += ("doc_type", "issuer", "unit", "level", "batch", "lang", "fonds", "dossier", "year")
_VISIBLE += ("origin_node", "origin_unit")
# One search's documents: each as its best page (lowest rank, then first), with how many
# of its pages matched; hits, total and keyset paging of `group="document"` read it.
_DOCS = ("id INTEGER PRIMARY KEY", "rank REAL", "doc_id", "page", "doc_date", "n")
_DOCS_SQL = """INSERT INTO temp.docs SELECT id, rank, doc_id, page, doc_date, n FROM (
    SELECT id, rank, doc_id, page, doc_date, COUNT(*) OVER per_doc AS n,
    ROW_NUMBER() OVER (PARTITION BY doc_id ORDER BY rank, page) AS r
    FROM temp.visible WINDOW per_doc AS (PARTITION BY doc_id)) WHERE r = 1"""
_DERIVED = {"year": "substr(p.doc_date, 1, 4)"}  # visible fields that are no stored column
# The order of hits, and which rows come after a cursor's (rank, doc_id, page) or
# (doc_date, doc_id, page); SQLite compares row values left to right.
_ORDERS = {
    "relevance": ("rank, doc_id, page", "(rank, doc_id, page) > (?, ?, ?)"),
    "date": (
        "doc_date DESC, doc_id, page",
        "(doc_date < ? OR (doc_date = ? AND (doc_id, page) > (?, ?)))",
    ),
}
_HIT_COLUMNS = (
    "p.id, p.doc_id, p.page, p.category, p.filename, p.title, p.unit, p.level,"
    " p.doc_type, p.issuer, p.doc_date, p.text, p.fonds, p.dossier, p.origin_node, p.origin_unit"
)


def _unit_sql(scope: str, column: str = "p.unit") -> tuple[str, list]:
    """`unit_covers(scope, column)` for a scope in normal form (stored units are too);
    substr compares exactly where LIKE would read '%' and '_' as wildcards."""
    if scope == ALL_UNITS:
        return "1", []
    if not scope:
        return "0", []
    sql = f"({column} = ? OR substr({column}, 1, ?) = ?)"
    return sql, [scope, len(scope) + 1, scope + "/"]


def acl_sql(principal: Principal) -> tuple[str, list]:
    """`core.types.can_see` as a condition on pages `p`."""
    options = [_unit_sql(s) for s in unit_scopes(principal)]
    # A '|' in a principal's group could span two stored names; stored names have none.
    options += [("instr(p.groups, ?) > 0", [f"|{g}|"]) for g in principal.groups if "|" not in g]
    sql = " OR ".join(o for o, _ in options) or "0"
    return f"(p.level <= ? AND ({sql}))", [int(principal.clearance)] + [
        v for _, ps in options for v in ps
    ]


def _phrase(tokens: Sequence[str], prefix: bool) -> str:
    """An FTS5 string literal: user text only ever reaches FTS5 inside double quotes."""
    quoted = '"' + " ".join(tokens).replace('"', '""') + '"'
    return quoted + " *" if prefix else quoted


def match_expression(terms: Sequence[Term], marks: str = "exact") -> str:
    """All terms required. A term typed without diacritics searches only the folded
    column (every toned form), so pages rank by the folded match rather than favouring
    pages that happen to lack the marks too; one typed with them searches the exact column
    (`marks="ignore"`: exact or folded, exact ranked first)."""
    parts = []
    for t in terms:
        folded = "{folded} : " + _phrase(t.folded, t.prefix)
        if not t.has_diacritics:
            parts.append(f"({folded})")
        elif marks == "exact":
            parts.append(f"({_exact_expression(t)})")
        else:
            parts.append(f"({{exact}} : {_phrase(t.exact, t.prefix)} OR {folded})")
    return " AND ".join(parts)


def _exact_expression(t: Term) -> str:
    """A marked term: its exact phrase; a phrase mixing marked and plain words: its folded
    phrase, and each marked word exactly."""
    if t.all_marked:
        return "{exact} : " + _phrase(t.exact, t.prefix)
    words = ["{exact} : " + _phrase((e,), pre) for e, pre in t.marked()]
    return " AND ".join(["{folded} : " + _phrase(t.folded, t.prefix), *words])


def _exclude_expression(terms: Sequence[Term]) -> str:
    """'-mà' drops pages with 'mà'; '-ma' drops every tone of 'ma'."""
    return " OR ".join(
        ("{exact} : " + _phrase(t.exact, t.prefix))
        if t.has_diacritics
        else ("{folded} : " + _phrase(t.folded, t.prefix))
        for t in terms
    )


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class EmbeddedIndex:
    """SearchIndex on a SQLite FTS5 file."""

    def __init__(self, path: Path, cursors: Cursors | None = None):
        self.path = Path(path)
        self.cursors = cursors or Cursors.at(self.path.parent)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._errors():
            sqlite.prepare(self._db, BUSY_TIMEOUT_S)
        with self._errors():  # per connection: scratch space for one search
            self._db.execute("CREATE TEMP TABLE matched (rid INTEGER PRIMARY KEY, rank REAL)")
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
                self._select(query, principal, parsed)
                if query.group == "document":
                    self._db.execute(_DOCS_SQL)
                hits, total, facets, more = self._result(query, parsed, sort, after)
                loose = self._loose(query, principal, parsed) if needs_loose(query, parsed) else 0
            finally:
                for table in ("matched", "visible", "docs"):
                    self._db.execute(f"DELETE FROM temp.{table}")
        cursor = self.cursors.seal(bound, hits[-1].doc_id, hits[-1].page) if more and hits else None
        return SearchResult(hits, total, facets, cursor, loose)

    def _select(self, query: SearchQuery, principal: Principal, parsed: ParsedQuery) -> None:
        """Fill temp.visible with the visible, filtered matching pages, in one pass.

        Totals, facets and hits are all drawn from it (and temp.docs, its documents), so
        none can count a hidden page, and a prefix that expands to many words is expanded
        once.
        """
        rank = "0.0"
        if parsed.include:
            self._db.execute(
                "INSERT INTO temp.matched SELECT rowid,"
                f" bm25(pages_fts, {EXACT_WEIGHT}, {FOLDED_WEIGHT}) FROM pages_fts"
                " WHERE pages_fts MATCH ?",
                [match_expression(parsed.include, query.marks)],
            )
            rank = "m.rank"
        source, where, params = self._query_sql(query, principal, parsed)
        fields = ", ".join(_DERIVED.get(c, "p." + c) for c in _VISIBLE[2:])  # doc_id, page, ...
        self._db.execute(
            f"INSERT INTO temp.visible SELECT p.id, {rank}, {fields} {source} WHERE {where}",
            params,
        )

    def _result(
        self, query: SearchQuery, parsed: ParsedQuery, sort: str, after: tuple[str, int] | None
    ) -> tuple[tuple[SearchHit, ...], int, dict, bool]:
        """Hits, total, facets from temp.visible (pages) or temp.docs (their documents,
        each as its best page), and whether more hits follow."""
        table = "temp.docs" if query.group == "document" else "temp.visible"
        total = self._rows(f"SELECT COUNT(*) FROM {table}", [])[0][0]
        facets = {key: self._facet(key, query.group) if total else [] for key in query.facets}
        order, later = _ORDERS[sort]
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
            params = [rank, *after] if sort == "relevance" else [doc_date, doc_date, *after]
        rows = self._rows(
            f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, query.limit + 1, query.offset],
        )
        more, rows = len(rows) > query.limit, rows[: query.limit]
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
            _hit(by_id[i], parsed, query.highlight, matching.get(by_id[i]["doc_id"])) for i in ids
        )
        return hits, total, facets, more

    def _loose(self, query: SearchQuery, principal: Principal, parsed: ParsedQuery) -> int:
        """Visible, filtered documents that match only when marks are ignored."""
        _, where, params = self._query_sql(query, principal, parsed)
        return self._rows(
            "SELECT COUNT(DISTINCT p.doc_id) FROM pages_fts CROSS JOIN pages p"
            f" ON p.id = pages_fts.rowid WHERE pages_fts MATCH ? AND {where}"
            " AND p.doc_id NOT IN (SELECT doc_id FROM temp.visible)",
            [match_expression(parsed.include, "ignore"), *params],
        )[0][0]

    def _query_sql(
        self, query: SearchQuery, principal: Principal, parsed: ParsedQuery
    ) -> tuple[str, str, list]:
        """FROM clause (the matched pages when there are terms), WHERE, parameters."""
        source = (
            "FROM temp.matched m CROSS JOIN pages p ON p.id = m.rid"
            if parsed.include
            else "FROM pages p"
        )
        acl, acl_params = acl_sql(principal)
        clauses, params = [acl], list(acl_params)
        for key, values in query.filters.items():
            if key in UNIT_KEYS:  # a unit path covers its sub-units
                units = [_unit_sql(v, "p." + key) for v in values]
                clauses.append("(" + " OR ".join(u for u, _ in units) + ")")
                params += [v for _, ps in units for v in ps]
            elif key == "level":
                clauses.append(f"p.level IN ({', '.join('?' * len(values))})")
                params += [int(v) for v in values]
            elif key == "year":
                clauses.append(
                    "(" + " OR ".join(["p.doc_date BETWEEN ? AND ?"] * len(values)) + ")"
                )
                params += [d for v in values for d in year_dates(v)]
            else:  # key is one of FILTER_KEYS, checked by SearchQuery
                clauses.append(f"p.{key} IN ({', '.join('?' * len(values))})")
                params += list(values)
        if query.date_from:
            clauses.append("p.doc_date != '' AND p.doc_date >= ?")
            params.append(query.date_from)
        if query.date_to:
            clauses.append("p.doc_date != '' AND p.doc_date <= ?")
            params.append(query.date_to)
        if parsed.exclude:
            clauses.append("p.id NOT IN (SELECT rowid FROM pages_fts WHERE pages_fts MATCH ?)")
            params.append(_exclude_expression(parsed.exclude))
        return source, " AND ".join(clauses), params

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
    return (
        p.doc_id, p.page, p.category, p.doc_type, p.issuer, normalize_unit(a.unit), a.level, groups,
        p.batch, p.lang, p.doc_date, p.ingested_at, p.filename, p.title,
        fold(normalize(p.title)), float(p.confidence), text, fold(text), p.fonds, p.dossier,
        p.origin_node, normalize_unit(p.origin_unit),
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
