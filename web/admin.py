"""Reviewers' and operators' pages: the review queue, batches/queues/workers, the audit log.

Reviewers (`reviewer = true`) see only the queued documents they may see; operators
(`operator = true`) see the whole system's progress and the audit log, with the documents
they may not see shown as "(tài liệu ẩn)" (the audit log's page is `auditlog.py`). Every
view is written to the audit log.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, flash, g, jsonify, redirect, render_template, request, session, url_for

from kho.index.guard import audit
from kho.workers.context import Context

from .pages import visible
from .state import ctx, door, web

REVIEW_PAGE = 50
REVIEW_COUNT_MAX = 10_000  # pending items counted for the page's heading
PREVIEW_CHARS = 400
DECISIONS = ("review_decide", "review_accept_many")  # kept across a login (keep_decision)


def register(app) -> None:
    app.add_url_rule("/review", "review", review)
    app.add_url_rule("/review/accept", "review_accept_many", review_accept_many, methods=["POST"])
    app.add_url_rule("/review/<doc_id>", "review_decide", review_decide, methods=["POST"])
    app.add_url_rule("/status", "status", status)
    app.add_url_rule("/api/status", "api_status", api_status)


def _only(flag: str):
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.get(flag):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


@_only("reviewer")
def review():
    from kho.classify.review import visible_pending_reviews
    from kho.workers.pipeline import read_texts

    c = ctx()
    apply_kept_decision()
    categories = c.taxonomy.categories
    docs = visible_pending_reviews(c.catalog, g.principal, REVIEW_PAGE)
    total = len(visible_pending_reviews(c.catalog, g.principal, REVIEW_COUNT_MAX))
    previews = {}
    for d in docs:
        texts = read_texts(c, d.id, [p for p in c.catalog.pages(d.id) if p.page == 1])
        image = c.storage.page_image(d.id, 1).exists()
        previews[d.id] = (image, (texts[1].text if 1 in texts else "")[:PREVIEW_CHARS])
    body = render_template(
        "review.html",
        docs=docs,
        total=total,
        previews=previews,
        categories=categories,
        labels={cat.id: cat.label for cat in categories},
    )
    audit(c.catalog, g.principal, "review-list", door(), shown=[d.id for d in docs])
    return body


def decide(doc_id: str, decision: str, category: str = "") -> str:
    """One reviewer's decision on a document they may see (404 otherwise), applied, audited;
    the line that confirms it, from what was recorded."""
    from kho.classify.review import accept, relabel
    from kho.workers.reindex import record_decision

    if decision not in ("accept", "relabel"):
        abort(400)
    c, doc = visible(doc_id, None)
    labels = {cat.id: cat.label for cat in c.taxonomy.categories}
    before = doc.category
    values = accept(doc) if decision == "accept" else relabel(doc, category, c.taxonomy)
    record_decision(c, doc.id, values)  # the reviewer's next search already shows it
    detail = {"decision": decision, "category": category or None}
    audit(c.catalog, g.principal, "review", door(), doc_id=doc.id, **detail)
    after = values.get("category", before)
    name = doc.meta.get("subject") or doc.filename
    return f"{name} ({doc.id[:12]}): {labels.get(before, before)} → {labels.get(after, after)}"


@_only("reviewer")
def review_decide(doc_id):
    line = decide(doc_id, request.form.get("decision", ""), request.form.get("category", ""))
    flash(f"Đã ghi: {line}", "ok")
    return redirect(url_for("review"))


@_only("reviewer")
def review_accept_many():
    ids = request.form.getlist("doc")[:REVIEW_PAGE]
    if not ids:
        flash("Chưa chọn văn bản nào: đánh dấu các ô rồi bấm Chấp nhận các mục đã chọn.", "bad")
    for doc_id in ids:
        flash(f"Đã ghi: {decide(doc_id, 'accept')}", "ok")
    return redirect(url_for("review"))


def keep_decision():
    """A decision posted after the session ended: kept in the (signed) session cookie for
    the principal it named, when its form token is the session's, and applied once that
    principal logs in again (`apply_kept_decision`); otherwise the login page says what to
    redo. Never lost behind a redirect to a POST-only address."""
    from .app import anonymous, check_origin, form_token_ok

    check_origin()
    name = session.get("user")
    kept = None
    if name and form_token_ok():
        ids = [request.view_args.get("doc_id")] if request.view_args.get("doc_id") else []
        kept = {
            "for": name,
            "docs": (ids or request.form.getlist("doc"))[:REVIEW_PAGE],
            "decision": request.form.get("decision", "accept")[:20],
            "category": request.form.get("category", "")[:100],
        }
    anonymous()
    if kept and kept["docs"]:
        session["kept_decision"] = kept
        flash("Phiên làm việc đã hết hạn: đăng nhập lại, quyết định vừa gửi sẽ được ghi ngay "
              "sau khi đăng nhập.", "bad")  # fmt: skip
    else:
        flash("Phiên làm việc đã hết hạn nên quyết định vừa gửi chưa được ghi: đăng nhập lại "
              "rồi chọn lại ở trang Xem xét phân loại.", "bad")  # fmt: skip
    return redirect(url_for("login", next=url_for("review")))


def apply_kept_decision() -> None:
    """The decision kept across the login, applied now if this is the principal who made it."""
    kept = session.pop("kept_decision", None)
    if not isinstance(kept, dict) or kept.get("for") != g.principal.name:
        return
    from werkzeug.exceptions import HTTPException

    for doc_id in kept.get("docs", []):
        try:
            line = decide(str(doc_id), kept.get("decision", ""), kept.get("category", ""))
        except HTTPException:  # gone from the queue, or no longer visible: said, not applied
            flash(f"Không ghi được quyết định cho {str(doc_id)[:12]}: chọn lại bên dưới.", "bad")
            continue
        flash(f"Đã ghi (gửi trước khi đăng nhập lại): {line}", "ok")


@_only("operator")
def status():
    c = ctx()
    body = render_template("status.html", st=system_status(c))
    audit(c.catalog, g.principal, "status", door(), format="html")
    return body


@_only("operator")
def api_status():
    c = ctx()
    body = jsonify(system_status(c).to_json())
    audit(c.catalog, g.principal, "status", door(), format="json")
    return body


def system_status(c: Context):
    """`kho status`'s value as the reader may see it: batches from the catalog; queues and
    workers if Redis answers."""
    from kho.workers.status import collect_status

    conn, why = web().queues()
    return collect_status(c, conn, failures=20, queue_error=why, principal=g.principal)
