"""`kho web`: thin routes over the same functions as the CLI.

Officers search and open documents (`pages.py`); reviewers settle the classifier's review
queue and operators watch batches, queues, workers and the audit log (`admin.py`). Who is
reading is decided here for every request (`identify`): a login checked by `auth`, a proxy's
header, or the default principal on loopback. Every read goes through the index's access
filter or `index.guard`, and is written to the audit log with the reader's address.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from kho.core.errors import (
    KhoError,
    NotFoundError,
    ServiceError,
    StoredFileMissingError,
    storage_trouble,
)
from kho.core.settings import Settings
from kho.core.types import LEVEL_NAMES

from . import admin, api, auditlog, auth, batches, docpage, format, pages, sessions, transfer, words
from .state import Web, ctx, door, web

log = logging.getLogger("kho.web")
ERRORS = {  # code: (what happened, what to do next); every page and /api/ reply says them
    400: ("Yêu cầu không hợp lệ.",
          "Biểu mẫu có thể đã cũ: tải lại trang rồi gửi lại."),
    401: ("Chưa xác định được người dùng.",
          "Đăng nhập, hoặc nhờ người quản trị kiểm tra cách đăng nhập."),
    403: ("Bạn không có quyền xem trang này.",
          "Nếu cần quyền này, liên hệ người quản trị kho."),
    404: ("Không tìm thấy trang hoặc tài liệu, hoặc bạn không có quyền xem.",
          "Kiểm tra lại địa chỉ, hoặc tìm tài liệu từ trang tìm kiếm."),
    405: ("Trang này không mở được theo cách đó.",
          "Dùng các nút và liên kết trên trang thay vì gõ địa chỉ."),
    408: ("Yêu cầu gửi quá lâu nên đã bị ngắt.",
          "Kiểm tra kết nối mạng rồi thử lại."),
    413: ("Dữ liệu gửi lên quá lớn.",
          "Gửi ít dữ liệu hơn, hoặc chia thành nhiều lần."),
    414: ("Địa chỉ quá dài.",
          "Rút gọn từ khóa hoặc bớt bộ lọc rồi tìm lại."),
    429: ("Quá nhiều yêu cầu trong thời gian ngắn.",
          "Đợi ít phút rồi thử lại."),
    500: ("Lỗi máy chủ; chi tiết đã được ghi vào nhật ký máy chủ.",
          "Thử lại sau; nếu vẫn lỗi, báo người quản trị kho."),
    503: ("Dịch vụ tạm thời không trả lời.",
          "Đợi ít phút rồi thử lại sau; nếu vẫn lỗi, báo người quản trị kho."),
}  # fmt: skip
STORED_FILE_MISSING = "Tệp lưu trữ của tài liệu này bị thiếu."
STORAGE_TROUBLE = "Lỗi đọc kho lưu trữ."
OPEN_ENDPOINTS = ("login", "static", "health", "favicon")  # served before anyone is identified
TOKEN_REFUSALS = {  # core.tokens.TokenCheck.refusal: what the 401 says
    "unknown": "Mã truy cập API không hợp lệ.",
    "expired": "Mã truy cập API đã hết hạn.",
    "revoked": "Mã truy cập API đã bị thu hồi.",
    "principal": "Người dùng của mã truy cập API này không còn trong cấu hình kho.",
}
TOKEN_HINT = (
    "Gửi mã trong tiêu đề Authorization: Bearer MÃ, hoặc nhờ người quản trị tạo mã mới "
    "(kho web token create)."
)


def create_app(settings: Settings, bind: str = "127.0.0.1") -> Flask:
    """The web pages for `settings`, served on `bind` (an address, or "unix" for a socket):
    session cookies are Secure by default past loopback."""
    secure = settings.web.secure_cookies
    app = Flask(__name__)
    app.request_class = request_class(settings)
    app.config.update(
        SECRET_KEY=settings.web.secret_key or _secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not auth.is_loopback(bind) if secure is None else secure,
        SESSION_COOKIE_NAME="kho_session",
        MAX_CONTENT_LENGTH=batches.FORM_LIMIT,  # the upload's own: batches.body_limit
    )
    app.extensions["kho"] = Web(settings)
    app.before_request(identify)
    app.after_request(security_headers)
    app.context_processor(template_values)
    format.register(app, settings.web.timezone)
    words.register(app)
    pages.register(app)
    docpage.register(app)
    admin.register(app)
    auditlog.register(app)
    batches.register(app)
    api.register(app)
    transfer.register(app)
    app.register_error_handler(OSError, _storage_error)
    app.register_error_handler(KhoError, _kho_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(500, _http_error)  # an unhandled exception, as a 500
    return app


def request_class(settings: Settings) -> type[Request]:
    """Requests whose body limit is the route's (batches.body_limit) and whose uploaded
    files are streamed to disk under the storage root."""
    stream = batches.file_stream(settings)

    class KhoRequest(Request):
        @property
        def max_content_length(self) -> int:
            return batches.body_limit(settings, self.path)

        @max_content_length.setter
        def max_content_length(self, value) -> None:  # Flask >= 3.1 sets it per app
            pass

        def _get_file_stream(self, *args, **kwargs):
            return stream(*args, **kwargs)

    return KhoRequest


def identify():
    """Before every request: who is reading (g.principal), and may they operate or review."""
    w, s = web(), web().settings
    peer = request.remote_addr or ""
    g.principal, g.operator, g.reviewer = None, False, False
    g.client = auth.client_address(s, peer, request.headers.get("X-Forwarded-For"))
    if request.endpoint == "transfer.push":
        return None  # signed by the sending node's key, no session (web/transfer.py)
    if w.mode == "none" and not auth.loopback_host(request.headers.get("Host", "")):
        abort(400)  # a name other than this machine's: a page elsewhere rebound it to us
    if request.method == "POST" and request.endpoint in admin.DECISIONS and w.mode == "password":
        if session_user() is None:  # the session ended while the form was on the screen
            return admin.keep_decision()
    bearer = token_request()
    if request.method == "POST" and not bearer:  # a token request carries no cookie
        check_form()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if bearer:
        refused = token_principal()
        if refused is not None:
            return refused
    elif w.mode == "none":
        g.principal = s.principal()
    elif w.mode == "header":
        named = request.headers.get(s.web.user_header) if auth.header_trusted(s, peer) else None
        g.principal = auth.header_principal(s, named)
        if g.principal is None:
            abort(401)
    else:
        name = session_user()
        if name is None:
            anonymous()
            return _to_login()
        g.principal = s.principals[name]
    g.operator = g.principal.name in s.operators  # in every mode only as the config says
    g.reviewer = g.principal.name in s.reviewers
    return None


def token_request() -> bool:
    """A request of the JSON API with an Authorization header: identified by its token
    alone (on every other page the header is ignored)."""
    return request.path.startswith(api.PREFIX + "/") and "Authorization" in request.headers


def token_principal():
    """g.principal from the request's `Authorization: Bearer` token, as the config says of
    its principal now; else the 401 reply. Audited by the token's id, never the token."""
    s, c = web().settings, ctx()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    check = c.catalog.check_token(token.strip()) if scheme.lower() == "bearer" else None
    row, refusal = (check.token, check.refusal) if check else (None, "unknown")
    if not refusal and row.principal not in s.principals:
        refusal = "principal"
    if refusal:
        actor, token_id = (row.principal, row.id) if row else ("-", None)
        c.catalog.record_access(actor, "token-refused", **door(), token_id=token_id,
                                reason=refusal)  # fmt: skip
        resp, code = _error_page(401, TOKEN_REFUSALS[refusal], TOKEN_HINT)
        resp.headers["WWW-Authenticate"] = 'Bearer realm="kho", error="invalid_token"'
        return resp, code
    g.token_id, g.principal = row.id, s.principals[row.principal]
    return None


