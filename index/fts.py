"""The embedded index's SQL: its schema and upgrades, and the FTS5 and access conditions
every read of `index.embedded` is built from.

Pages live in a plain table; an external-content FTS5 table indexes each page twice, as
`exact` (the NFC text, diacritics kept) and `folded` (diacritics removed). `pages_meta`
holds, in index order of the page's rowid, every column a search filters, checks access
on or counts (not the text): a search joins each FTS5 match to it, a few dozen bytes,
rather than to the page's row of text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from kho.core import sqlite
from kho.core.types import ALL_UNITS, Principal, unit_scopes
from kho.index.base import UNIT_KEYS, ParsedQuery, SearchQuery, Term, year_dates

SCHEMA_VERSION = 4
BUSY_TIMEOUT_S = sqlite.BUSY_TIMEOUT_S  # how long a writer waits for another's transaction
EXACT_WEIGHT, FOLDED_WEIGHT = 10.0, 1.0  # bm25 column weights (acl: 0)
SAMPLE_BUCKETS = 16  # documents are sampled one in 16 (by doc_id) for estimates
SAMPLE_MATCH = "{acl} : s0"  # the bucket sampled
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
# Every column a search reads besides the text, in `pages_meta`: access, filters, facets.
META = (
    *("level", "unit", "groups", "doc_id", "page", "doc_date", "category", "doc_type"),
    *("issuer", "batch", "lang", "fonds", "dossier", "origin_node", "origin_unit"),
)
# What takes a file from version N to N + 1, in place: adding a column with a default
# rewrites no row, so pages indexed before keep working (with no fonds, dossier or origin
# until they are indexed again); an index is built from the rows there are.
_UPGRADES = {
    1: (
        "ALTER TABLE pages ADD COLUMN fonds TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE pages ADD COLUMN dossier TEXT NOT NULL DEFAULT ''",
    ),
    2: (
        "ALTER TABLE pages ADD COLUMN origin_node TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE pages ADD COLUMN origin_unit TEXT NOT NULL DEFAULT ''",
    ),
    3: (  # access as FTS5 tokens (`acl_tokens`): the FTS5 table is made again, and filled
        *(f"DROP TRIGGER pages_{t}" for t in ("ai", "ad", "au")),
        "DROP TABLE pages_fts",
        "DROP VIEW pages_content",
        "ALTER TABLE pages ADD COLUMN acl TEXT NOT NULL DEFAULT ''",
        "UPDATE pages SET acl = kho_acl(doc_id, unit, groups)",
        "CREATE VIEW pages_content (id, exact, folded, acl) AS"
        " SELECT id, text, folded, acl FROM pages",
        """CREATE VIRTUAL TABLE pages_fts USING fts5 (exact, folded, acl,
            content='pages_content', content_rowid='id',
            tokenize='unicode61 remove_diacritics 0', prefix='2 3')""",
        "INSERT INTO pages_fts (pages_fts) VALUES ('rebuild')",
        """CREATE TRIGGER pages_ai AFTER INSERT ON pages BEGIN
            INSERT INTO pages_fts (rowid, exact, folded, acl)
            VALUES (new.id, new.text, new.folded, new.acl);
        END""",
        """CREATE TRIGGER pages_ad AFTER DELETE ON pages BEGIN
            INSERT INTO pages_fts (pages_fts, rowid, exact, folded, acl)
            VALUES ('delete', old.id, old.text, old.folded, old.acl);
        END""",
        """CREATE TRIGGER pages_au AFTER UPDATE ON pages BEGIN
            INSERT INTO pages_fts (pages_fts, rowid, exact, folded, acl)
            VALUES ('delete', old.id, old.text, old.folded, old.acl);
            INSERT INTO pages_fts (rowid, exact, folded, acl)
            VALUES (new.id, new.text, new.folded, new.acl);
        END""",
        f"CREATE INDEX pages_meta ON pages (id, {', '.join(META)})",
    ),
}
_COLUMNS = (
    "doc_id, page, category, doc_type, issuer, unit, level, groups, batch, lang, doc_date,"
    " ingested_at, filename, title, title_folded, confidence, text, folded, fonds, dossier,"
    " origin_node, origin_unit, acl"
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
# Grouped in (doc_id, page) order (temp.visible_doc), MIN's row is the first with the
# lowest rank: a document's best page, the first of equals.
_DOCS_SQL = """INSERT INTO temp.docs SELECT id, MIN(rank), doc_id, page, doc_date, COUNT(*)
    FROM temp.visible INDEXED BY visible_doc GROUP BY doc_id"""
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


def _token(kind: str, name: str) -> str:
    """One access token: a kind letter and a hash of the name, so no unit or group name,
    whatever its characters, can read as another's or as FTS5 syntax."""
    return kind + hashlib.sha256(name.encode()).hexdigest()[:20]


