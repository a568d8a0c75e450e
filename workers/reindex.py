"""Rebuild the search index from the catalog and the storage root (the source of truth).

Elasticsearch: pages go into a new index version, then the alias swaps in one step, so
searches never see a half-built index. Embedded: each document is replaced in its own
transaction, so a search sees a document's old pages or its new ones, never neither.
"""

from __future__ import annotations

import filecmp
from collections.abc import Callable

from sqlalchemy import select

from kho.core import catalog as cat

from .context import Context
from .pipeline import classify_and_describe, document_pages, read_texts, write_sanitized_pdf


def indexed_documents(ctx: Context) -> list[str]:
    with ctx.catalog.session() as s:
        q = select(cat.Document.id).where(cat.Document.status == cat.INDEXED)
        return list(s.scalars(q.order_by(cat.Document.id)))


def refresh_document(ctx: Context, doc_id: str) -> int:
    """Put an indexed document's catalog fields (category after a review, level...) into the
    index again, pages unchanged; returns pages written (0: not indexed yet, nothing to do)."""
    doc = ctx.catalog.get_document(doc_id)
    if doc is None or doc.status != cat.INDEXED:
        return 0
    return ctx.index.replace_document(doc_id, document_pages(doc, read_texts(ctx, doc_id)))


def record_decision(ctx: Context, doc_id: str, values: dict) -> None:
    """A person's decision on a document (review) into the catalog and the index, searchable
    at once."""
    ctx.catalog.set_document(doc_id, **values)
    refresh_document(ctx, doc_id)
    ctx.index.refresh()


def reclassify(ctx: Context, doc_id: str) -> str:
    """Classify an indexed document again (current model, taxonomy, metadata rules) from its
    stored page texts and update its index entries; its files stay as they are. Returns the
    category (a person's decision is kept)."""
    doc = ctx.catalog.get_document(doc_id)
    texts = read_texts(ctx, doc_id)
    if doc is None or not texts:
        return doc.category if doc else ""
    classify_and_describe(ctx, doc, texts)
    refresh_document(ctx, doc_id)
    return ctx.catalog.document(doc_id).category


def reindex(ctx: Context, on_doc: Callable[[int, int], None] | None = None) -> int:
    """Index every indexed document's pages afresh; returns the number of pages. A served
    PDF that is still a plain copy of its original (written before served PDFs lost their
    active content) is rewritten on the way."""
    doc_ids = indexed_documents(ctx)
    index = ctx.index
    target = index.build_version() if hasattr(index, "build_version") else None
    pages = 0
    for i, doc_id in enumerate(doc_ids, start=1):
        doc = ctx.catalog.document(doc_id)
        if doc.kind == "pdf":
            sanitize_served_copy(ctx, doc)
        page_docs = document_pages(doc, read_texts(ctx, doc_id))
        if target is None:
            index.replace_document(doc_id, page_docs)
        else:
            index.index_pages(page_docs, index=target)
        pages += len(page_docs)
        if on_doc:
            on_doc(i, len(doc_ids))
    if target is not None:
        index.swap_alias(target)
    return pages


def sanitize_served_copy(ctx: Context, doc: cat.Document) -> bool:
    """Rewrite a born-digital document's searchable PDF if it is byte for byte its original
    (as kho once served it, active content and all); True if rewritten."""
    served = ctx.storage.searchable_pdf(doc.id)
    original = ctx.storage.original(doc.id, "pdf")
    if not served.exists() or not original.exists():
        return False
    if served.stat().st_size != original.stat().st_size:
        return False
    if not filecmp.cmp(served, original, shallow=False):
        return False
    write_sanitized_pdf(ctx, doc, served)
    return True
