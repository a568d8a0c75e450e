"""The document page: a record's fields, its pages in batches, screen images, editing.

A long document is not one huge page: the first PAGE_BATCH pages are rendered with the
page, every other page is a light slot (its anchor `#page-N` works) whose batch
`document.js` fetches from `/doc/<id>/pages/<start>` as the reader nears it. Page images
are shown from their screen rendition (`workers.renditions`), the stored page image on
demand. Coming from search (`?q=`), the query's words are marked in the page text, as in
the hits' snippets. Every door answers a hidden document as a missing one (404).

Editing the Annex VI fields is for reviewers (`reviewer = true`, who settle what kho read)
who may see the document, as `kho doc edit` does it: `Catalog.edit_document`, one audit row
per save with the fields before and after, the index following at once.
"""

from __future__ import annotations

from datetime import date

from flask import abort, g, redirect, render_template, request, url_for

from kho.core.archival import DATE, DOCUMENT_FIELDS, INT, LEVEL, FieldError, parse_value
from kho.core.errors import UsageError
from kho.core.hierarchy import document_field
from kho.index.base import highlight_text, parse_query
from kho.index.guard import audit

from .format import vn_date
from .pages import link, send_audited, visible
from .state import door

PAGE_BATCH = 10  # pages rendered per batch (the first with the page, the rest on demand)
EDITABLE = tuple(s for s in DOCUMENT_FIELDS if not s.computed)
LONG_FIELDS = ("subject", "recipients", "description")
DOC_ARGS = ("start", "page", "saved")  # the document page's own; the rest is the search's


def register(app) -> None:
    app.add_url_rule("/doc/<doc_id>", "document", document)
    app.add_url_rule("/doc/<doc_id>/pages/<int:start>", "document_pages", document_pages)
    app.add_url_rule("/doc/<doc_id>/page/<int:page>.screen.jpg", "page_screen", page_screen)
    app.add_url_rule("/doc/<doc_id>/edit", "document_edit", document_edit, methods=["POST"])


def may_edit() -> bool:
    """Whether the reader may edit the fields of a document they see."""
    return bool(g.get("reviewer"))


def search_args() -> list[tuple[str, str]]:
    """The search this page was opened from (its query and filters), for highlighting and
    for the way back."""
    return [(k, v) for k, v in request.args.items(multi=True) if k not in DOC_ARGS]


def batch_start(page: int) -> int:
    return (max(page, 1) - 1) // PAGE_BATCH * PAGE_BATCH + 1


def document(doc_id):
    c, doc = visible(doc_id, None)
    wanted = request.args.get("page", "")
    if wanted.isdigit():  # "go to page" without script: to the batch that holds it
        n = min(max(int(wanted), 1), max(doc.page_count, 1))
        there = link(request.args, page=None, start=str(batch_start(n)))
        return redirect(url_for("document", doc_id=doc.id) + there + f"#page-{n}")
    return render_document(c, doc)


def render_document(c, doc, errors=None, typed=None, status: int = 200):
    from kho.archive.records import document_record
    from kho.classify.review import field_reasons
    from kho.exchange.origin import local_origin

    pages = c.catalog.pages(doc.id)
    start = request.args.get("start", "")
    first = {1, batch_start(int(start))} if start.isdigit() else {1}
    shown = [p for p in pages if batch_start(p.page) in first]
    back = search_args()
    record = document_record(doc)
    body = render_template(
        "document.html",
        doc=doc,
        pages=pages,
        slots=page_slots(c, doc, shown),
        review_below=c.settings.ocr.review_confidence,
        batch=PAGE_BATCH,
        rendered={p.page for p in shown},
        fields=field_rows(record),
        held=field_reasons(doc.meta),
        level_reasons=level_reasons(doc),
        place=c.catalog.place_of(doc),
        label={cat.id: cat.label for cat in c.taxonomy.categories}.get(doc.category, doc.category),
        has_pdf=c.storage.searchable_pdf(doc.id).exists(),
        origin=c.catalog.origin_of(doc),
        here=local_origin(c.settings.home),
        back=url_for("search") + "?" + _query(back) if _searched(back) else "",
        query=_query(back),
        may_edit=may_edit(),
        form=edit_rows(doc, errors or {}, typed or {}),
        errors=errors or {},
        saved=request.args.get("saved", ""),
    )
    audit(c.catalog, g.principal, "view", door(), doc_id=doc.id)  # once the page was made
    return body, status


def document_pages(doc_id, start):
    """A batch of page slots (HTML), for the page's script to put in place."""
    c, doc = visible(doc_id, None)
    start = batch_start(start)
    shown = [p for p in c.catalog.pages(doc.id) if batch_start(p.page) == start]
    if not shown:
        abort(404)
    body = render_template(
        "document_pages.html",
        doc=doc,
        slots=page_slots(c, doc, shown),
        review_below=c.settings.ocr.review_confidence,
    )
    pages = [shown[0].page, shown[-1].page]
    audit(c.catalog, g.principal, "view", door(), doc_id=doc.id, pages=pages)
    return body


def page_slots(c, doc, pages) -> list[dict]:
    """What each shown page needs: its record, whether it has an image, its text (with
    the search's words marked, HTML-escaped)."""
    from kho.workers.pipeline import read_texts

    texts = read_texts(c, doc.id, pages)
    parsed = parse_query(request.args.get("q", ""))
    return [
        {
            "p": p,
            "image": c.storage.page_image(doc.id, p.page).exists(),
            "text": highlight_text(texts[p.page].text, parsed) if p.page in texts else None,
        }
        for p in pages
    ]


