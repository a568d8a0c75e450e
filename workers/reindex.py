"""Rebuild the search index from the catalog and the storage root (the source of truth);
refresh, reclassify or re-read what is already ingested.

Elasticsearch: pages go into a new index version, then the alias swaps in one step, so
searches never see a half-built index. Embedded: each document is replaced in its own
transaction, so a search sees a document's old pages or its new ones, never neither.
"""

from __future__ import annotations

import filecmp
import time
from collections.abc import Callable
from dataclasses import replace

from kho.archive.fixity import record_fixity
from kho.core import catalog as cat
from kho.core.errors import BadInputError, NotFoundError
from kho.core.settings import OcrOptions

from .context import Context
from .pipeline import (
    classify_and_describe,
    document_pages,
    outcome_of,
    process_document,
    read_page,
    read_texts,
    write_sanitized_pdf,
)


def refresh_document(ctx: Context, doc_id: str) -> int:
    """Put an indexed document's catalog fields (category after a review, level...) into the
    index again, pages unchanged; returns pages written (0: not indexed yet, nothing to do)."""
    doc = ctx.catalog.get_document(doc_id)
    if doc is None or doc.status != cat.INDEXED:
        return 0
    return ctx.index.replace_document(doc_id, document_pages(ctx, doc, read_texts(ctx, doc_id)))


def follow_edit(ctx: Context, edit) -> None:
    """Put the documents an archival edit touched (`core.hierarchy.Edit`) into the index
    again, searchable at once."""
    for doc_id in edit.reindex:
        refresh_document(ctx, doc_id)
    if edit.reindex:
        ctx.index.refresh()


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
    active content) is rewritten on the way, and the files of a document stored before
    fixity records existed are recorded as they are."""
    from kho.core.fixity import recorded_documents

    doc_ids = ctx.catalog.indexed_document_ids()
    recorded = recorded_documents(ctx.catalog)
    index = ctx.index
    target = index.build_version() if hasattr(index, "build_version") else None
    pages = 0
    for i, doc_id in enumerate(doc_ids, start=1):
        doc = ctx.catalog.document(doc_id)
        if doc.kind == "pdf" and sanitize_served_copy(ctx, doc):
            recorded.add(doc_id)
        if doc_id not in recorded:
            record_fixity(ctx.catalog, ctx.storage, doc_id)
        page_docs = document_pages(ctx, doc, read_texts(ctx, doc_id))
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
    record_fixity(ctx.catalog, ctx.storage, doc.id)
    return True


def reread_document(
    ctx: Context, doc_id: str, pages: list[int], opts: OcrOptions, doc_lang: bool = False
) -> list[str]:
    """Read `pages` again with `opts` (in the document's own language if `doc_lang`), record
    each, then rebuild the document (PDF, class, index). Returns the reasons of pages that
    could not be read (they keep their old text).

    Runs in this process with either executor (`kho reocr` waits for it), not on the queues.
    """
    doc = ctx.catalog.get_document(doc_id)
    if doc is None:
        raise NotFoundError(f"document {doc_id[:12]} is not in the catalog")
    if doc_lang and doc.lang:
        opts = replace(opts, lang=doc.lang)
    problems = []
    for page in pages:
        t0 = time.perf_counter()
        try:
            text = read_page(ctx, doc, page, opts)
        except BadInputError as error:
            problems.append(f"page {page}: {error}")
            continue
        ctx.storage.write_page_text(doc_id, page, text)  # atomic: .part, then rename
        ctx.catalog.update_page(doc_id, page, outcome_of(text, time.perf_counter() - t0))
    process_document(ctx, doc_id)  # replaces the document's pages in the index
    return problems
