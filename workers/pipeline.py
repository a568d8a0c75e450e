"""The table of contents: what happens to a page and to a document, in order.

`process_page` reads one page (text layer or cleanup + OCR) and records it;
`process_document` runs once all pages are read: searchable PDF, classification, a scan's
archival master, index.
Both are idempotent and take ids, so any executor (local pool, rq) can run and re-run them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC

import cv2
import numpy as np

from kho.archive.fixity import checked_original, record_fixity
from kho.core import catalog as cat
from kho.core.errors import BadInputError, KhoError, storage_trouble
from kho.core.hierarchy import document_field
from kho.core.logs import scoped
from kho.core.settings import OcrOptions
from kho.core.storage import StoredTexts
from kho.core.types import PageDoc, PageText
from kho.exchange.origin import local_origin
from kho.ingest.formats import open_source
from kho.ingest.register import EXT

from .context import Context
from .renditions import write_screen
from .sources import page_source

log = logging.getLogger("kho.pipeline")
JPEG_QUALITY = 85
MAX_IMAGE_AREAS = 8  # images OCR'd one by one on a born-digital page; more: the whole page


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


@scoped
def process_page(ctx: Context, doc_id: str, page: int) -> PageReport:
    """Read page `page` (1-based) of a registered document and record its text."""
    t0 = time.perf_counter()
    doc = ctx.catalog.get_document(doc_id)
    if doc is None:
        raise BadInputError(f"document {doc_id[:12]} is not in the catalog")
    try:
        text = read_page(ctx, doc, page)
    except BadInputError as err:
        if (trouble := storage_trouble(err, ctx.settings.home)) is not None:
            raise trouble from err  # the storage failed us, not the file
        ctx.catalog.fail_page(doc_id, page, str(err))
        log.warning("doc %s page %d failed: %s", doc_id[:12], page, err)
        return PageReport(doc_id, page, False, time.perf_counter() - t0, reason=str(err))
    seconds = time.perf_counter() - t0
    ctx.storage.write_page_text(doc_id, page, text)
    ctx.catalog.finish_page(doc_id, page, outcome_of(text, seconds))
    log.info(
        "page read from %s in %.2f s, confidence %.1f; cleanup: %s",
        text.source,
        seconds,
        text.confidence,
        "; ".join(text.steps) or "none",
    )
    return PageReport(doc_id, page, True, seconds, source=text.source, confidence=text.confidence)


def run_task(
    ctx: Context, doc_id: str, page: int = 0, passing: tuple[type[BaseException], ...] = ()
) -> PageReport | DocReport:
    """`process_page` (page >= 1) or `process_document` (page 0) with every failure settled.

    Bad data and bugs become the page's or document's recorded failure (a bug on one file
    must not stop the batch); system trouble is raised, the work left to do again: a
    service down, the disk full, a stored file missing (and the executor's `passing`
    errors, such as its own time limit).
    """
    try:
        return process_page(ctx, doc_id, page) if page else process_document(ctx, doc_id)
    except passing:
        raise
    except Exception as err:  # noqa: BLE001 - sorted into trouble and failure below
        trouble = system_trouble(ctx, err)
        if trouble is err:
            raise
        if trouble is not None:
            raise trouble from err
        reason = failure_reason(ctx, err)
        if isinstance(err, MemoryError):
            log.warning("doc %s page %d: %s", doc_id[:12], page, reason)
        else:
            log.exception("doc %s page %d: %s", doc_id[:12], page, reason)
        return record_failure(ctx, doc_id, page, reason)


def system_trouble(ctx: Context, err: BaseException) -> KhoError | None:
    """`err` as the system trouble it is (retry it, stop the batch), or None if it is the
    page's or document's own failure (bad data, a bug, a page too big for the memory)."""
    found = storage_trouble(err, ctx.settings.home)
    if found is not None:
        return found
    if isinstance(err, KhoError) and not isinstance(err, BadInputError):
        return err
    return None


def failure_reason(ctx: Context, err: BaseException) -> str:
    """The one-line reason kept for a failure that is not bad input's own."""
    if isinstance(err, MemoryError):
        return memory_reason(ctx.settings.limits.worker_memory_mb)
    if isinstance(err, BadInputError):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"