def page_screen(doc_id, page):
    """A page's screen rendition (made and stored on first request for older pages)."""
    from kho.workers.renditions import screen_image

    c, doc = visible(doc_id, None)
    detail = {"doc_id": doc.id, "page": page, "screen": True}
    try:
        path = screen_image(c, doc.id, page)
    except FileNotFoundError:
        audit(c.catalog, g.principal, "page-failed", door(), **detail)
        abort(404)
    return send_audited(path, "page", detail, "image/jpeg")


def document_edit(doc_id):
    from kho.workers.reindex import follow_edit

    c, doc = visible(doc_id, None)
    if not may_edit():
        audit(c.catalog, g.principal, "denied", door(), doc_id=doc.id, reason="may not edit")
        abort(403)
    typed = {s.name: request.form.get(s.name, "") for s in EDITABLE if s.name in request.form}
    current = {row["name"]: row["value"] for row in edit_rows(doc, {}, {})}
    changed = {k: v for k, v in typed.items() if v.strip() != current.get(k, "").strip()}
    errors = {}
    for spec in EDITABLE:
        if spec.name in changed:
            try:
                parse_value(spec, changed[spec.name])
            except FieldError:
                errors[spec.name] = vietnamese_error(spec)
    if not errors and changed:
        try:
            edit = c.catalog.edit_document(doc.id, changed, g.principal.name, door())
        except UsageError as err:  # the printed mark's floor, an ordinal already taken
            name = "level" if "mark" in str(err) else "doc_ordinal"
            errors[name] = _refusal(name)
        else:
            follow_edit(c, edit)
    if errors:
        return render_document(c, doc, errors, typed, 400)
    there = link(request.args, saved=str(len(changed)))
    return redirect(url_for("document", doc_id=doc.id) + there + "#fields")


def field_rows(record) -> list[dict]:
    """The Annex VI fields as a reader sees them: label, value, and whether a person
    confirmed it or kho proposed it (with its confidence)."""
    rows = []
    for spec in DOCUMENT_FIELDS:
        value = record.values.get(spec.name)
        if value in (None, "", []):
            continue
        state = record.state.get(spec.name, "")
        confidence = state.split()[1] if state.startswith("proposed") else ""
        rows.append(
            {
                "label": spec.label,
                "value": _shown(spec, value),
                "proposed": state.startswith("proposed"),
                "confidence": confidence,
            }
        )
    return rows


def edit_rows(doc, errors: dict, typed: dict) -> list[dict]:
    """The edit form's fields, with what was typed and its error after a refused save."""
    rows = []
    for spec in EDITABLE:
        value = document_field(doc, spec.name) if spec.meta else getattr(doc, spec.name)
        if spec.name == "page_amount" and value is None:
            value = doc.page_count
        shown = _shown(spec, value)
        rows.append(
            {
                "name": spec.name,
                "label": spec.label,
                "value": typed.get(spec.name, shown),
                "kind": "level" if spec.kind == LEVEL else "choice" if spec.choices else "",
                "choices": spec.choices,
                "long": spec.name in LONG_FIELDS,
                "error": errors.get(spec.name, ""),
                "hint": "dd/mm/yyyy" if spec.kind == DATE else "",
            }
        )
    return rows


def level_reasons(doc) -> list[str]:
    """Why the document is at its level: a printed mark that raised it, one held for review."""
    meta = doc.meta or {}
    out = []
    if "level_raised_from" in meta:
        where = meta.get("mark_found") or "trên tài liệu"
        out.append(f"Nâng từ độ mật {meta['level_raised_from']} vì có dấu mật in: {where}")
    held = meta.get("mark_review") or {}
    if held.get("status") == "pending":
        found = ", ".join(held.get("found") or ()) or "không rõ"
        out.append(f"Giữ ở độ mật cao nhất chờ người xác định dấu mật đọc chưa chắc: {found}")
    elif held.get("status") == "decided":
        out.append(f"Dấu mật đã được xác định: độ mật {held.get('level')} ({held.get('by', '')})")
    return out


def vietnamese_error(spec) -> str:
    """What to type instead, in Vietnamese, for a value `parse_value` refused."""
    if spec.kind == DATE:
        return "Ngày không hợp lệ: nhập ngày có thật theo dạng dd/mm/yyyy, ví dụ 05/03/2024."
    if spec.kind == LEVEL:
        return "Độ mật phải là 0, 1, 2 hoặc 3."
    if spec.kind == INT:
        return "Cần một số nguyên không âm, ví dụ 3."
    if spec.choices:
        return "Chọn một trong: " + ", ".join(spec.choices) + "."
    if spec.max_len:
        return f"Tối đa {spec.max_len} ký tự, không có ký tự điều khiển: hãy rút gọn."
    return "Giá trị không hợp lệ: chỉ nhập văn bản thường."


def _refusal(name: str) -> str:
    if name == "level":
        return "Không thể đặt độ mật thấp hơn dấu mật in trên tài liệu."
    return "Số thứ tự này đã có văn bản khác trong hồ sơ: chọn số khác."


def _shown(spec, value) -> str:
    if value in (None, ""):
        return ""
    if spec.kind == DATE:
        return vn_date(value) if isinstance(value, date) else str(value)
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def _searched(args) -> bool:
    return any(v for k, v in args if k != "q") or any(v.strip() for k, v in args if k == "q")


def _query(args) -> str:
    from urllib.parse import urlencode

    return urlencode(args)
