"""`kho web`: thin routes over the same functions as the CLI.

Officers search and open documents (`pages.py`); reviewers settle the classifier's review
queue and operators watch batches, queues, workers and the audit log (`admin.py`). Who is
reading is decided here for every request (`identify`): a login checked by `auth`, a proxy's
header, or the default principal on loopback. Every read goes through the index's access
filter or `index.guard`, and is written to the audit log with the reader's address.
"""

from __future__ import annotations

import secrets
import time

from flask import Flask, abort, g, redirect, render_template, request, session, url_for

from kho.core.errors import KhoError, ServiceError
from kho.core.settings import Settings
from kho.core.types import LEVEL_NAMES

from . import admin, auth, pages
from .state import Web, web

ERRORS = {
    400: "Yêu cầu không hợp lệ (Bad request).",
    401: "Chưa xác thực người dùng (Not authenticated).",
    403: "Không có quyền xem trang này (Forbidden).",
    404: "Không tìm thấy, hoặc bạn không có quyền xem (Not found).",
}
OPEN_ENDPOINTS = ("login", "static", "health")  # served before anyone is identified


def create_app(settings: Settings) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.web.secret_key or _secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        SESSION_COOKIE_NAME="kho_session",
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["kho"] = Web(settings)
    app.before_request(identify)
    app.after_request(security_headers)
    app.context_processor(template_values)
    pages.register(app)
    admin.register(app)
    app.register_error_handler(ServiceError, lambda e: _error_page(503, str(e)))
    app.register_error_handler(KhoError, lambda e: _error_page(400, str(e)))
    for code, message in ERRORS.items():
        app.register_error_handler(code, lambda _e, c=code, m=message: _error_page(c, m))
    return app


def identify():
    """Before every request: who is reading (g.principal), and may they operate or review."""
    w, s = web(), web().settings
    g.principal, g.operator, g.reviewer = None, False, False
    if request.method == "POST" and request.form.get("csrf") != session.get("csrf"):
        abort(400)  # every form carries the session's token, the login form too
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if w.mode == "none":
        g.principal = s.principal()
    elif w.mode == "header":
        g.principal = auth.header_principal(s, request.headers.get(s.web.user_header))
        if g.principal is None:
            abort(401)
    else:
        name, since = session.get("user"), session.get("since", 0)
        if not name or name not in s.principals:
            return _to_login()
        if time.time() - since > s.web.session_hours * 3600:
            session.clear()
            return _to_login()
        g.principal = s.principals[name]
    g.operator = w.mode == "none" or g.principal.name in s.operators
    g.reviewer = w.mode == "none" or g.principal.name in s.reviewers
    return None


def _to_login():
    if request.path.startswith("/api/"):
        abort(401)
    return redirect(url_for("login", next=request.full_path))


def security_headers(resp):
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self'; style-src 'self'; frame-ancestors 'none'"
    )
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def template_values() -> dict:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return {
        "principal": g.get("principal"),
        "operator": g.get("operator", False),
        "reviewer": g.get("reviewer", False),
        "auth_mode": web().mode,
        "level_names": LEVEL_NAMES,
        "csrf": session["csrf"],
    }


def _error_page(code: int, message: str):
    return render_template("error.html", code=code, message=message), code


def _secret_key(settings: Settings) -> str:
    """A random key kept in home/web.key (written like every stored file), made on first use."""
    from kho.core.permissions import file_policy
    from kho.core.storage import atomic_file

    path = settings.home / "web.key"
    if not path.exists():
        try:
            with atomic_file(path, file_policy(settings.storage), replace=False) as f:
                f.write(secrets.token_hex(32).encode("ascii"))
        except FileExistsError:  # another process made it first: use theirs
            pass
    return path.read_text().strip()
