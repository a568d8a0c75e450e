"""What kho stores in Elasticsearch: two kinds of record behind one alias.

- A **page record** (id `doc_id:page`) per page: its text twice (`text` with marks,
  `text_folded` without, folded here in Python with `index.text.fold`, so both backends fold
  alike and the cluster needs no plugin) and its document's fields. Page hits, page
  counts, snippets, `get_page` and suggestions read these.
- A **document record** (id `doc_id`, `kind: "document"`) per document: the document's
  fields once, and its pages as `nested` objects (page number, `text`, `text_folded`;
  indexed, not kept in `_source`). A nested query matches a document when ONE of its pages
  matches the whole query (as the page view does), scores it by its best page, and counts
  it once: document hits, totals and facets are plain searches and plain `terms` counts of
  document records, exact at any size, paged by `search_after` as deep as needed.

Both kinds of a document are written in one bulk request by `ElasticIndex.index_pages`
(and deleted together), from the same folded text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from ..core.types import Access, PageDoc, normalize_unit
from .text import fold

DOCUMENT = "document"  # `kind` of a document record; a page record has none
SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}
RECORDS = "pages+documents"  # `_meta.kho_records` of an index that holds both kinds
_KEYWORDS = (
    *("doc_id", "uid", "category", "doc_type", "issuer", "unit", "unit_path", "groups"),
    *("batch", "lang", "filename", "fonds", "dossier"),
    *("origin_node", "origin_unit", "origin_unit_path"),  # origin_unit_path as unit_path
    "kind",
)
_TEXT = {"type": "text", "analyzer": "standard"}  # UAX#29 words, lower-cased, marks kept
_NESTED_PAGES = {
    "type": "nested",
    "properties": {"page": {"type": "integer"}, "text": _TEXT, "text_folded": _TEXT},
}
MAPPINGS = {
    "dynamic": "strict",
    "_meta": {"kho_records": RECORDS},
    "_source": {"excludes": ["text_folded", "title_folded", "pages"]},
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
        "pages": _NESTED_PAGES,
    },
}

FOLD_CACHE_WORDS = 200_000  # distinct words kept folded (a few tens of MB at most)
_folded: dict[str, str] = {}


def fold_text(text: str) -> str:
    """`fold(text)` word by word through a cache: an archive repeats its words, and one
    dictionary look-up per word costs a fraction of folding the page's characters. Words
    are split at whitespace and joined by one space, which the `standard` analyzer reads
    as the same words at the same positions."""
    cache = _folded
    if len(cache) > FOLD_CACHE_WORDS:
        cache.clear()
    out = []
    for word in text.split():
        folded = cache.get(word)
        if folded is None:
            folded = cache[word] = fold(word)
        out.append(folded)
    return " ".join(out)


def unit_path(unit: str) -> list[str]:
    """'qk7/f9/e1' -> ['qk7', 'qk7/f9', 'qk7/f9/e1']: what a unit scope term-matches.

    The unit in normal form (`normalize_unit`, as every scope is), so its prefixes are
    exactly the scopes `core.types.unit_covers` lets see it.
    """
    unit = normalize_unit(unit)
    parts = unit.split("/") if unit else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _fields(p: PageDoc) -> dict:
    """A document's fields as its records carry them (the page's, on a page record)."""
    return {
        "doc_id": p.doc_id,
        "title": p.title,
        "title_folded": fold_text(p.title),
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
        "fonds": p.fonds,
        "dossier": p.dossier,
        "origin_node": p.origin_node,
        "origin_unit": normalize_unit(p.origin_unit),
        "origin_unit_path": unit_path(p.origin_unit),
    }


def _source(p: PageDoc) -> dict:
    """A page record."""
    text = unicodedata.normalize("NFC", p.text)  # exact tokens must be composed
    return {
        **_fields(p),
        "uid": f"{p.doc_id}:{p.page:06d}",
        "page": p.page,
        "text": text,
        "text_folded": fold_text(text),
        "confidence": p.confidence,
    }


def document_source(pages: Sequence[PageDoc], sources: Sequence[dict]) -> dict:
    """The document record of one document's pages (checked by `group_pages`: one access)
    from their page records' `sources`. `uid` is `doc_id:`, so documents of equal score
    come in the order their best pages' uids (`doc_id:page`) give the page view."""
    return {
        **_fields(pages[0]),
        "kind": DOCUMENT,
        "uid": f"{pages[0].doc_id}:",
        "page": min(p.page for p in pages),
        "pages": [
            {"page": s["page"], "text": s["text"], "text_folded": s["text_folded"]} for s in sources
        ],
    }


def page_doc(src: dict) -> PageDoc:
    """The PageDoc a page record holds."""
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
