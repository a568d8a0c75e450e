"""Rebuild the search index from the catalog and the storage root (the source of truth);
refresh, reclassify or re-read what is already ingested.

Elasticsearch: pages go into a new index version, then the alias swaps in one step, so
searches never see a half-built index. Embedded: each document is replaced in its own
transaction, so a search sees a document's old pages or its new ones, never neither. A
reindex that was stopped carries on after the last document it saved as done.
"""

from __future__ import annotations

import filecmp
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace

from kho.archive.fixity import record_fixity
from kho.core import catalog as cat
from kho.core.errors import BadInputError, NotFoundError
from kho.core.settings import OcrOptions
from kho.core.storage import atomic_write_bytes
from kho.core.types import PageDoc
from kho.index.base import group_pages

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


STATE_FILE = "reindex.json"  # under KHO_HOME while a reindex is unfinished
ID_PAGE = 500  # document ids read from the catalog at a time (keyset paging)
WRITE_PAGES = 1000  # pages written, then progress saved, at a time
SAY_EVERY_S = 2.0  # progress lines at most this often


@dataclass
class Progress:
    """Where an unfinished reindex is: the version it fills (Elasticsearch; "" for the
    embedded index, rebuilt in place) and the last document whose pages are stored, in
    document-id order, with the counts so far."""

    backend: str
    index: str  # the alias (Elasticsearch) or the index file (embedded)
    target: str = ""
    after: str = ""
    documents: int = 0
    pages: int = 0


def reindex(
    ctx: Context, *, restart: bool = False, on_progress: Callable[[str], None] | None = None
) -> int:
    """Index every indexed document's pages afresh; returns the number of pages. A served
    PDF that is still a plain copy of its original (written before served PDFs lost their
    active content) is rewritten on the way, and the files of a document stored before
    fixity records existed are recorded as they are.

    Documents go in id order, read from the catalog a page of ids at a time; after every
    WRITE_PAGES pages the last document stored is saved in KHO_HOME/reindex.json, so a
    reindex that was stopped carries on after it (into the same unfinished version on
    Elasticsearch) unless `restart`. Memory stays the same however big the archive."""
    say = on_progress or (lambda _line: None)
    index = ctx.index
    state_path = ctx.settings.home / STATE_FILE
    progress = None if restart else _resumable(ctx, _load(state_path))
    total = ctx.catalog.count_indexed_documents()
    if progress is None:
        progress = _fresh(ctx)
        _save(ctx, state_path, progress)
        say(f"reindex: {total} documents into {progress.target or 'the embedded index'}")
    else:
        say(f"reindex: continuing into {progress.target or 'the embedded index'} at document "
            f"{progress.documents + 1} of {total}, after {progress.after[:12]}"
            " (--restart starts over)")  # fmt: skip
    batch: list[PageDoc] = []
    last, said = progress.after, 0.0
    for doc_id in _documents_after(ctx, progress.after):
        batch += _document_pages(ctx, doc_id)
        progress.documents += 1
        last = doc_id
        if len(batch) >= WRITE_PAGES:
            _write(ctx, progress, batch, last, state_path)
            batch = []
            if time.monotonic() - said >= SAY_EVERY_S:
                said = time.monotonic()
                say(f"reindex: {progress.documents}/{total} documents, {progress.pages} pages")
    _write(ctx, progress, batch, last, state_path)
    if progress.target:
        index.swap_alias(progress.target)
    state_path.unlink(missing_ok=True)
    return progress.pages


def _documents_after(ctx: Context, after: str) -> Iterator[str]:
    """Indexed document ids after `after`, in order, a page at a time; those stored before
    fixity records existed get theirs on the way."""
    from kho.core.fixity import recorded_among

    while ids := ctx.catalog.indexed_document_ids(after, ID_PAGE):
        recorded = recorded_among(ctx.catalog, ids)
        for doc_id in ids:
            yield doc_id if doc_id in recorded else _record(ctx, doc_id)
        after = ids[-1]


def _record(ctx: Context, doc_id: str) -> str:
    record_fixity(ctx.catalog, ctx.storage, doc_id)
    return doc_id


def _document_pages(ctx: Context, doc_id: str) -> list[PageDoc]:
    doc = ctx.catalog.document(doc_id)
    if doc.kind == "pdf":
        sanitize_served_copy(ctx, doc)  # records the files it rewrites
    return document_pages(ctx, doc, read_texts(ctx, doc_id))


def _write(ctx: Context, progress: Progress, pages: list[PageDoc], last: str, path) -> None:
    """Store the pages of whole documents, then save that `last` is done."""
    if not pages:
        return
    if progress.target:
        ctx.index.index_pages(pages, index=progress.target, fresh=True)
    else:  # each document in its own transaction: a search sees its old or new pages
        for doc_id, doc_pages in group_pages(pages).items():
            ctx.index.replace_document(doc_id, doc_pages)
    progress.pages += len(pages)
    progress.after = last
    _save(ctx, path, progress)


def _fresh(ctx: Context) -> Progress:
    index = ctx.index
    if hasattr(index, "build_version"):
        return Progress("elasticsearch", index.alias, index.build_version())
    return Progress("embedded", str(index.path))


def _resumable(ctx: Context, progress: Progress | None) -> Progress | None:
    """`progress` if it is of this index and its version still waits to be finished."""
    if progress is None:
        return None
    index = ctx.index
    if hasattr(index, "build_version"):
        ok = progress.backend == "elasticsearch" and progress.index == index.alias
        return progress if ok and index.unfinished_version(progress.target) else None
    ok = progress.backend == "embedded" and progress.index == str(index.path)
    return progress if ok and not progress.target else None


def _load(path) -> Progress | None:
    try:
        return Progress(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # unreadable: start over (the catalog is the truth)
        return None


def _save(ctx: Context, path, progress: Progress) -> None:
    data = json.dumps(asdict(progress), ensure_ascii=False).encode("utf-8")
    atomic_write_bytes(path, data, ctx.storage.policy)


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
