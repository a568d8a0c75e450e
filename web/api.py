"""The JSON API (/api/v1) for programs: search, documents with their page texts and PDFs,
batches and uploads; described by /api/v1/openapi.json (web/openapi.py).

Each route is a thin door over the same functions as the pages: `pages.run_search`,
`pages.visible` (a hidden document answers 404 like a missing one), `pages.document_pdf`
(a use copy marked for the reader), and web/batches.py's visibility and upload. A program
comes with a token (`Authorization: Bearer`, `kho web token create`), checked by
`app.identify` on these routes only; a browser's session works here too. Every failure is
JSON: {"error", "hint", "code"}, in Vietnamese.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, abort, g, jsonify, request, url_for

from kho.core.archival import DOCUMENT_FIELDS
from kho.index.base import MAX_WINDOW
from kho.index.guard import audit

from . import batches, pages
from .state import ctx, door

PREFIX = "/api/v1"
BATCHES_SHOWN = 50  # as the batches page
MAX_OFFSET = MAX_WINDOW - pages.PAGE_SIZE  # deeper: the `after` cursor
SEARCH_HINT = "Sửa tham số tìm kiếm (xem /api/v1/openapi.json) rồi gửi lại."
UPLOAD_HINT = "Sửa các mục trong problems rồi gửi lại."
bp = Blueprint("api_v1", __name__, url_prefix=PREFIX)


def register(app) -> None:
    app.register_blueprint(bp)


def problem(code: int, error: str, hint: str, **more):
    """A refusal this API words itself (the rest come from app._error_page)."""
    resp = jsonify(error=error, hint=hint, code=code, **more)
    resp.status_code = code
    return resp


@bp.get("/openapi.json")
def description():
    from . import openapi  # which describes this module's routes

    audit(ctx().catalog, g.principal, "openapi", door())
    return jsonify(openapi.description())


@bp.get("/search")
def search():
    """/api/search's parameters, and `offset` (hits to skip, instead of the `after` cursor)."""
    raw = request.args.get("offset", "0")
    if not raw.isdigit() or int(raw) > MAX_OFFSET:
        return problem(400, f"offset phải là số nguyên từ 0 đến {MAX_OFFSET}.", SEARCH_HINT)
    offset = int(raw)
    if offset and request.args.get("after"):
        return problem(400, "Dùng offset hoặc after, không dùng cả hai.", SEARCH_HINT)
    _, result, error = pages.run_search(ctx(), g.principal, offset=offset)
    if error:
        return problem(400, error, SEARCH_HINT)
    return jsonify(
        total=result.total if result else 0,
        offset=offset,
        limit=pages.PAGE_SIZE,
        hits=[h.to_json() for h in result.hits] if result else [],
        facets=result.facets if result else {},
        next=result.next_cursor if result else None,
        loose=result.loose if result else 0,
        estimated=result.estimated if result else False,
    )


@bp.get("/documents/<doc_id>")
def document(doc_id):
    from kho.archive.records import document_record

    c, doc = pages.visible(doc_id, "view", format="json")
    record = document_record(doc)
    return jsonify(
        id=doc.id,
        filename=doc.filename,
        kind=doc.kind,
        page_count=doc.page_count,
        unit=doc.unit,
        level=doc.level,
        groups=list(doc.groups or ()),
        category=doc.category,
        status=doc.status,
        created_at=_plain(doc.created_at),
        fields={s.name: _plain(record.values.get(s.name)) for s in DOCUMENT_FIELDS},
        field_state=record.state,  # "confirmed", or "proposed CONFIDENCE" (read by kho)
        pages=[_page(p) for p in c.catalog.pages(doc.id)],
        pdf=url_for("api_v1.pdf", doc_id=doc.id),
    )


@bp.get("/documents/<doc_id>/pages/<int:page>/text")
def page_text(doc_id, page):
    from kho.workers.pipeline import read_texts

    c, doc = pages.visible(doc_id, None)
    texts = read_texts(c, doc.id, [p for p in c.catalog.pages(doc.id) if p.page == page])
    detail = {"doc_id": doc.id, "page": page, "format": "text"}
    if page not in texts:  # no such page, or not read yet
        audit(c.catalog, g.principal, "page-failed", door(), **detail)
        abort(404)
    audit(c.catalog, g.principal, "page", door(), **detail)
    text = texts[page]
    return jsonify(doc_id=doc.id, page=page, text=text.text, confidence=text.confidence)


@bp.get("/documents/<doc_id>/pdf")
def pdf(doc_id):
    return pages.document_pdf(doc_id)


@bp.get("/batches")
def batch_list():
    rows = batches.visible_batches()[:BATCHES_SHOWN]
    audit(ctx().catalog, g.principal, "batches", door(), shown=[b.name for b in rows],
          format="json")  # fmt: skip
    return jsonify(batches=[batches.batch_json(b) for b in rows])


@bp.get("/batches/<int:batch_id>")
def batch(batch_id):
    return batches.api_batch(batch_id)


@bp.post("/batches")
def upload():
    """The upload page's form as multipart/form-data: the same fields, limits, sniffing
    and permission (`uploader = true`)."""
    if not batches.may_upload():
        audit(ctx().catalog, g.principal, "denied", door(), reason="may not upload")
        abort(403)
    _, up = batches.take_upload()
    if up.errors:
        return problem(400, up.errors[0], UPLOAD_HINT, problems=up.errors)
    body = jsonify(batch=batches.batch_json(batches.owned_batch(up.batch_id)),
                   counts=up.counts, refused=up.lines)  # fmt: skip
    body.status_code = 201
    body.headers["Location"] = url_for("api_v1.batch", batch_id=up.batch_id)
    return body


def _page(p) -> dict:
    return {"page": p.page, "status": p.status, "confidence": p.confidence}


def _plain(value):
    """A field's value as JSON has it: dates in ISO form, lists as lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value
