"""The search interface every index backend implements, and the query model they share.

Hits are documents by default (each with its best page's snippet and its matching page
numbers), or pages (`group="page"`); totals and facets count what the hits are. A query
word typed with tone marks means that word; typed without, every toned form of it. Access
control lives in `index/`: a backend turns `core.types.can_see` into its own query filter
and applies it inside every read (hits, page lists, totals, facet counts, `loose`,
snippets, suggestions, get_page), never after the fact.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Protocol, runtime_checkable

from ..core.errors import BadInputError, UsageError
from ..core.types import Access, PageDoc, Principal, UnitError, normalize_unit
from .text import TOKEN_RE, fold, normalize, tokens

HIGHLIGHT = ("<mark>", "</mark>")  # wraps matched words in snippets; doors render it
FILTER_KEYS = (
    *("category", "doc_type", "issuer", "unit", "level", "batch", "lang"),
    *("fonds", "dossier", "year"),  # the archive hierarchy; year is doc_date's
    *("origin_node", "origin_unit"),  # the node (and its unit) that made the record
)
UNIT_KEYS = ("unit", "origin_unit")  # unit paths: a filter value covers its sub-units
FACET_KEYS = FILTER_KEYS
SORTS = ("relevance", "date")
GROUPS = ("document", "page")  # one hit per document (default), or per page
MARKS = ("exact", "ignore")  # marks typed mean the word; or ignore them (OCR lost marks)
HIT_PAGES = 50  # page numbers a document hit lists; page_count says how many matched
MAX_LIMIT = 1000  # hits per page
MAX_WINDOW = 10_000  # offset + limit; page deeper with the `after` cursor
FACET_SIZE = 50  # values per facet, most frequent first
MAX_QUERY_CHARS = 1000  # longer query text is cut here
MAX_TERMS = 32  # words or phrases per query; the rest are ignored
SNIPPET_TOKENS = 30  # words in a snippet


@dataclass(frozen=True)
class SearchQuery:
    """What to look for and how to page through it.

    Words are all required. A word typed with diacritics matches that word only ('đảng'
    finds 'Đảng', never 'đẳng' or 'dang'); typed without, every toned form ('dan van'
    finds 'dân vận' and 'dẫn văn'). `marks="ignore"` matches marked words without their
    marks too (pages whose OCR lost them); `SearchResult.loose` counts the documents that
    would add. A phrase mixing both kinds matches its words' plain forms in order and its
    marked words exactly. `group="document"` gives one hit per document, "page" one per
    page; totals and facets count the same. "quoted phrases", a trailing * (prefix) and a
    leading - (exclude) are understood; nothing else in the text is syntax. Text without
    words lists the filtered documents (or pages), newest first. Filters: values of one
    key are alternatives, keys all apply; a unit filter (and an origin_unit one) covers
    sub-units; fonds, dossier and origin_node match exactly; a year (4 digits) is that
    year of `doc_date`. Dates bound `doc_date` (inclusive, ISO dates).
    """

    text: str = ""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    date_from: str | None = None
    date_to: str | None = None
    sort: str = "relevance"  # "relevance" | "date" (newest first)
    limit: int = 20
    offset: int = 0
    after: str | None = None  # next_cursor of the previous page; use instead of offset
    facets: tuple[str, ...] = ("category", "doc_type", "unit", "level")
    highlight: bool = True
    group: str = "document"  # "document" | "page"
    marks: str = "exact"  # "exact" | "ignore"

    def __post_init__(self) -> None:
        filters = {}
        for key, values in dict(self.filters).items():
            if key not in FILTER_KEYS:
                raise UsageError(f"unknown filter {key!r}; use one of {', '.join(FILTER_KEYS)}")
            values = (values,) if isinstance(values, str | int) else tuple(values)
            values = tuple(_filter_value(key, v) for v in values)
            if values:
                filters[key] = values
        object.__setattr__(self, "filters", filters)
        facets = (self.facets,) if isinstance(self.facets, str) else tuple(self.facets)
        for key in facets:
            if key not in FACET_KEYS:
                raise UsageError(f"unknown facet {key!r}; use one of {', '.join(FACET_KEYS)}")
        object.__setattr__(self, "facets", facets)
        if self.sort not in SORTS:
            raise UsageError(f"sort must be relevance or date, not {self.sort!r}")
        if self.group not in GROUPS:
            raise UsageError(f"group must be document or page, not {self.group!r}")
        if self.marks not in MARKS:
            raise UsageError(f"marks must be exact or ignore, not {self.marks!r}")
        if not 0 <= self.limit <= MAX_LIMIT:
            raise UsageError(f"limit must be 0-{MAX_LIMIT}, got {self.limit}")
        if self.offset < 0 or self.offset + self.limit > MAX_WINDOW:
            raise UsageError(
                f"offset + limit must stay within {MAX_WINDOW}; page deeper with the cursor"
            )
        if self.after is not None and self.offset:
            raise UsageError("use either offset or the after cursor, not both")
        start, end = _iso_date(self.date_from), _iso_date(self.date_to)
        object.__setattr__(self, "date_from", start)  # '20240301' becomes '2024-03-01'
        object.__setattr__(self, "date_to", end)
        if start and end and start > end:
            raise UsageError(f"date_from {start} is after date_to {end}; swap them")


def _filter_value(key: str, value: object) -> str:
    text = str(value).strip()
    if key in UNIT_KEYS:
        try:
            return normalize_unit(text)
        except UnitError as err:
            raise UsageError(f"{key} filter: {err}") from None
    if key == "level" and text not in ("0", "1", "2", "3"):
        raise UsageError(f"level filter must be 0-3, got {value!r}")
    if key == "year" and not re.fullmatch(r"[0-9]{4}", text):
        raise UsageError(f"year filter must be a 4-digit year such as 2024, got {value!r}")
    return text


def year_dates(year: str) -> tuple[str, str]:
    """The first and last ISO date of a year filter's value: what it bounds `doc_date` by."""
    return f"{year}-01-01", f"{year}-12-31"


