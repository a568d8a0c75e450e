"""`POST /api/transfer`: a peer pushes a transfer package over HTTP.

No session, cookie or form token: the request is signed by the sending node's key. The
signature covers the method, path, date, the body's SHA-512 and its length
(`signed_request`), so everything is checked from the headers alone (length, peer, date,
signature) before one byte of the body is read; `gated_channel` makes waitress answer such
a refusal at once instead of first buffering the body. An accepted body is streamed to
`<home>/transfers/incoming/` (0600) with a byte counter, its hash checked, the package
imported, and the file removed whatever happens. Every answer is audited, never the body
or the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, request
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

from kho.core.errors import KhoError
from kho.core.models import Peer
from kho.exchange.errors import PackageError, TransferHeld, TransferRefused
from kho.exchange.identity import Identity, SignatureError, load_node

from . import auth
from .state import ctx, web

log = logging.getLogger("kho.web.transfer")
bp = Blueprint("transfer", __name__)
PATH = "/api/transfer"
SKEW_S = 300  # a request dated more than 5 minutes off is refused
CHUNK = 1024 * 1024
LINGER_S = 30  # how long an unread body is drained after its refusal
HEX512 = re.compile(r"^[0-9a-f]{128}$")
PACKAGE_TYPES = ("application/x-tar", "application/octet-stream")


def signed_request(date: str, sha512: str, length: int) -> bytes:
    """What the sender signs (purpose "push") for one push: shared by both sides."""
    return f"POST\n{PATH}\n{date}\n{sha512}\n{length}".encode()


@dataclass(frozen=True)
class Refusal:
    status: int
    vi: str
    en: str

    @property
    def line(self) -> str:
        return f"{self.vi} ({self.en})"


def check_headers(catalog, max_bytes: int, get: Callable[[str], str | None]):
    """(peer or None, Refusal or None) for a push, from its headers alone."""
    raw_length = (get("Content-Length") or "").strip()
    if not raw_length.isdigit():
        return None, Refusal(411, "Thiếu độ dài nội dung", "Content-Length is required")
    length = int(raw_length)
    if length > max_bytes:
        return None, Refusal(
            413,
            f"Gói quá lớn: {length} byte, giới hạn {max_bytes}",
            f"package too large: {length} bytes, [transfer] max_bytes is {max_bytes}",
        )
    kind = (get("Content-Type") or "application/x-tar").split(";")[0].strip().lower()
    if kind not in PACKAGE_TYPES:
        return None, Refusal(415, "Không phải gói chuyển giao", "not a transfer package")
    node, date = (get("X-Kho-Node") or "").strip().lower(), (get("X-Kho-Date") or "").strip()
    digest, sig = (get("X-Kho-Content-SHA512") or "").strip().lower(), get("X-Kho-Signature")
    if not (node and date and digest and sig):
        return None, Refusal(
            401,
            "Yêu cầu chưa được ký",
            "unsigned request: X-Kho-Node, X-Kho-Date, X-Kho-Content-SHA512 and "
            "X-Kho-Signature are required (use kho transfer push)",
        )
    peer = catalog.trusted_peer(node)
    if peer is None:
        return None, Refusal(
            401,
            "Khóa nút không được đăng ký hoặc đã bị thu hồi",
            "unknown or revoked node key: register it with kho peers add",
        )
    if not peer.units:
        return peer, Refusal(
            403,
            "Nút này không được phép gửi hồ sơ lên",
            f"{peer.name} may not send records here (it has no units)",
        )
    try:
        when = datetime.fromisoformat(date.replace("Z", "+00:00"))
        off = abs(time.time() - when.timestamp()) if when.utcoffset() is not None else None
    except ValueError:
        off = None
    if off is None or off > SKEW_S:
        return peer, Refusal(
            401,
            "Thời gian yêu cầu lệch quá 5 phút",
            "X-Kho-Date is not an RFC 3339 UTC time within 5 minutes of this server's clock",
        )
    ident = Identity(peer.name, peer.organ_id, peer.unit, peer.sign_key, peer.seal_key)
    try:
        if not HEX512.match(digest):
            raise SignatureError("bad digest")
        signature = base64.b64decode(sig.encode("ascii"), validate=True)
        ident.verify("push", signed_request(date, digest, length), signature)
    except (SignatureError, binascii.Error, ValueError, UnicodeEncodeError):
        return peer, Refusal(401, "Chữ ký không hợp lệ", f"the push signature is not {peer.name}'s")
    return peer, None


class PushGuard:
    """Per-process state of the endpoint: failed pushes per source and claimed node (held
    back like failed logins), and the signatures already used (a replay within the date
    window is refused)."""

    def __init__(self, settings):
        opts = settings.web
        self.throttle = auth.LoginThrottle(
            opts.max_failed_logins, opts.max_failed_logins_per_source, opts.lockout_minutes * 60
        )
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def first_use(self, signature: str) -> bool:
        key, at = hashlib.sha256(signature.encode()).digest(), time.monotonic()
        with self._lock:
            for old in [k for k, t in self._seen.items() if t < at - 2 * SKEW_S]:
                del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = at
            return True


def guard() -> PushGuard:
    return current_app.extensions["kho_transfer"]


def register(app) -> None:
    app.extensions["kho_transfer"] = PushGuard(app.extensions["kho"].settings)
    app.register_blueprint(bp)


def _answer(status: int, body: dict | bytes):
    if isinstance(body, bytes):
        return current_app.response_class(body, status=status, mimetype="application/json")
    return jsonify(body), status


def _audit(peer: Peer | None, action: str, **detail) -> None:
    node = (request.headers.get("X-Kho-Node") or "")[:64]
    actor = f"peer:{peer.name}" if peer is not None else f"?{node[:16]}"
    door = {"via": "web", "client": g.get("client") or request.remote_addr or ""}
    ctx().catalog.record_access(actor, action, **door, node=node, **detail)


def _refused(peer: Peer | None, refusal: Refusal, size: int):
    _audit(peer, "transfer-refused", size=size, reason=refusal.en, status=refusal.status)
    return _answer(refusal.status, {"error": refusal.line})


@bp.post(PATH)
def push():
    s = web().settings
    client, node = g.get("client") or "", request.headers.get("X-Kho-Node") or ""
    length = request.content_length or 0
    held, first = guard().throttle.refused(client, node)
    if held:
        if first:
            _audit(None, "transfer-refused", size=length, reason="too many failed pushes")
        return _answer(429, {"error": "Quá nhiều yêu cầu (too many failed pushes: wait)"})
    peer, refusal = check_headers(ctx().catalog, s.transfer.max_bytes, request.headers.get)
    if refusal is None and not guard().first_use(request.headers["X-Kho-Signature"]):
        refusal = Refusal(409, "Yêu cầu đã được gửi", "replayed request: sign a new one")
    if refusal is not None:
        if refusal.status in (401, 403):
            guard().throttle.failed(client, node)
        return _refused(peer, refusal, length)
    try:
        node = load_node(s.home)
    except KhoError:
        log.error("a push from %s arrived, but this archive has no node identity", peer.name)
        refusal = Refusal(503, "Kho này chưa có định danh nút", "this archive has no node yet")
        return _refused(peer, refusal, length)
    return _receive(peer, node, length, request.headers["X-Kho-Content-SHA512"].strip().lower())


def incoming_dir(home: Path) -> Path:
    folder = Path(home) / "transfers" / "incoming"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _receive(peer: Peer, node, length: int, digest: str):
    """Stream the body to a private file, check its hash, import it; the file never stays."""
    path = incoming_dir(web().settings.home) / f"push-{secrets.token_hex(8)}.pkg"
    try:
        refusal = _stream_to(path, request.environ["wsgi.input"], length, digest)
        if refusal is not None:
            return _refused(peer, refusal, length)
        return _imported(peer, node, path, length)
    finally:
        path.unlink(missing_ok=True)


def _stream_to(path: Path, stream, length: int, digest: str) -> Refusal | None:
    hasher, got = hashlib.sha512(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        while got < length:
            chunk = stream.read(min(CHUNK, length - got))
            if not chunk:
                break
            got += len(chunk)
            hasher.update(chunk)
            out.write(chunk)
    if got < length:
        return Refusal(
            400,
            "Nội dung bị cắt ngắn",
            f"body cut short: {got} of {length} bytes arrived; push again",
        )
    if not hmac.compare_digest(hasher.hexdigest(), digest):
        return Refusal(
            400,
            "SHA-512 của nội dung không khớp",
            "the body does not match X-Kho-Content-SHA512: push again",
        )
    return None


def _imported(peer: Peer, node, path: Path, length: int):
    try:
        done = _import(ctx(), node, path, f"peer:{peer.name}")
    except PackageError as err:
        return _refused(peer, Refusal(415, "Không phải gói chuyển giao hợp lệ", str(err)), length)
    except TransferRefused as err:
        return _refused(peer, Refusal(409, "Gói bị từ chối", str(err)), length)
    except TransferHeld as err:
        _audit(peer, "transfer-push", size=length, status="held", reason=str(err))
        return _answer(202, {"status": "held", "message": str(err)})
    _audit(
        peer,
        "transfer-push",
        size=length,
        status=done.status,
        sender=done.sender,
        seq=done.seq,
        records=done.records,
    )
    return _answer(202 if done.status == "held" else 200, done.receipt)


def _import(ctx, node, path, operator):
    """The transfer import (workers.transfer), imported when first needed."""
    from kho.workers.transfer import import_transfer

    return import_transfer(ctx, node, path, operator)


def gated_channel(app, body_limit: Callable[[str], int]) -> type[HTTPChannel]:
    """A waitress channel that never reads a body the app would refuse from its headers:
    a push whose headers do not pass `check_headers`, or any other request over
    `body_limit(path)` bytes. Such a request is handed to the app at once with no body (it
    answers the refusal); the connection then closes after a lingering drain, so the
    client, still sending, gets the answer instead of a reset."""
    w = app.extensions["kho"]
    limit = w.settings.transfer.max_bytes

    class GatedParser(HTTPRequestParser):
        def __init__(self, adj, channel):
            super().__init__(adj)
            self.channel = channel

        def parse_header(self, header_plus):
            super().parse_header(header_plus)
            if self.body_rcv is None:
                return
            if self.command == "POST" and self.path == PATH:
                signed = not self.chunked and self._refusal() is None
                if signed:
                    return  # a signed push from a peer: its body may come
            elif not self.chunked and self.content_length <= body_limit(self.path):
                return
            self.body_rcv, self.content_length, self.expect_continue = None, 0, False
            self.headers["CONNECTION"] = "close"
            self.channel.linger = True

        def _refusal(self) -> Refusal | None:
            get = lambda name: self.headers.get(name.upper().replace("-", "_"))  # noqa: E731
            return check_headers(w.shared.catalog, limit, get)[1]

    class GatedChannel(HTTPChannel):
        linger = False  # a body was left unread: drain it before closing
        linger_until = 0.0

        def __init__(self, *args, **kw):
            self.parser_class = lambda adj: GatedParser(adj, self)
            super().__init__(*args, **kw)

        def handle_close(self):
            if self.linger and not self.linger_until and self.connected:
                try:
                    self.socket.shutdown(socket.SHUT_WR)  # the answer is sent whole
                except OSError:
                    return super().handle_close()
                self.linger_until = time.monotonic() + LINGER_S
                self.will_close = False
                return None
            return super().handle_close()

        def readable(self):
            return True if self.linger_until else super().readable()

        def writable(self):
            return self.will_close if self.linger_until else super().writable()

        def handle_read(self):
            if not self.linger_until:
                return super().handle_read()
            try:
                data = self.socket.recv(CHUNK)
            except OSError:
                data = b""
            if not data or time.monotonic() > self.linger_until:
                super().handle_close()
            return None

    return GatedChannel
