"""A receiving archive served by a real `kho web serve`, peers registered as `Peer` rows,
and a raw client that signs (or mis-signs) a push exactly as told."""

from __future__ import annotations

import base64
import hashlib
import socket
from datetime import UTC, datetime
from pathlib import Path

from kho.core.models import Peer
from kho.core.settings import load_settings
from kho.exchange.identity import init_node
from kho.workers.context import Context

CONFIG = """
[transfer]
max_bytes = {max_bytes}

[web]
max_failed_logins = 4
"""


def make_receiver(root: Path, max_bytes: int = 400 * 1024 * 1024) -> tuple[Path, dict]:
    home = root / "receiver"
    home.mkdir(mode=0o700)
    config = root / "receiver.toml"
    config.write_text(CONFIG.format(max_bytes=max_bytes), encoding="utf-8")
    init_node(home, "qk7", "000.00.00.G09", "qk7")
    return home, {"KHO_CONFIG": str(config)}


def make_sender(root: Path, name: str):
    home = root / name
    home.mkdir(mode=0o700)
    return home, init_node(home, name, "000.00.00.F09", f"qk7/{name}")


def catalog_of(home: Path, env: dict):
    return Context(load_settings({"KHO_HOME": str(home), **env})).catalog


def register(catalog, node, units: list[str], revoked: bool = False) -> None:
    ident = node.identity
    with catalog.session(write=True) as s:
        s.add(
            Peer(
                name=ident.name,
                organ_id=ident.organ_id,
                unit=ident.unit,
                sign_key=ident.sign_key,
                seal_key=ident.seal_key,
                fingerprint=ident.fingerprint,
                units=units,
                revoked_at=datetime.now(UTC).replace(tzinfo=None) if revoked else None,
            )
        )


def signed_headers(
    node,
    body_digest: str,
    length: int,
    *,
    date: datetime | None = None,
    signed_digest: str | None = None,
    signed_length: int | None = None,
) -> dict[str, str]:
    """The push headers for a body, signed by `node` (over other values if told)."""
    when = (date or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = (
        f"POST\n/api/transfer\n{when}\n{signed_digest or body_digest}\n"
        f"{length if signed_length is None else signed_length}"
    )
    sig = node.sign("push", message.encode())
    return {
        "X-Kho-Node": node.fingerprint,
        "X-Kho-Date": when,
        "X-Kho-Content-SHA512": body_digest,
        "X-Kho-Signature": base64.b64encode(sig).decode(),
        "Content-Type": "application/x-tar",
        "Content-Length": str(length),
    }


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def head_bytes(headers: dict[str, str]) -> bytes:
    lines = ["POST /api/transfer HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of one HTTP answer (the server closes or sends Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while length is None or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def push(port: int, headers: dict[str, str], body_chunks, timeout: float = 60):
    """Send one push over a raw socket: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head_bytes(headers))
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_answer(sock)


def audit_rows(catalog, *actions: str) -> list:
    return [r for r in catalog.audit_rows() if r.action in actions]
