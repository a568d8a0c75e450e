"""The officers' pages: login, search (HTML and JSON), a document, its page images and PDF.

Search goes through the index's own access filter; a document, its images and its file
through `index.guard.visible_document`, so a hidden document answers 404 like a missing one.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from flask import (
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from kho.core.errors import BadInputError, KhoError, NotFoundError, ServiceError
from kho.core.types import Principal
from kho.index.base import SearchQuery
from kho.index.guard import audit, audit_search, visible_document
from kho.workers.context import Context

from . import auth, format, searchview, sessions
from .searchview import FACET_LABELS, FILTERS, PAGE_SIZE
from .state import ctx, door, web

log = logging.getLogger("kho.web")

FACETS = FILTERS
SUGGEST_CHARS = 100  # a longer prefix is cut here
SUGGEST_LIMIT = 8  # suggestions per answer
MAX_QUERY = 500


def register(app) -> None:
    app.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    app.add_url_rule("/logout", "logout", logout, methods=["POST"])
    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
    app.add_url_rule("/", "search", search)
    app.add_url_rule("/api/search", "api_search", api_search)
    app.add_url_rule("/api/suggest", "api_suggest", api_suggest)
    app.add_url_rule("/doc/<doc_id>/page/<int:page>.jpg", "page_image", page_image)
    app.add_url_rule("/doc/<doc_id>/pdf", "document_pdf", document_pdf)


def login():
    w = web()
    if w.mode != "password":
        return redirect(url_for("search"))
    target = auth.safe_next(request.values.get("next"))
    if request.method != "POST":
        return render_template("login.html", error="", next=target)
    # app.identify checked the form's token and origin: no password is hashed for a forgery
    s, c = w.settings, ctx()
    name = request.form.get("name", "").strip()[:100]
    actor = auth.login_actor(s, name, current_app.secret_key)
    refused, first = w.throttle.refused(g.client, name)
    if refused:
        if first:
            c.catalog.record_access(actor, "login-locked", **door())
        minutes = s.web.lockout_minutes
        error = f"Quá nhiều lần đăng nhập sai từ địa chỉ này: thử lại sau {minutes:g} phút."
        return render_template("login.html", error=error, next=target), 429
    principal = auth.check_login(s, name, request.form.get("password", ""))
    if principal is None:
        w.throttle.failed(g.client, name)
        c.catalog.record_access(actor, "login-failed", **door())
        error = "Sai tên đăng nhập hoặc mật khẩu."
        return render_template("login.html", error=error, next=target)
    sessions.close_session(c.catalog, session.get("sid"))
    sid = sessions.open_session(c.catalog, s, principal.name, g.client)
    kept = session.get("kept_decision")  # a review decision posted as the session ended
    session.clear()  # a new session: nothing of the anonymous one carries over but that
    session.update(user=principal.name, since=time.time(), sid=sid)
    if isinstance(kept, dict) and kept.get("for") == principal.name:
        session["kept_decision"] = kept
    session["csrf"] = secrets.token_urlsafe(24)
    c.catalog.record_access(principal.name, "login", **door())
    return redirect(target)


def logout():
    c = ctx()
    sessions.close_session(c.catalog, session.get("sid"))
    audit(c.catalog, g.principal, "logout", door())
    token = session.get("csrf")
    session.clear()
    session["csrf"] = token or secrets.token_urlsafe(24)  # a logout form in another tab posts
    return redirect(url_for("login") if web().mode == "password" else "/")


def health():
    return {"ok": True}


def favicon():
    return "", 204  # browsers ask for it on every site; no icon, and no login redirect


def search():
    from kho.exchange.origin import local_origin

    c, args = ctx(), request.args
    number, offset = searchview.result_page(args)
    q, result, error = run_search(c, g.principal, offset)
    labels = {cat.id: cat.label for cat in c.taxonomy.categories}
    facets = facet_counts(c, g.principal, q, result) if result else {}
    names = {"category": labels, "batch": batch_names(c, facets.get("batch", ()))}
    return render_template(
        "search.html",
        q=q,
        result=result,
        error=error,
        labels=labels,
        categories=c.taxonomy.categories,
        facet_labels=FACET_LABELS,
        facets={k: searchview.facet_values(args, k, v, names) for k, v in facets.items()},
        chips=searchview.chips(args, names),
        clear_all=searchview.clear_all(args),
        hidden=searchview.hidden_fields(args),
        pager=searchview.pager(args, number, result.total, result.next_cursor) if result else None,
        numbered=searchview.NUMBERED,
        switched=searchview.switched,
        args=args,
        link=link,
        here=local_origin(c.settings.home)[0],  # records made here say no origin
    )


def batch_names(c: Context, counts) -> dict[str, str]:
    """The names of the batches in the facet counts (the index keeps ids). Only those: a
    batch of no visible document keeps its name to itself, even when a filter asks for it."""
    ids = [int(v) for v, _ in counts if str(v).isdigit() and len(str(v)) < 12]
    return {str(k): name for k, name in c.catalog.batch_names(ids).items()}


def facet_counts(c: Context, principal: Principal, q: SearchQuery, result) -> dict:
    """The facets as the page shows them: a key with active values is counted as if it were
    not filtered (the other filters still apply), so that another of its values can be
    added as an alternative. Counts only, drawn through the same access filter."""
    facets = dict(result.facets)
    for key in q.filters:
        others = {k: v for k, v in q.filters.items() if k != key}
        wider = replace(q, filters=others, facets=(key,), limit=0, offset=0, after=None)
        facets[key] = c.index.search(replace(wider, highlight=False), principal).facets[key]
    return facets


def api_search():
    raw = request.args.get("offset", "")
    offset = int(raw) if raw.isdigit() and len(raw) < 8 else 0
    _, result, error = run_search(ctx(), g.principal, offset)
    if error:
        return jsonify(error=error), 400
    return jsonify(
        total=result.total if result else 0,
        hits=[h.to_json() for h in result.hits] if result else [],
        facets=result.facets if result else {},
        next=result.next_cursor if result else None,
        loose=result.loose if result else 0,  # documents more with marks=ignore
        offset=offset,
    )


def api_suggest():
    """Completions of the typed words, drawn from the pages the reader may see (the index's
    own access filter). Audited as a read: a suggestion shows words of documents. The page
    asks after a pause in typing and from two letters on, so a query is a few lines."""
    c = ctx()
    prefix = request.args.get("q", "")[:SUGGEST_CHARS]
    if len(prefix.strip()) < 2:
        return jsonify(q=prefix, suggestions=[])
    found = [s[:200] for s in c.index.suggest(prefix, g.principal, SUGGEST_LIMIT)]
    audit(c.catalog, g.principal, "suggest", door(), query=prefix, total=len(found))
    return jsonify(q=prefix, suggestions=found)


def visible(doc_id: str, action: str | None, **detail):
    """(context, document) if the reader may see it, audited as `action` (None: the caller
    audits); else 404, audited as denied."""
    c = ctx()
    try:
        doc = visible_document(c.catalog, c.index, doc_id, g.principal, door())
    except NotFoundError:
        abort(404)
    if action:
        audit(c.catalog, g.principal, action, door(), doc_id=doc.id, **detail)
    return c, doc


def page_image(doc_id, page):
    c, doc = visible(doc_id, None)
    detail = {"doc_id": doc.id, "page": page}
    return send_audited(c.storage.page_image(doc.id, page), "page", detail, "image/jpeg")


def document_pdf(doc_id):
    """The document's PDF as a use copy marked for the reader (the master is never sent)."""
    from kho.archive.usecopy import use_copy_of

    c, doc = visible(doc_id, None)
    name = Path(doc.filename).stem + ".pdf"
    inline = request.args.get("inline") == "1"  # shown in the document page's viewer
    detail = {"doc_id": doc.id, "format": "pdf", "use_copy": True, "inline": inline}
    try:
        data = use_copy_of(c.storage, doc.id, g.principal.name, datetime.now().astimezone())
    except (OSError, BadInputError) as err:  # missing or damaged: as a missing stored file
        log.warning("cannot make the use copy of %s: %s", doc.id[:12], err)
        audit(c.catalog, g.principal, "file-failed", door(), **detail)
        abort(404)
    resp = send_audited(io.BytesIO(data), "file", detail, "application/pdf", download_name=name)
    if inline:  # viewable inside this site's own pages, never framed by another
        resp.headers.set("Content-Disposition", "inline", filename=name)
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return resp


