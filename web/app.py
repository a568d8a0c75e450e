"""`kho web`: thin routes over the same functions as the CLI.

Officers search and open documents; operators also watch batches, queues and workers and
read the audit log. Who is reading comes from `web.auth` (login, proxy header, or the
default principal on loopback); every read goes through the index's access filter or
`index.guard`, and is written to the audit log with the reader's address.
"""

from __future__ import annotations

import secrets
import threading
import time
from functools import wraps
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, abort, g, jsonify, redirect, render_template, request, send_file, session
from flask import url_for as flask_url_for

from kho.core.errors import KhoError, NotFoundError, ServiceError
from kho.core.settings import Settings
from kho.core.types import LEVEL_NAMES, Principal
from kho.index.base import SearchQuery
from kho.index.guard import audit, audit_search, visible_document
from kho.workers.context import Context

from . import auth

FACETS = ("category", "doc_type", "unit", "level")
FILTERS = ("category", "doc_type", "unit", "level")
PAGE_SIZE = 20
REVIEW_PAGE = 50
MAX_QUERY = 500


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.web.secret_key or _secret_key(settings.home),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        SESSION_COOKIE_NAME="kho_session",
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    mode = auth.auth_mode(settings)
    contexts = _Contexts(settings)
    app.extensions["kho"] = contexts

    def ctx() -> Context:
        return contexts.get()

    # who is reading ----------------------------------------------------------------------
    @app.before_request
    def identify():
        g.principal, g.operator, g.reviewer = None, False, False
        if request.endpoint in ("login", "static", "health"):
            return None
        if mode == "none":
            g.principal, g.operator = settings.principal(), True
        elif mode == "header":
            g.principal = auth.header_principal(
                settings, request.headers.get(settings.web.user_header)
            )
            if g.principal is None:
                abort(401)
        else:
            name, since = session.get("user"), session.get("since", 0)
            if not name or name not in settings.principals:
                return _to_login()
            if time.time() - since > settings.web.session_hours * 3600:
                session.clear()
                return _to_login()
            g.principal = settings.principals[name]
        if mode != "none":
            g.operator = g.principal.name in settings.operators
        g.reviewer = mode == "none" or g.principal.name in settings.reviewers
        if request.method == "POST" and request.form.get("csrf") != session.get("csrf"):
            abort(400)
        return None

    def _to_login():
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(flask_url_for("login", next=request.full_path))

    def door() -> dict:
        return {"via": "web", "client": request.remote_addr or ""}

    def operators_only(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.operator:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    @app.after_request
    def headers(resp):
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; style-src 'self'; frame-ancestors 'none'"
        )
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.context_processor
    def template_values():
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(24)
        return {
            "principal": g.get("principal"),
            "operator": g.get("operator", False),
            "reviewer": g.get("reviewer", False),
            "auth_mode": mode,
            "level_names": LEVEL_NAMES,
            "csrf": session["csrf"],
        }

    # login -------------------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login():
        if mode != "password":
            return redirect(flask_url_for("search"))
        error = ""
        target = request.values.get("next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if request.method == "POST":
            if request.form.get("csrf") != session.get("csrf"):
                abort(400)
            name = request.form.get("name", "").strip()
            principal = auth.check_login(settings, name, request.form.get("password", ""))
            if principal is None:
                time.sleep(0.5)
                ctx().catalog.record_access(name[:100], "login-failed", **door())
                error = "Sai tên đăng nhập hoặc mật khẩu."
            else:
                session.clear()
                session.update(user=principal.name, since=time.time())
                session["csrf"] = secrets.token_urlsafe(24)
                ctx().catalog.record_access(principal.name, "login", **door())
                return redirect(target)
        return render_template("login.html", error=error, next=target)

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(flask_url_for("login") if mode == "password" else "/")

    @app.get("/health")
    def health():
        return {"ok": True}

    # search ------------------------------------------------------------------------------
    @app.get("/")
    def search():
        q, result, error = _run_search(ctx(), g.principal, door())
        taxonomy = ctx().taxonomy
        labels = {c.id: c.label for c in taxonomy.categories}
        return render_template(
            "search.html",
            q=q,
            result=result,
            error=error,
            labels=labels,
            categories=taxonomy.categories,
            args=request.args,
            link=_link,
        )

    @app.get("/api/search")
    def api_search():
        q, result, error = _run_search(ctx(), g.principal, door())
        if error:
            return jsonify(error=error), 400
        return jsonify(
            total=result.total if result else 0,
            hits=[h.to_json() for h in result.hits] if result else [],
            facets=result.facets if result else {},
            next=result.next_cursor if result else None,
        )

    # documents ---------------------------------------------------------------------------
    def visible(doc_id: str, action: str, **detail):
        c = ctx()
        try:
            doc = visible_document(c.catalog, c.index, doc_id, g.principal, door())
        except NotFoundError:
            abort(404)
        audit(c.catalog, g.principal, action, door(), doc_id=doc.id, **detail)
        return c, doc

    @app.get("/doc/<doc_id>")
    def document(doc_id):
        c, doc = visible(doc_id, "view")
        pages = c.catalog.pages(doc.id)
        texts = {
            p.page: c.storage.read_page_text(doc.id, p.page).text
            for p in pages
            if p.status == "done"
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
            review_below=settings.ocr.review_confidence,
        )

    @app.get("/doc/<doc_id>/page/<int:page>.jpg")
    def page_image(doc_id, page):
        c, doc = visible(doc_id, "page", page=page)
        path = c.storage.page_image(doc.id, page)
        if not path.exists():
            abort(404)
        return send_file(path, mimetype="image/jpeg", max_age=0)

    @app.get("/doc/<doc_id>/pdf")
    def document_pdf(doc_id):
        c, doc = visible(doc_id, "file", format="pdf")
        path = c.storage.searchable_pdf(doc.id)
        if not path.exists():
            abort(404)
        name = Path(doc.filename).stem + ".pdf"
        return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name)

    # reviewers: the classification review queue ------------------------------------------
    def reviewers_only(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.reviewer:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    @app.get("/review")
    @reviewers_only
    def review():
        c = ctx()
        docs = _visible_reviews(c, g.principal, REVIEW_PAGE)
        categories = c.taxonomy.categories
        return render_template(
            "review.html",
            docs=docs,
            categories=categories,
            labels={cat.id: cat.label for cat in categories},
            decided=request.args.get("decided", ""),
        )

    @app.post("/review/<doc_id>")
    @reviewers_only
    def review_decide(doc_id):
        from kho.classify.review import accept, relabel
        from kho.workers.reindex import refresh_document

        c = ctx()
        decision = request.form.get("decision", "")
        if decision not in ("accept", "relabel"):
            abort(400)
        category = request.form.get("category", "")
        c, doc = visible(doc_id, "review", decision=decision, category=category or None)
        before = doc.category
        values = accept(doc) if decision == "accept" else relabel(doc, category, c.taxonomy)
        c.catalog.set_document(doc.id, **values)
        refresh_document(c, doc.id)
        c.index.refresh()  # the reviewer's next search already shows the decision
        return redirect(
            flask_url_for(
                "review", decided=f"{doc.id[:12]}: {before} → {values.get('category', before)}"
            )
        )

    # operators ---------------------------------------------------------------------------
    @app.get("/status")
    @operators_only
    def status():
        st = _status(ctx())
        return render_template("status.html", st=st, fmt_eta=_fmt_seconds)

    @app.get("/api/status")
    @operators_only
    def api_status():
        return jsonify(_status(ctx()).to_json())

    @app.get("/audit")
    @operators_only
    def audit_page():
        before = request.args.get("before", type=int)
        actor = request.args.get("actor", "")[:100]
        action = request.args.get("action", "")[:50]
        entries = ctx().catalog.audit_log(100, actor, action, before)
        return render_template(
            "audit.html", entries=entries, actor=actor, action=action, link=_link
        )

    # errors ------------------------------------------------------------------------------
    @app.errorhandler(ServiceError)
    def unavailable(err):
        return render_template("error.html", code=503, message=str(err)), 503

    @app.errorhandler(KhoError)
    def kho_error(err):
        return render_template("error.html", code=400, message=str(err)), 400

    for code, message in [
        (400, "Yêu cầu không hợp lệ (Bad request)."),
        (401, "Chưa xác thực người dùng (Not authenticated)."),
        (403, "Không có quyền xem trang này (Forbidden)."),
        (404, "Không tìm thấy, hoặc bạn không có quyền xem (Not found)."),
    ]:
        app.register_error_handler(
            code,
            lambda _e, code=code, message=message: (
                render_template("error.html", code=code, message=message),
                code,
            ),
        )
    return app


def _run_search(ctx: Context, principal: Principal, door: dict):
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
        return q, None, ""
    try:
        result = ctx.index.search(q, principal)
    except (KhoError, ValueError) as err:
        if isinstance(err, ServiceError):
            raise
        return q, None, str(err)
    audit_search(ctx.catalog, principal, door, q, result)
    return q, result, ""


def _visible_reviews(ctx: Context, principal: Principal, limit: int) -> list:
    """The review queue as far as the principal may see it, least confident first."""
    from kho.classify.review import pending_reviews
    from kho.core.types import Access, can_see

    out, offset, step = [], 0, max(limit, 100)
    while len(out) < limit:
        docs = pending_reviews(ctx.catalog, step, offset)
        out += [
            d
            for d in docs
            if can_see(principal, Access(level=d.level, unit=d.unit, groups=tuple(d.groups or ())))
        ]
        if len(docs) < step:
            break
        offset += step
    return out[:limit]


def _status(ctx: Context):
    from kho.workers.status import collect_status

    conn = None
    if ctx.settings.redis_url:
        from kho.workers.queue import connect

        try:
            conn = connect(ctx.settings.redis_url)
        except ServiceError:
            conn = None
    st = collect_status(ctx, conn, failures=20)
    if ctx.settings.redis_url and conn is None:
        from dataclasses import replace

        st = replace(st, queue_error="Redis is unavailable: start it or check KHO_REDIS_URL")
    return st


def _link(args, **changes) -> str:
    """The current query string with some arguments changed (None removes one)."""
    items = [(k, v) for k, v in args.items(multi=True) if k not in changes and k != "after"]
    for k, v in changes.items():
        if v is not None:
            items.append((k, v))
    return "?" + urlencode(items)


def _fmt_seconds(s) -> str:
    if s is None:
        return "—"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _secret_key(home: Path) -> str:
    """A random key kept in home/web.key (0600), made on first use."""
    path = home / "web.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os_open(path)
        if fd is not None:
            with open(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip()


def os_open(path: Path) -> int | None:
    import os

    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return None


class _Contexts:
    """A Context per serving thread (the embedded index's SQLite connection is per thread),
    sharing one catalog (SQLAlchemy's engine is thread-safe) and one taxonomy."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.shared = Context(settings)
        self.local = threading.local()

    def get(self) -> Context:
        c = getattr(self.local, "ctx", None)
        if c is None:
            c = Context(self.settings)
            c.__dict__["catalog"] = self.shared.catalog
            c.__dict__["taxonomy"] = self.shared.taxonomy
            self.local.ctx = c
        return c