def memory_reason(megabytes: int) -> str:
    return (
        f"page needs more than {megabytes} MB of memory ([limits] worker_memory_mb): "
        "raise the limit to read it"
    )


def record_failure(ctx: Context, doc_id: str, page: int, reason: str) -> PageReport | DocReport:
    """A page or document failed for good with `reason`; the batch goes on."""
    if page:
        ctx.catalog.fail_page(doc_id, page, reason)
        return PageReport(doc_id, page, False, 0.0, reason=reason)
    ctx.catalog.set_document(doc_id, status=cat.FAILED, reason=reason)
    return DocReport(doc_id, cat.FAILED, reason=reason)


def outcome_of(text: PageText, seconds: float) -> cat.PageOutcome:
    """What the catalog keeps of a page reading."""
    return cat.PageOutcome(
        source=text.source,
        confidence=text.confidence,
        rotation=text.rotation,
        skew=text.skew,
        chars=len(text.text),
        seconds=seconds,
    )


def read_page(
    ctx: Context, doc: cat.Document, page: int, opts: OcrOptions | None = None
) -> PageText:
    """A born-digital page's text layer, else the page image cleaned and OCR'd with `opts`
    (default: the settings' OCR options in the document's language)."""

    settings = ctx.settings
    with page_source(original_of(ctx, doc), settings.limits) as src:
        if src.kind == "pdf":
            layer = src.text_layer(page - 1)
            if layer is not None:
                read_page_images(ctx, doc, page, src)
                return layer
        image = src.render(page - 1)
        dpi = src.dpi(page - 1)
    if opts is None:
        opts = settings.ocr
        if doc.lang and doc.lang != opts.lang:
            opts = replace(opts, lang=doc.lang)
    text, view = read_scan(image, dpi, doc.kind, opts, settings.limits.page_timeout_s)
    save_page_image(ctx, doc.id, page, view)
    return text


def original_of(ctx: Context, doc: cat.Document):
    """The stored original to derive from, once it hashes to the document's id (else
    CorruptOriginalError: system trouble, the page left pending, nothing re-derived)."""
    return checked_original(ctx.storage, doc.id, EXT[doc.kind])


def read_scan(
    image: np.ndarray, dpi: int, kind: str, opts, timeout: float
) -> tuple[PageText, np.ndarray]:
    """OCR a page image; a signed PDF's rendered signing overlay is left out of its text."""
    from kho.ingest.signatures import without_overlay_lines
    from kho.ocr.layout import lay_out
    from kho.ocr.read import read_image

    text, view = read_image(image, opts, timeout=timeout, dpi=dpi)
    if kind == "pdf":
        bare = without_overlay_lines(text)
        if bare is not text:
            text = lay_out(bare, view)
    return text, view


def read_page_images(ctx: Context, doc: cat.Document, page: int, src) -> None:
    """OCR the images a born-digital page draws (a stamped mark, a scanned header) into
    `page-NNNNN.images.txt`, where the mark search reads them; its text layer does not
    say what they show."""
    from kho.ocr.tesseract import ocr_image

    out = page_images_text_path(ctx, doc.id, page)
    boxes = src.image_boxes(page - 1)
    if not boxes:
        out.unlink(missing_ok=True)
        return
    image = src.render(page - 1)
    if len(boxes) > MAX_IMAGE_AREAS:  # many small images: read the whole page once
        boxes = [(0, 0, image.shape[1], image.shape[0])]
    opts, limits = ctx.settings.ocr, ctx.settings.limits
    texts = []
    for left, top, right, bottom in boxes:
        area = image[top:bottom, left:right]
        if area.size:
            lang = doc.lang or opts.lang
            read = ocr_image(
                np.ascontiguousarray(area),
                lang=lang,
                psm=opts.psm,
                oem=opts.oem,
                timeout=limits.page_timeout_s,
                dpi=src.dpi(page - 1),
                engine=opts.engine,
                tessdata=opts.tessdata,
                tone_marks=opts.tone_marks,
            )
            texts.append(read.text)
    ctx.storage.write_bytes(out, "\n\n".join(texts).encode("utf-8"))