def _iso_date(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise UsageError(f"date {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _is_iso_date(value: str) -> bool:
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One document (or page) that matched, with its document's fields.

    `page` is the best matching page (what `snippet`, HTML-escaped, is taken from); `pages`
    the matching page numbers in order (at most HIT_PAGES), `page_count` how many matched.
    A page hit lists its own page only.

    No score: relevance statistics count hidden pages too, so a raw score would tell how
    many hidden pages hold a word. Hits come in rank order, and that is all they say.
    """

    doc_id: str
    page: int
    category: str
    snippet: str  # matched words wrapped in HIGHLIGHT
    filename: str
    title: str
    unit: str
    level: int
    doc_type: str
    issuer: str
    doc_date: str
    fonds: str = ""
    dossier: str = ""
    origin_node: str = ""
    origin_unit: str = ""
    pages: tuple[int, ...] = ()
    page_count: int = 1

    @property
    def year(self) -> str:
        """The year of `doc_date`, or "" (what the year filter and facet go by)."""
        return self.doc_date[:4]

    def to_json(self) -> dict:
        """The hit as the doors print or serve it (`kho search --json`, /api/search)."""
        fields = ("doc_id", "page", "category", "snippet", "filename", "title", "doc_type")
        out = {f: getattr(self, f) for f in fields}
        out.update(issuer=self.issuer, doc_date=self.doc_date, unit=self.unit, level=self.level)
        out.update(fonds=self.fonds, dossier=self.dossier, year=self.year)
        out.update(origin_node=self.origin_node, origin_unit=self.origin_unit)
        out.update(pages=list(self.pages or (self.page,)), page_count=self.page_count)
        return out


@dataclass(frozen=True)
class SearchResult:
    """One page of hits; `total` and `facets` count every visible match (documents, or
    pages for `group="page"`); a unit facet's value counts its sub-units too, as its filter
    does. `loose`: visible documents more that match when marks are ignored. `estimated`:
    total, facets and loose are estimates ("about N"), as the embedded index gives for a
    match set too large to count in one search (see index/embedded.py)."""

    hits: tuple[SearchHit, ...]
    total: int
    facets: dict[str, list[tuple[str, int]]]
    next_cursor: str | None  # pass as SearchQuery.after for the following page
    loose: int = 0  # documents `marks="ignore"` would add (0 when it was asked)
    estimated: bool = False


@runtime_checkable
class SearchIndex(Protocol):
    """Pages in, access-controlled hits out. Every read takes the reading principal."""

    def index_pages(self, pages: Sequence[PageDoc]) -> int:
        """Store pages; each document named is replaced by the pages given for it."""
        ...

    def replace_document(self, doc_id: str, pages: Sequence[PageDoc]) -> int:
        """Make `pages` the document's only pages (none: delete it); returns pages stored."""
        ...

    def delete_document(self, doc_id: str) -> int:
        """Remove every page of the document; returns how many there were."""
        ...

    def search(self, query: SearchQuery, principal: Principal) -> SearchResult: ...

    def get_page(self, doc_id: str, page: int, principal: Principal) -> PageDoc | None:
        """The page, or None when it is absent or hidden (the same answer: no leak)."""
        ...

    def document_access(self, doc_id: str) -> Access | None:
        """Who may see the document (for the door's own checks); None if not indexed."""
        ...

    def count(self, principal: Principal) -> int:
        """Pages the principal may see."""
        ...

    def suggest(self, prefix: str, principal: Principal, limit: int = 10) -> list[str]:
        """Titles and word completions drawn from visible pages only."""
        ...

    def refresh(self) -> None:
        """Make every write so far searchable (Elasticsearch refreshes about each second)."""
        ...

    def close(self) -> None: ...


def group_pages(pages: Sequence[PageDoc]) -> dict[str, list[PageDoc]]:
    """Pages by document, checked: what every backend refuses to store."""
    docs: dict[str, list[PageDoc]] = {}
    seen: set[tuple[str, int]] = set()
    for p in pages:
        where = f"document {p.doc_id!r} page {p.page}"
        if not p.doc_id:
            raise BadInputError("a page has no doc_id; give every page its document's id")
        if not isinstance(p.page, int) or p.page < 1 or (p.doc_id, p.page) in seen:
            raise BadInputError(f"{where}: page numbers must be unique integers from 1")
        seen.add((p.doc_id, p.page))
        if not 0 <= p.access.level <= 3:
            raise BadInputError(f"{where}: level must be 0-3, got {p.access.level}")
        try:
            normalize_unit(p.access.unit)
            normalize_unit(p.origin_unit)
        except UnitError as err:
            raise BadInputError(f"{where}: {err}") from None
        if any("|" in g for g in p.access.groups):
            raise BadInputError(f"{where}: group names may not contain '|'")
        if p.doc_date and not _is_iso_date(p.doc_date):
            raise BadInputError(f"{where}: doc_date {p.doc_date!r} must be YYYY-MM-DD or empty")
        first = docs.setdefault(p.doc_id, [p])[0]
        if first is not p:
            if first.access != p.access:
                raise BadInputError(f"{where}: pages of one document must share its access")
            docs[p.doc_id].append(p)
    return docs


@dataclass(frozen=True, slots=True)
class Term:
    """One required word or phrase: normalised tokens with and without diacritics."""

    exact: tuple[str, ...]
    folded: tuple[str, ...]
    prefix: bool = False  # the last token is a prefix

    @property
    def has_diacritics(self) -> bool:
        return self.exact != self.folded

    @property
    def all_marked(self) -> bool:
        """Every token typed with marks: the term is its exact phrase."""
        return all(e != f for e, f in zip(self.exact, self.folded, strict=True))

    def marked(self) -> list[tuple[str, bool]]:
        """The tokens typed with marks, each with whether it is a prefix (the last one)."""
        last = len(self.exact) - 1
        pairs = zip(self.exact, self.folded, strict=True)
        return [(e, self.prefix and i == last) for i, (e, f) in enumerate(pairs) if e != f]


def needs_loose(query: SearchQuery, parsed: ParsedQuery) -> bool:
    """Whether ignoring marks could find more: exact marks asked, and a word has some."""
    return query.marks == "exact" and any(t.has_diacritics for t in parsed.include)


def unit_rollup(counts: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Counts per stored unit as counts per unit subtree ('qk7' counts 'qk7/f9' too),
    what a unit filter returns; most first, then by value, FACET_SIZE of them. Right for
    documents as for pages: each has one unit."""
    rolled: Counter[str] = Counter()
    for unit, n in counts:
        parts = unit.split("/") if unit else []
        for i in range(len(parts)):
            rolled["/".join(parts[: i + 1])] += n
    return sorted(rolled.items(), key=lambda c: (-c[1], c[0]))[:FACET_SIZE]


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    include: tuple[Term, ...]
    exclude: tuple[Term, ...]


# A chunk: optional leading '-', then a "phrase" (closing quote optional) or a bare word.
_CHUNK_RE = re.compile(
    r'(?P<neg>-(?=[^\s-]))?(?:"(?P<phrase>[^"]*)"?(?P<star>\*)?|(?P<word>[^\s"]+))'
)
_PREFIX_RE = re.compile(r"[^\W_]\*+$")


def parse_query(text: str) -> ParsedQuery:
    """Split query text into terms; every other character is data, never syntax.

    A word that holds several tokens ('125/QĐ-CT') is a phrase of them.
    """
    include: list[Term] = []
    exclude: list[Term] = []
    text = unicodedata.normalize("NFC", text[:MAX_QUERY_CHARS])
    for m in _CHUNK_RE.finditer(text):
        chunk = m["phrase"] if m["phrase"] is not None else m["word"] or ""
        prefix = bool(m["star"]) or bool(_PREFIX_RE.search(chunk))
        pairs = [(t, fold(t)) for t in tokens(chunk)]
        pairs = [(t, f) for t, f in pairs if f]
        if not pairs or len(include) + len(exclude) >= MAX_TERMS:
            continue
        term = Term(tuple(t for t, _ in pairs), tuple(f for _, f in pairs), prefix)
        (exclude if m["neg"] else include).append(term)
    return ParsedQuery(tuple(include), tuple(exclude))


# Snippets fold every word of every hit; words repeat a lot across pages.
_normalize_word = lru_cache(maxsize=65536)(normalize)
_fold_word = lru_cache(maxsize=65536)(fold)


def _matches(word: str, want: str, prefix: bool) -> bool:
    return word.startswith(want) if prefix else word == want


def _bare(word: str, folded: str) -> bool:
    """A word written without tone or vowel marks (its đ may stay)."""
    return word == folded or word.replace("đ", "d") == folded


def matched_tokens(
    text: str, spans: Sequence[tuple[int, int]], parsed: ParsedQuery
) -> dict[int, int]:
    """Token index -> term index for words the query matched.

    A word with diacritics in the query highlights its exact form where the page has it,
    and, where the page has no exact occurrence, the same letters bare of marks (OCR lost
    them: 'dang' for 'đảng'); never a word with other marks ('đẳng' is another word).
    """
    entries = []  # (exact token, folded token, prefix, term index)
    for ti, term in enumerate(parsed.include):
        last = len(term.exact) - 1
        for i, (e, f) in enumerate(zip(term.exact, term.folded, strict=True)):
            entries.append((e, f, term.prefix and i == last, ti))
    words = [_normalize_word(text[s:e]) for s, e in spans]
    exact_seen = {
        k for k, (e, _, pre, _) in enumerate(entries) if any(_matches(w, e, pre) for w in words)
    }
    hits = {}
    for pos, word in enumerate(words):
        folded = _fold_word(word)
        for k, (e, f, pre, ti) in enumerate(entries):
            if _matches(word, e, pre) or (
                _matches(folded, f, pre)
                and (e == f or (k not in exact_seen and _bare(word, folded)))
            ):
                hits[pos] = ti
                break
    return hits


def make_snippet(
    text: str, parsed: ParsedQuery, highlight: bool = True, size: int = SNIPPET_TOKENS
) -> str:
    """The window of the original text holding the most query terms, HTML-escaped.

    Matched words are wrapped in HIGHLIGHT, also where only their folded form matched.
    """
    spans = [m.span() for m in TOKEN_RE.finditer(text)]
    if not spans:
        return html.escape(" ".join(text.split())[:200])
    hits = matched_tokens(text, spans, parsed)
    start, best = 0, -1
    for pos in sorted(hits):
        lo = max(0, min(pos - 4, len(spans) - size))
        found = len({ti for p, ti in hits.items() if lo <= p < lo + size})
        if found > best:
            start, best = lo, found
    end = min(len(spans), start + size)
    out = ["… " if start else ""]
    prev = spans[start][0] if start else len(text) - len(text.lstrip())
    for i in range(start, end):
        s, e = spans[i]
        out.append(html.escape(re.sub(r"\s+", " ", text[prev:s])))
        word = html.escape(text[s:e])
        out.append(f"{HIGHLIGHT[0]}{word}{HIGHLIGHT[1]}" if highlight and i in hits else word)
        prev = e
    out.append(" …" if end < len(spans) else html.escape(text[prev:].strip()[:20]))
    return "".join(out)


def highlight_text(text: str, parsed: ParsedQuery) -> str:
    """The whole text HTML-escaped, the words the query matched (as in snippets) wrapped in
    HIGHLIGHT: a page reader's view of what search found."""
    spans = [m.span() for m in TOKEN_RE.finditer(text)]
    hits = matched_tokens(text, spans, parsed) if parsed.include else {}
    out, prev = [], 0
    for i, (s, e) in enumerate(spans):
        if i in hits:
            out.append(html.escape(text[prev:s]))
            out.append(f"{HIGHLIGHT[0]}{html.escape(text[s:e])}{HIGHLIGHT[1]}")
            prev = e
    out.append(html.escape(text[prev:]))
    return "".join(out)


def complete_words(words: Sequence[str], page_texts: Iterable[str]) -> list[str]:
    """Completions of the last of `words`, most frequent first, from the given page texts.

    A last word typed with diacritics completes only to words with those marks.
    """
    parsed = parse_query(" ".join(words) + "*")
    if not parsed.include:
        return []
    last = parsed.include[-1]
    want, want_folded = last.exact[-1], last.folded[-1]
    counts = Counter(w for text in page_texts for w in TOKEN_RE.findall(text.lower()))
    for word in list(counts):  # each distinct word folded once
        if not fold(word).startswith(want_folded) or (
            last.has_diacritics and not word.startswith(want)
        ):
            del counts[word]
    head = " ".join(words[:-1])
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return [f"{head} {w}".strip() for w in ranked]
