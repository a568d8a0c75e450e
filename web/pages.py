"""The officers' pages: login, search (HTML and JSON), a document, its page images and PDF.

Search goes through the index's own access filter; a document, its images and its file
through `index.guard.visible_document`, so a hidden document answers 404 like a missing one.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from flask import abort, g, jsonify, redirect, render_template, request, send_file, session, url_for

from kho.core.catalog import now
from kho.core.errors import KhoError, NotFoundError, ServiceError
from kho.core.types import Principal
from kho.index.base import SearchQuery
from kho.index.guard import audit, audit_search, visible_document
from kho.workers.context import Context

from . import auth
from .state import ctx, door, web

FACETS = ("category", "doc_type", "unit", "level")
FILTERS = ("category", "doc_type", "unit", "level")
PAGE_SIZE = 20
MAX_QUERY = 500


def register(app) -> None:
    app.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    app.add_url_rule("/logout", "logout", logout, methods=["POST"])
    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/", "search", search)
    app.add_url_rule("/api/search", "api_search", api_search)
    app.add_url_rule("/doc/<doc_id>", "document", document)
    app.add_url_rule("/doc/<doc_id>/page/<int:page>.jpg", "page_image", page_image)
    app.add_url_rule("/doc/<doc_id>/pdf", "document_pdf", document_pdf)


def login():
    if web().mode != "password":
        return redirect(url_for("search"))
    error = ""
    target = request.values.get("next") or "/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/"  # only back into this site
    if request.method == "POST":  # its token was checked by app.identify
        name = request.form.get("name", "").strip()[:100]
        if locked_out(name):
            ctx().catalog.record_access(name, "login-locked", **door())
            minutes = web().settings.web.lockout_minutes
            error = f"Quá nhiều lần đăng nhập sai: thử lại sau {minutes:g} phút."
            return render_template("login.html", error=error, next=target), 429
        principal = auth.check_login(web().settings, name, request.form.get("password", ""))
        if principal is None:
            time.sleep(0.5)
            ctx().catalog.record_access(name, "login-failed", **door())
            error = "Sai tên đăng nhập hoặc mật khẩu."
        else:
            session.clear()
            session.update(user=principal.name, since=time.time())
            session["csrf"] = secrets.token_urlsafe(24)
            ctx().catalog.record_access(principal.name, "login", **door())
            return redirect(target)
    return render_template("login.html", error=error, next=target)


def locked_out(name: str) -> bool:
    """Too many failed logins for this name lately (counted in the audit log, so every web
    process and restart sees the same count)."""
    opts = web().settings.web
    since = now() - timedelta(minutes=opts.lockout_minutes)
    return ctx().catalog.count_audit(name, "login-failed", since) >= opts.max_failed_logins


def logout():
    session.clear()
    return redirect(url_for("login") if web().mode == "password" else "/")


def health():
    return {"ok": True}


def search():
    q, result, error = run_search(ctx(), g.principal)
    taxonomy = ctx().taxonomy
    return render_template(
        "search.html",
        q=q,
        result=result,
        error=error,
        labels={c.id: c.label for c in taxonomy.categories},
        categories=taxonomy.categories,
        args=request.args,
        link=link,
    )


def api_search():
    _, result, error = run_search(ctx(), g.principal)
    if error:
        return jsonify(error=error), 400
    return jsonify(
        total=result.total if result else 0,
        hits=[h.to_json() for h in result.hits] if result else [],
        facets=result.facets if result else {},
        next=result.next_cursor if result else None,
    )


def visible(doc_id: str, action: str, **detail):
    """(context, document) if the reader may see it, audited as `action`; else 404."""
    c = ctx()
    try:
        doc = visible_document(c.catalog, c.index, doc_id, g.principal, door())
    except NotFoundError:
        abort(404)
    audit(c.catalog, g.principal, action, door(), doc_id=doc.id, **detail)
    return c, doc


def document(doc_id):
    c, doc = visible(doc_id, "view")
    pages = c.catalog.pages(doc.id)
    texts = {
        p.page: c.storage.read_page_text(doc.id, p.page).text for p in pages if p.status == "done"
    }
    labels = {cat.id: cat.label for cat in c.taxonomy.categories}
    return render_template(
        "document.html",
        doc=doc,
        pages=pages,
        texts=texts,
        label=labels.get(doc.category, doc.category),
        has_pdf=c.storage.searchable_pdf(doc.id).exists(),
        images={p.page for p in pages if c.storage.page_image(doc.id, p.page).exists()},
        review_below=c.settings.ocr.review_confidence,
    )


def page_image(doc_id, page):
    c, doc = visible(doc_id, "page", page=page)
    path = c.storage.page_image(doc.id, page)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)


def document_pdf(doc_id):
    c, doc = visible(doc_id, "file", format="pdf")
    path = c.storage.searchable_pdf(doc.id)
    if not path.exists():
        abort(404)
    name = Path(doc.filename).stem + ".pdf"
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name)


def run_search(c: Context, principal: Principal):
    """(query, result or None, error) for the request's arguments; audited when run."""
    args = request.args
    text = args.get("q", "")[:MAX_QUERY].strip()
    filters = {k: tuple(v[:200] for v in args.getlist(k) if v) for k in FILTERS}
    filters = {k: v for k, v in filters.items() if v}
    try:
        q = SearchQuery(
            text=text,
            filters=filters,
            date_from=args.get("from") or None,
            date_to=args.get("to") or None,
            sort=args.get("sort", "relevance"),
            limit=PAGE_SIZE,
            after=args.get("after") or None,
            facets=FACETS,
        )
    except (KhoError, ValueError) as err:
        return None, None, str(err)
    if not text and not filters and not q.date_from and not q.date_to:
        return q, None, ""  # the empty form
    try:
        result = c.index.search(q, principal)
    except ServiceError:
        raise
    except (KhoError, ValueError) as err:
        return q, None, str(err)
    audit_search(c.catalog, principal, door(), q, result)
    return q, result, ""


def link(args, **changes) -> str:
    """The current query string with some arguments changed (None removes one)."""
    items = [(k, v) for k, v in args.items(multi=True) if k not in changes and k != "after"]
    items += [(k, v) for k, v in changes.items() if v is not None]
    return "?" + urlencode(items)