def form_token_ok() -> bool:
    """Whether the POST carries the session's form token."""
    sent, kept = request.form.get("csrf", ""), session.get("csrf", "")
    return bool(sent and kept and hmac.compare_digest(sent.encode(), str(kept).encode()))


def check_form() -> None:
    """A POST must carry the session's form token and come from this site's own pages."""
    if not form_token_ok():
        abort(400)  # every form carries the session's token, the login form too
    check_origin()


def check_origin() -> None:
    """403 unless the POST came from this site's own pages (as far as the browser says)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        abort(403)
    origin = request.headers.get("Origin")
    if origin == "null" and fetch_site == "same-origin":
        return  # a browser's own form under Referrer-Policy: no-referrer
    if origin is not None and urlsplit(origin).netloc != request.headers.get("Host", ""):
        abort(403)


def session_user() -> str | None:
    """The principal of the request's session, if its cookie names a live session that
    the catalog still holds for that principal and password."""
    s = web().settings
    name, since = session.get("user"), session.get("since", 0)
    if not name or time.time() - since > s.web.session_hours * 3600:
        return None
    live = sessions.session_principal(ctx().catalog, s, session.get("sid"))
    return name if live == name else None


def anonymous() -> None:
    """Forget who the session named, keeping its form token: a login form already on the
    screen (another tab, or the page the browser's own favicon request followed) still
    posts."""
    token = session.get("csrf")
    session.clear()
    if token:
        session["csrf"] = token


def _to_login():
    if request.path.startswith("/api/"):
        abort(401)
    if request.method != "POST":
        return redirect(url_for("login", next=request.full_path))
    # a form posted as the session ended: the login leads back to a page (never to the
    # POST-only address, which a GET answers 405), and says what was not done
    flash("Phiên làm việc đã hết hạn nên thao tác vừa gửi chưa được thực hiện: đăng nhập lại "
          "rồi làm lại.", "bad")  # fmt: skip
    return redirect(url_for("login", next=page_above(request.path)))


def page_above(path: str) -> str:
    """The nearest address at or above `path` that a GET opens (else the search page)."""
    from werkzeug.exceptions import HTTPException

    adapter = current_app.url_map.bind("localhost")
    while path and path != "/":
        try:
            adapter.match(path, method="GET")
            return path
        except HTTPException:
            path = path.rsplit("/", 1)[0]
    return "/"


def security_headers(resp):
    resp.headers.setdefault("X-Frame-Options", "DENY")
    if "Content-Security-Policy" in resp.headers:  # a reply that set its own (inline PDF)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self'; style-src 'self'; frame-ancestors 'none'"
    )
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
        "uploader": bool(g.get("principal")) and batches.may_upload(),
        "auth_mode": web().mode,
        "level_names": LEVEL_NAMES,
        "csrf": session["csrf"],
        "timezone": web().settings.web.timezone,
    }


def _storage_error(err: OSError):
    """A stored file the catalog names is missing, or the storage failed: said, not a 500
    traceback. The full reason, with paths, goes to the log only."""
    trouble = storage_trouble(err, web().settings.home)
    if trouble is None:
        raise err
    log.error("%s %s: %s", request.method, request.path, trouble)
    if isinstance(trouble, StoredFileMissingError):
        return _error_page(404, STORED_FILE_MISSING, MISSING_NEXT)
    return _error_page(503, STORAGE_TROUBLE)


MISSING_NEXT = "Báo người quản trị kho để khôi phục tệp từ bản sao lưu."


def _http_error(err: HTTPException):
    """Every refusal Flask or werkzeug raises (400, 403, 404, 405, 413, ...), in Vietnamese,
    keeping the headers it needs (a 405's Allow)."""
    code = err.code or 500
    if code < 400:
        return err
    if code == 500:
        log.error(
            "%s %s: %r", request.method, request.path, getattr(err, "original_exception", err)
        )
    resp, _ = _error_page(code)
    allowed = getattr(err, "valid_methods", None)  # a 405's
    if allowed:
        resp.headers["Allow"] = ", ".join(allowed)
    return resp, code


def _error_page(code: int, message: str = "", hint: str = ""):
    """The error page (or, under /api/, its JSON): what happened, what to do, a way back."""
    title, then = ERRORS.get(code, ERRORS[500 if code >= 500 else 400])
    message, hint = message or title, hint or then
    if request.path.startswith(api.PREFIX + "/"):
        resp = jsonify(error=message, hint=hint, code=code)
        if code == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="kho"'
    elif request.path.startswith("/api/"):
        resp = jsonify(error=message, next=hint, code=code)
    else:
        page = render_template("error.html", code=code, message=message, hint=hint)
        resp = current_app.make_response(page)
    resp.status_code = code
    return resp, code


def _kho_error(err: KhoError):
    """Details (paths, a service's own words) go to the server's log, never to the page."""
    log.warning("%s %s: %s: %s", request.method, request.path, type(err).__name__, err)
    if isinstance(err, StoredFileMissingError):
        return _error_page(404, STORED_FILE_MISSING, MISSING_NEXT)
    code = 503 if isinstance(err, ServiceError) else 404 if isinstance(err, NotFoundError) else 400
    return _error_page(code)


def _secret_key(settings: Settings) -> str:
    """A random key kept in home/web.key (written like every stored file), made on first use."""
    from kho.core.permissions import file_policy
    from kho.core.storage import key_file

    return key_file(settings.home / "web.key", file_policy(settings.storage))