class _AuditedFile:
    """A stored file sent in chunks; `on_close(sent_all)` once the server is done with it
    (after the last chunk, or when the client went away first)."""

    CHUNK = 256 * 1024

    def __init__(self, f, size: int, on_close):
        self.f, self.size, self.on_close, self.sent, self.closed = f, size, on_close, 0, False

    def __iter__(self):
        while chunk := self.f.read(self.CHUNK):
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.f.close()
            try:
                self.on_close(self.sent >= self.size)
            except KhoError as err:  # the reply is gone: all that is left is the server log
                name = getattr(self.f, "name", "a reply")
                log.error("audit line for %s not written: %s", name, err)


def send_audited(
    path: Path | io.BytesIO, action: str, detail: dict, mimetype: str, download_name=None
):
    """Send a stored file (or bytes made for this reply), audited as `action` once all of it
    was handed to the server, or as `action`-failed when it cannot be read or the send was
    cut short."""
    c, principal, how = ctx(), g.principal, door()
    try:
        if isinstance(path, io.BytesIO):
            f, size = path, len(path.getbuffer())
        else:
            f = open(path, "rb")  # noqa: SIM115 - closed by _AuditedFile.close
            size = os.fstat(f.fileno()).st_size
    except OSError as err:
        log.warning("cannot send %s: %s", path, err)
        audit(c.catalog, principal, f"{action}-failed", how, **detail)
        abort(404)

    def done(sent_all: bool) -> None:
        audit(c.catalog, principal, action if sent_all else f"{action}-failed", how, **detail)

    resp = Response(_AuditedFile(f, size, done), mimetype=mimetype, direct_passthrough=True)
    resp.content_length = size
    if download_name:
        resp.headers.set("Content-Disposition", "attachment", filename=download_name)
    return resp