def acl_tokens(doc_id: str, unit: str, groups: str) -> str:
    """A page's access as FTS5 tokens: its unit and every unit above it (a scope covers
    its sub-units) and its share groups ('|g1|g2|' as stored); and its document's sample
    bucket (one of SAMPLE_BUCKETS, from a hash of the doc_id: estimates count one bucket).
    Levels are no token: a clearance admits most pages, so FTS5 would gain nothing."""
    parts = unit.split("/") if unit else []
    units = [_token("u", "/".join(parts[: i + 1])) for i in range(len(parts))]
    names = [_token("g", g) for g in (groups[1:-1].split("|") if groups else ())]
    bucket = int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) % SAMPLE_BUCKETS
    return " ".join([*units, *names, f"s{bucket}"])


def acl_match(principal: Principal) -> str:
    """The unit and group half of `acl_sql` as an FTS5 condition on those tokens, to AND
    with a search's words so FTS5 skips pages of other units before any row is read (''
    for a principal of every unit). acl_sql still checks each row: this narrows the scan."""
    scopes = unit_scopes(principal)
    if ALL_UNITS in scopes:
        return ""
    options = [_token("u", s) for s in scopes if s]
    options += [_token("g", g) for g in principal.groups if "|" not in g]
    return f"{{acl}} : ({' OR '.join(options) or 'nothing'})"


def _phrase(tokens: Sequence[str], prefix: bool) -> str:
    """An FTS5 string literal: user text only ever reaches FTS5 inside double quotes."""
    quoted = '"' + " ".join(tokens).replace('"', '""') + '"'
    return quoted + " *" if prefix else quoted


def match_expression(terms: Sequence[Term], marks: str = "exact") -> str:
    """All terms required. A term typed without diacritics searches only the folded
    column (every toned form), so pages rank by the folded match rather than favouring
    pages that happen to lack the marks too; one typed with them searches the exact column
    (`marks="ignore"`: exact or folded, exact ranked first). `marks="folded"` matches the
    same pages as "ignore" for counting, unranked: a page's folded column holds the folded
    form of each of its exact words, so the folded phrase alone finds every page the
    exact one does, and FTS5 reads one list of pages a term instead of two."""
    parts = []
    for t in terms:
        folded = "{folded} : " + _phrase(t.folded, t.prefix)
        if not t.has_diacritics or marks == "folded":
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


def where_sql(query: SearchQuery, principal: Principal, parsed: ParsedQuery) -> tuple[str, list]:
    """WHERE on pages `p` for one search: access (always first), filters, dates, exclusions."""
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
            clauses.append("(" + " OR ".join(["p.doc_date BETWEEN ? AND ?"] * len(values)) + ")")
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
    return " AND ".join(clauses), params


# Every FTS5 match `f` joined to its page's access, filter and facet columns `p`.
_MATCHED = (
    "FROM pages_fts f CROSS JOIN pages p INDEXED BY pages_meta ON p.id = f.rowid"
    " WHERE pages_fts MATCH ?"
)


class Search:
    """One search's parts: what it asks, as whom, and its SQL."""

    def __init__(self, query: SearchQuery, principal: Principal, parsed: ParsedQuery, sort: str):
        self.query, self.principal, self.parsed, self.sort = query, principal, parsed, sort
        self.acl = acl_match(principal)
        self.match = self.matching(query.marks)
        self.where = where_sql(query, principal, parsed)
        self.table = "temp.docs" if query.group == "document" else "temp.visible"
        # the columns of temp.visible this search reads: sort keys and its facets
        wanted = {"doc_id", "page", "doc_date", *query.facets}
        self.columns = tuple(c for c in _VISIBLE[2:] if c in wanted)

    def matching(self, marks: str) -> str:
        """The FTS5 expression: the words, and the principal's access tokens."""
        if not self.parsed.include:
            return ""
        words = match_expression(self.parsed.include, marks)
        return f"({words}) AND {self.acl}" if self.acl else words


@dataclass(frozen=True)
class Counts:
    total: int
    facets: dict[str, list[tuple[str, int]]]
    loose: int
    estimated: bool
