"""Reviewers' and operators' pages: the review queue, batches/queues/workers, the audit log.

Reviewers (`reviewer = true`) see only the queued documents they may see; operators
(`operator = true`) see the whole system's progress and the audit log, with the documents
they may not see shown as "(tài liệu ẩn)" (the audit log's page is `auditlog.py`). Every
view is written to the audit log.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, g, jsonify, redirect, render_template, request, url_for

from kho.index.guard import audit
from kho.workers.context import Context

from .pages import visible
from .state import ctx, door, web

REVIEW_PAGE = 50


def register(app) -> None:
    app.add_url_rule("/review", "review", review)
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

    c = ctx()
    categories = c.taxonomy.categories
    docs = visible_pending_reviews(c.catalog, g.principal, REVIEW_PAGE)
    body = render_template(
        "review.html",
        docs=docs,
        categories=categories,
        labels={cat.id: cat.label for cat in categories},
        decided=request.args.get("decided", ""),
    )
    audit(c.catalog, g.principal, "review-list", door(), shown=[d.id for d in docs])
    return body


@_only("reviewer")
def review_decide(doc_id):
    from kho.classify.review import accept, relabel
    from kho.workers.reindex import record_decision

    decision = request.form.get("decision", "")
    if decision not in ("accept", "relabel"):
        abort(400)
    category = request.form.get("category", "")
    c, doc = visible(doc_id, None)
    before = doc.category
    values = accept(doc) if decision == "accept" else relabel(doc, category, c.taxonomy)
    record_decision(c, doc.id, values)  # the reviewer's next search already shows it
    detail = {"decision": decision, "category": category or None}
    audit(c.catalog, g.principal, "review", door(), doc_id=doc.id, **detail)
    after = values.get("category", before)
    return redirect(url_for("review", decided=f"{doc.id[:12]}: {before} → {after}"))


@_only("operator")
def status():
    c = ctx()
    body = render_template("status.html", st=system_status(c), fmt_eta=fmt_seconds)
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


def fmt_seconds(s) -> str:
    if s is None:
        return "—"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
