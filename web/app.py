"""`kho web`: thin routes over the same functions as the CLI.

Officers search and open documents (`pages.py`); reviewers settle the classifier's review
queue and operators watch batches, queues, workers and the audit log (`admin.py`). Who is
reading is decided here for every request (`identify`): a login checked by `auth`, a proxy's
header, or the default principal on loopback. Every read goes through the index's access
filter or `index.guard`, and is written to the audit log with the reader's address.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path

from flask import Flask, abort, g, redirect, render_template, request, session, url_for

from kho.core.errors import KhoError, ServiceError, StoredFileMissingError, storage_trouble
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
STORED_FILE_MISSING = (
    "Tệp lưu trữ của tài liệu này bị thiếu; báo người quản trị "
    "(the document's stored file is missing: tell the operator)."
)
log = logging.getLogger("kho.web")
OPEN_ENDPOINTS = ("login", "static", "health")  # served before anyone is identified


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
    app.extensions["kho"] = Web(settings)
    app.before_request(identify)
    app.after_request(security_headers)
    app.context_processor(template_values)
    pages.register(app)
    admin.register(app)
    app.register_error_handler(ServiceError, lambda e: _error_page(503, str(e)))
    app.register_error_handler(OSError, _storage_error)
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


def _storage_error(err: OSError):
    """A stored file the catalog names is missing, or the storage failed: said, not a 500
    traceback. The full reason, with paths, goes to the log only."""
    trouble = storage_trouble(err, web().settings.home)
    if trouble is None:
        raise err
    log.error("%s %s: %s", request.method, request.path, trouble)
    if isinstance(trouble, StoredFileMissingError):
        return _error_page(404, STORED_FILE_MISSING)
    return _error_page(503, "Lỗi lưu trữ, thử lại sau (Storage error: try again later).")


def _error_page(code: int, message: str):
    return render_template("error.html", code=code, message=message), code


def _secret_key(home: Path) -> str:
    """A random key kept in home/web.key (0600), made on first use."""
    import os

    path = home / "web.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with open(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip()