def run_search(c: Context, principal: Principal, offset: int = 0):
    """(query, result or None, error) for the request's arguments, `offset` hits in;
    audited when run."""
    args = request.args
    text = args.get("q", "")[:MAX_QUERY].strip()
    filters = {k: tuple(dict.fromkeys(v[:200] for v in args.getlist(k) if v)) for k in FILTERS}
    filters = {k: v for k, v in filters.items() if v}
    try:
        q = SearchQuery(
            text=text,
            filters=filters,
            date_from=_day(args.get("from"), "Từ ngày"),
            date_to=_day(args.get("to"), "Đến ngày"),
            sort=args.get("sort", "relevance"),
            limit=PAGE_SIZE,
            offset=0 if args.get("after") else offset,
            after=args.get("after") or None,
            facets=FACETS,
            group="page" if args.get("group") == "page" else "document",
            marks="ignore" if args.get("marks") == "ignore" else "exact",
        )
    except (KhoError, ValueError) as err:
        return None, None, str(err)
    if not text and not filters and not q.date_from and not q.date_to:
        return q, None, ""  # the empty form
    try:
        result = c.index.search(q, principal)
    except BadInputError as err:  # about the reader's own input (a stale cursor...)
        return q, None, str(err)
    except ServiceError:
        raise
    except (KhoError, ValueError) as err:  # the index's own words stay in the server log
        log.warning("search %r failed: %s: %s", text, type(err).__name__, err)
        return q, None, "Không thực hiện được tìm kiếm này; chi tiết đã ghi vào nhật ký máy chủ."
    audit_search(c.catalog, principal, door(), q, result)
    return q, result, ""


def _day(text: str | None, name: str) -> str | None:
    """A typed day (dd/mm/yyyy, or ISO) as the ISO date the index takes; DayError if not."""
    day = format.parse_day(text or "", name)
    return day.isoformat() if day else None


def link(args, **changes) -> str:
    """The current query string with some arguments changed (None removes one)."""
    items = [(k, v) for k, v in args.items(multi=True) if k not in changes and k != "after"]
    items += [(k, v) for k, v in changes.items() if v is not None]
    return "?" + urlencode(items)
