"""The table of contents: what happens to a page and to a document, in order.

`process_page` reads one page (text layer or cleanup + OCR) and records it;
`process_document` runs once all pages are read: searchable PDF, classification, index.
Both are idempotent and take ids, so any executor (local pool, rq) can run and re-run them.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from datetime import UTC

import cv2
import numpy as np

from kho.core import catalog as cat
from kho.core.errors import BadInputError
from kho.core.storage import atomic_write_bytes
from kho.core.types import Access, PageDoc, PageText
from kho.ingest.formats import open_source
from kho.ingest.register import EXT

from .context import Context

log = logging.getLogger("kho.pipeline")
JPEG_QUALITY = 85


@dataclass(frozen=True)
class PageReport:
    doc_id: str
    page: int
    ok: bool
    seconds: float
    reason: str = ""
    source: str = ""
    confidence: float = 0.0


@dataclass(frozen=True)
class DocReport:
    doc_id: str
    status: str  # indexed | failed | waiting
    category: str = ""
    confidence: float = 0.0
    pages_indexed: int = 0
    reason: str = ""


def process_page(ctx: Context, doc_id: str, page: int) -> PageReport:
    """Read page `page` (1-based) of a registered document and record its text."""
    t0 = time.perf_counter()
    doc = ctx.catalog.get_document(doc_id)
    if doc is None:
        raise BadInputError(f"document {doc_id[:12]} is not in the catalog")
    try:
        text = read_page(ctx, doc, page)
    except BadInputError as err:
        ctx.catalog.fail_page(doc_id, page, str(err))
        log.warning("doc %s page %d failed: %s", doc_id[:12], page, err)
        return PageReport(doc_id, page, False, time.perf_counter() - t0, reason=str(err))
    seconds = time.perf_counter() - t0
    ctx.storage.write_page_text(doc_id, page, text)
    ctx.catalog.finish_page(
        doc_id,
        page,
        cat.PageOutcome(
            source=text.source,
            confidence=text.confidence,
            rotation=text.rotation,
            skew=text.skew,
            chars=len(text.text),
            seconds=seconds,
        ),
    )
    return PageReport(doc_id, page, True, seconds, source=text.source, confidence=text.confidence)


def read_page(ctx: Context, doc: cat.Document, page: int) -> PageText:
    """A born-digital page's text layer, else the page image cleaned and OCR'd."""
    from kho.ocr.read import read_image

    settings = ctx.settings
    source = ctx.storage.original(doc.id, EXT[doc.kind])
    with open_source(source, settings.limits) as src:
        if src.kind == "pdf":
            layer = src.text_layer(page - 1)
            if layer is not None:
                return layer
        image = src.render(page - 1)
        dpi = src.dpi(page - 1)
    opts = settings.ocr
    if doc.lang and doc.lang != opts.lang:
        from dataclasses import replace

        opts = replace(opts, lang=doc.lang)
    text, view = read_image(image, opts, timeout=settings.limits.page_timeout_s, dpi=dpi)
    save_page_image(ctx, doc.id, page, view)
    return text


def save_page_image(ctx: Context, doc_id: str, page: int, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BadInputError(f"cannot encode page {page} image")
    atomic_write_bytes(ctx.storage.page_image(doc_id, page), buf.tobytes())


def process_document(ctx: Context, doc_id: str) -> DocReport:
    """Once every page is read: searchable PDF, classification, index. Re-runnable."""
    doc = ctx.catalog.get_document(doc_id)
    if doc is None or doc.status == cat.FAILED:
        return DocReport(doc_id, cat.FAILED, reason=doc.reason if doc else "unknown document")
    pages = ctx.catalog.pages(doc_id)
    if any(p.status == cat.PENDING for p in pages):
        return DocReport(doc_id, "waiting")
    done = [p.page for p in pages if p.status == cat.DONE]
    failed = [p for p in pages if p.status == cat.FAILED]
    if not done:
        reason = failed[0].reason if failed else "no pages"
        ctx.catalog.set_document(
            doc_id, status=cat.FAILED, reason=f"no page could be read: {reason}"
        )
        return DocReport(doc_id, cat.FAILED, reason=reason)
    texts = {n: ctx.storage.read_page_text(doc_id, n) for n in done}
    write_searchable(ctx, doc, texts)
    full_text = "\n\n".join(texts[n].text for n in done)
    from kho.classify.rules import classify_text

    verdict = classify_text(full_text, ctx.taxonomy)
    review = "pending" if verdict.confidence < ctx.taxonomy.review_threshold else ""
    page_docs = [
        PageDoc(
            doc_id=doc_id,
            page=n,
            text=texts[n].text,
            category=verdict.category,
            title=title_of(full_text),
            batch=str(doc.batch_id or ""),
            filename=doc.filename,
            access=Access(level=doc.level, unit=doc.unit, groups=tuple(doc.groups or ())),
            ingested_at=doc.created_at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
            lang=doc.lang,
            confidence=texts[n].confidence,
        )
        for n in done
    ]
    ctx.index.replace_document(doc_id, page_docs)
    reason = "; ".join(f"page {p.page}: {p.reason}" for p in failed)
    ctx.catalog.set_document(
        doc_id,
        status=cat.INDEXED,
        category=verdict.category,
        confidence=verdict.confidence,
        review=review,
        reason=reason,
        meta={"reasons": list(verdict.reasons)},
    )
    return DocReport(doc_id, cat.INDEXED, verdict.category, verdict.confidence, len(done), reason)


def write_searchable(ctx: Context, doc: cat.Document, texts: dict[int, PageText]) -> None:
    """searchable.pdf: the original if it is a born-digital PDF, else images + text layer."""
    from kho.ocr.searchable_pdf import write_searchable_pdf

    out = ctx.storage.searchable_pdf(doc.id)
    if doc.kind == "pdf" and all(t.source == "text-layer" for t in texts.values()):
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ctx.storage.original(doc.id, "pdf"), out)
        return
    pages = []
    for n, text in sorted(texts.items()):
        image = ctx.storage.page_image(doc.id, n)
        if not image.exists():  # a text-layer page of a mixed PDF: render it for the PDF
            with open_source(
                ctx.storage.original(doc.id, EXT[doc.kind]), ctx.settings.limits
            ) as src:
                save_page_image(ctx, doc.id, n, src.render(n - 1))
        pages.append((image, text))
    write_searchable_pdf(pages, out)


def title_of(text: str, limit: int = 160) -> str:
    """The first substantial line, as a display title."""
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= 8:
            return line[:limit]
    return text.strip()[:limit]