def page_images_text_path(ctx: Context, doc_id: str, page: int):
    return ctx.storage.doc_dir(doc_id) / f"page-{page:05d}.images.txt"


def save_page_image(ctx: Context, doc_id: str, page: int, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BadInputError(f"cannot encode page {page} image")
    ctx.storage.write_bytes(ctx.storage.page_image(doc_id, page), buf.tobytes())
    write_screen(ctx, doc_id, page, image)  # what the web shows; recorded with the others


@scoped
def process_document(ctx: Context, doc_id: str) -> DocReport:
    """Once every page is read: searchable PDF, classification, index. Re-runnable."""
    doc = ctx.catalog.get_document(doc_id)
    if doc is None or doc.status == cat.FAILED:
        return DocReport(doc_id, cat.FAILED, reason=doc.reason if doc else "unknown document")
    pages = ctx.catalog.pages(doc_id)
    if any(p.status == cat.PENDING for p in pages):
        return DocReport(doc_id, "waiting")
    failed = [p for p in pages if p.status == cat.FAILED]
    if not any(p.status == cat.DONE for p in pages):
        reason = failed[0].reason if failed else "no pages"
        ctx.catalog.set_document(
            doc_id, status=cat.FAILED, reason=f"no page could be read: {reason}"
        )
        return DocReport(doc_id, cat.FAILED, reason=reason)
    texts = read_texts(ctx, doc_id, pages)
    write_searchable(ctx, doc, texts)
    classify_and_describe(ctx, doc, texts)
    doc = ctx.catalog.document(doc_id)  # with its category, metadata and level now
    write_master(ctx, doc, texts)
    ctx.index.replace_document(doc_id, document_pages(ctx, doc, texts))
    reason = "; ".join(f"page {p.page}: {p.reason}" for p in failed)
    if not ctx.catalog.finish_index(doc_id, reason):
        log.info("doc %s: a page is to be read again; indexed again after it", doc_id[:12])
        return DocReport(doc_id, "waiting")
    latest = ctx.catalog.document(doc_id)
    if latest.access != doc.access:  # tightened meanwhile (same bytes again, an attachment)
        doc = latest
        ctx.index.replace_document(doc_id, document_pages(ctx, doc, texts))
    record_fixity(ctx.catalog, ctx.storage, doc_id)
    log.info(
        "indexed: %d pages, category %s (%.2f, %s), level %d",
        len(texts),
        doc.category,
        doc.confidence,
        "; ".join((doc.meta or {}).get("reasons", ())) or "no reasons given",
        doc.level,
    )
    return DocReport(doc_id, cat.INDEXED, doc.category, doc.confidence, len(texts), reason)


def document_pages(ctx: Context, doc: cat.Document, texts: StoredTexts) -> list[PageDoc]:
    """The index's view of a document's pages, from its catalog record (its place in the
    archive, the node it came from) and page texts."""
    fonds, dossier = ctx.catalog.place_of(doc)
    origin = ctx.catalog.origin_of(doc)  # None: made here, by this node
    node, unit = (origin.node, origin.unit) if origin else local_origin(ctx.settings.home)
    light = texts.light
    issued = document_field(doc, "issued_date")
    shared = dict(  # the document's fields, the same on every page: worked out once
        doc_id=doc.id,
        category=doc.category,
        title=document_field(doc, "subject")
        or title_of("\n\n".join(t.text for t in light.values())),
        batch=str(doc.batch_id or ""),
        filename=doc.filename,
        access=doc.access,
        doc_type=document_field(doc, "type_name"),
        issuer=document_field(doc, "organ_name"),
        doc_date=issued.isoformat() if hasattr(issued, "isoformat") else issued,
        ingested_at=doc.created_at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
        lang=doc.lang,
        fonds=fonds,
        dossier=dossier,
        origin_node=node,
        origin_unit=unit,
    )
    return [
        PageDoc(page=n, text=text.text, confidence=text.confidence, **shared)
        for n, text in light.items()
    ]


def read_texts(ctx: Context, doc_id: str, pages: list[cat.Page] | None = None) -> StoredTexts:
    """Page number -> text of every page read so far (the DONE ones of `pages`, default the
    document's pages in the catalog), in page order, each read from storage when asked."""
    if pages is None:
        pages = ctx.catalog.pages(doc_id)
    return StoredTexts(ctx.storage, doc_id, [p.page for p in pages if p.status == cat.DONE])


def classify_and_describe(ctx: Context, doc: cat.Document, texts: StoredTexts):
    """Record category (unless a person decided it), header metadata and effective level.

    A confidentiality mark printed anywhere on the record (any page, its images, the files
    it carries) raises the level set at ingest, never lowers it; a mark-like token that
    cannot be read holds it at level 3 for review (`classify.review.mark_values`). A raise
    is logged and kept in the document's metadata.
    """
    from kho.classify.marks import find_marks
    from kho.classify.metadata import extract_metadata
    from kho.classify.model import classify_document
    from kho.classify.review import classification_values, field_values, mark_values

    pages = list(texts.light.items())
    full_text = "\n\n".join(t.text for _, t in pages)
    verdict = classify_document(full_text, ctx.taxonomy, ctx.classifier)
    meta = extract_metadata(texts[pages[0][0]], foot=texts[pages[-1][0]])  # with their boxes
    values = classification_values(doc, verdict, ctx.taxonomy.review_threshold)
    info = {**(doc.meta or {}), **meta.to_json(), "reasons": list(verdict.reasons)}
    if doc.kind == "pdf":
        info["signatures"] = pdf_signatures(ctx, doc)
    finding = find_marks(
        [(n, t.text) for n, t in pages] + [(n, images_text(ctx, doc.id, n)) for n, _ in pages]
    )
    review = values.get("review", doc.review)
    # header fields read without confidence wait for a person, stored empty meanwhile
    fielded = field_values(info, ctx.settings.review.field_confidence, review)
    if fielded["meta"].get("field_review", {}).get("status") == "pending":
        log.warning(
            "doc %s: header fields held for review: %s",
            doc.id[:12],
            ", ".join(sorted(fielded["meta"]["field_review"]["fields"])),
        )
    info, review = fielded["meta"], fielded["review"]
    marked = mark_values(doc.level, info, finding, review)
    if marked["level"] > doc.level:
        log.warning(
            "doc %s: marked level %d (%s) above its level %d: raised to %d",
            doc.id[:12],
            finding.level,
            finding.where or "; ".join(finding.uncertain) + ", held for review",
            doc.level,
            marked["level"],
        )
    if marked["review"] != values.get("review", doc.review):
        values["review"] = marked["review"]
    ctx.catalog.set_document(doc.id, meta=marked["meta"], **values)
    ctx.catalog.propose_fields(doc.id, marked["meta"], doc.lang)  # a person's stay as set
    # only ever up: ingest may have tightened the level since `doc` was read
    ctx.catalog.raise_level(doc.id, marked["level"])
    raise_family(ctx, doc, marked["meta"], marked["level"])
    return verdict


def pdf_signatures(ctx: Context, doc: cat.Document) -> list[dict]:
    """Who signed a PDF and when: its /Sig fields and its signing overlay's lines."""
    from kho.ingest.signatures import read_signatures

    return [s.to_json() for s in read_signatures(original_of(ctx, doc))]


def images_text(ctx: Context, doc_id: str, page: int) -> str:
    """What OCR read in a born-digital page's images ("" if it draws none)."""
    path = page_images_text_path(ctx, doc_id, page)
    return path.read_text(encoding="utf-8") if path.exists() else ""


def raise_family(ctx: Context, doc: cat.Document, meta: dict, level: int) -> None:
    """A PDF and the files it carries (and theirs) share the highest level any of them is
    marked with: raise the others to `level` and index them again."""
    held = meta.get("mark_review") or {}
    if held.get("status") == "pending":
        level = held.get("level_before", 0)  # they take what was read, not the hold
    todo = [meta.get("parent"), *meta.get("attachments", [])]
    seen = {doc.id}
    while todo:
        other_id = todo.pop()
        if not other_id or other_id in seen:
            continue
        seen.add(other_id)
        other = ctx.catalog.get_document(other_id)
        if other is None:
            continue
        todo += [(other.meta or {}).get("parent"), *(other.meta or {}).get("attachments", [])]
        if ctx.catalog.raise_level(other_id, level):
            log.warning(
                "doc %s: raised to level %d with %s, a PDF or file it carries",
                other_id[:12],
                level,
                doc.id[:12],
            )
            other = ctx.catalog.document(other_id)
            if other.status == cat.INDEXED:
                ctx.index.replace_document(
                    other_id, document_pages(ctx, other, read_texts(ctx, other_id))
                )


def write_searchable(ctx: Context, doc: cat.Document, texts: StoredTexts) -> None:
    """searchable.pdf: a born-digital PDF's original without its active content, else
    images + text layer."""
    from kho.ocr.searchable_pdf import write_searchable_pdf

    out = ctx.storage.searchable_pdf(doc.id)
    if doc.kind == "pdf" and all(t.source == "text-layer" for t in texts.light.values()):
        write_sanitized_pdf(ctx, doc, out)
        return

    def pages():  # one at a time: the writer holds one page's image and text
        for n, text in texts.items():
            image = ctx.storage.page_image(doc.id, n)
            if not image.exists():  # a text-layer page of a mixed PDF: render it for the PDF
                with page_source(original_of(ctx, doc), ctx.settings.limits) as src:
                    save_page_image(ctx, doc.id, n, src.render(n - 1))
            yield image, text

    with ctx.storage.writer(out) as f:
        write_searchable_pdf(pages(), f)


def write_master(ctx: Context, doc: cat.Document, texts: StoredTexts) -> None:
    """master.pdf: a scanned document's PDF/A-2b archival master (`archive.master`)."""
    from kho.archive.master import store_master

    title = title_of("\n\n".join(t.text for t in texts.light.values()))
    store_master(ctx.storage, ctx.settings.limits, doc, texts, title)


def write_sanitized_pdf(ctx: Context, doc: cat.Document, out) -> None:
    """A born-digital PDF as served: its original rewritten without active content or
    embedded files (the original itself stays as it came)."""
    from kho.ingest.pdfsafe import sanitized_pdf

    data, removed = sanitized_pdf(original_of(ctx, doc))
    if removed:
        what = ", ".join(f"{k} x{n}" for k, n in sorted(removed.items()))
        log.warning("doc %s: active content left out of the served PDF: %s", doc.id[:12], what)
    ctx.storage.write_bytes(out, data)


def title_of(text: str, limit: int = 160) -> str:
    """The first substantial line, as a display title."""
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= 8:
            return line[:limit]
    return text.strip()[:limit]


def read_file(path, settings, opts=None, images: bool = False):
    """Read every page of a loose file (not ingested): yields (page, PageText, image).

    Born-digital pages give their text layer; others are cleaned and OCR'd with `opts`
    (default: the settings' OCR options). `image` is the page as the text's boxes describe
    it (upright, deskewed), or None unless `images`. Bad input raises BadInputError.
    """

    opts = opts or settings.ocr
    with open_source(path, settings.limits) as src:
        for i in range(src.page_count):
            layer = src.text_layer(i) if src.kind == "pdf" else None
            if layer is not None:
                yield i + 1, layer, src.render(i) if images else None
                continue
            text, view = read_scan(
                src.render(i), src.dpi(i), src.kind, opts, settings.limits.page_timeout_s
            )
            yield i + 1, text, view if images else None
