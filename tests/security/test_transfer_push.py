"""`POST /api/transfer` on a real `kho web serve`: only a registered sending peer's signed
request is read, a refusal is answered from the headers alone, nothing received stays, the
server's memory stays bounded, and every refusal is audited without the body or signature."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .transferpush import (
    audit_rows,
    catalog_of,
    head_bytes,
    make_receiver,
    make_sender,
    push,
    read_answer,
    register,
    sha512,
    signed_headers,
)
from .webdoor import Server

BODY = b"NOT-A-REAL-PACKAGE-BODY-7f3a" * 1000
MAX_BYTES = 400 * 1024 * 1024


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = tmp_path_factory.mktemp("push")
    home, env = make_receiver(root, MAX_BYTES)
    catalog = catalog_of(home, env)
    _, sender = make_sender(root, "f9")
    _, stranger = make_sender(root, "f8")
    _, revoked = make_sender(root, "f7")
    _, receiver_only = make_sender(root, "f6")
    register(catalog, sender, ["qk7/f9"])
    register(catalog, revoked, ["qk7/f7"], revoked=True)
    register(catalog, receiver_only, [])
    with Server(home, env) as server:
        yield {
            "home": home,
            "catalog": catalog,
            "server": server,
            "sender": sender,
            "stranger": stranger,
            "revoked": revoked,
            "receiver_only": receiver_only,
        }


def incoming(home: Path) -> list[Path]:
    folder = home / "transfers" / "incoming"
    return sorted(folder.iterdir()) if folder.exists() else []


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


def test_unsigned_request_is_refused(net):
    headers = {"Content-Type": "application/x-tar", "Content-Length": str(len(BODY))}
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 401
    assert "unsigned" in error_of(body) and "chưa được ký" in error_of(body)


@pytest.mark.parametrize("who", ["stranger", "revoked"])
def test_unknown_or_revoked_key_is_refused(net, who):
    headers = signed_headers(net[who], sha512(BODY), len(BODY))
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 401
    assert "unknown or revoked node key" in error_of(body)


def test_receiver_only_peer_may_not_send(net):
    headers = signed_headers(net["receiver_only"], sha512(BODY), len(BODY))
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 403
    assert "no units" in error_of(body)


def test_stale_date_is_refused(net):
    old = datetime.now(UTC) - timedelta(minutes=6)
    headers = signed_headers(net["sender"], sha512(BODY), len(BODY), date=old)
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 401
    assert "5 minutes" in error_of(body)


@pytest.mark.parametrize("other", ["length", "digest"])
def test_signature_over_other_length_or_hash_is_refused(net, other):
    kw = {"signed_length": len(BODY) + 1} if other == "length" else {"signed_digest": "0" * 128}
    headers = signed_headers(net["sender"], sha512(BODY), len(BODY), **kw)
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 401
    assert "signature is not f9's" in error_of(body)


def test_body_not_matching_its_hash_is_refused_and_not_kept(net):
    claimed = sha512(b"another body")
    headers = signed_headers(net["sender"], claimed, len(BODY))
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 400
    assert "does not match X-Kho-Content-SHA512" in error_of(body)
    assert incoming(net["home"]) == []
    # the same signed request again is a replay
    status, body = push(net["server"].port, headers, [BODY])
    assert status == 409
    assert "replayed" in error_of(body)


def _answered_from_headers(port: int, headers: dict) -> tuple[int, bytes, float]:
    """Send the headers only, never the body: the answer must come without it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(head_bytes(headers))
        status, body = read_answer(sock)
        return status, body, time.monotonic() - start


def test_too_large_is_refused_before_the_body(net):
    huge = MAX_BYTES + 1
    headers = signed_headers(net["sender"], sha512(b"x"), huge)
    status, body, took = _answered_from_headers(net["server"].port, headers)
    assert status == 413
    assert "package too large" in error_of(body) and "Gói quá lớn" in error_of(body)
    assert took < 5


def test_unsigned_big_body_is_refused_before_the_body(net):
    headers = {"Content-Type": "application/x-tar", "Content-Length": str(MAX_BYTES)}
    status, body, took = _answered_from_headers(net["server"].port, headers)
    assert status == 401
    assert took < 5


def test_a_stream_cut_short_leaves_no_file(net):
    port = net["server"].port
    length = 50 * 1024 * 1024
    headers = signed_headers(net["sender"], sha512(b"never"), length)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head_bytes(headers))
        sock.sendall(b"\0" * (length // 2))
    time.sleep(1)
    assert incoming(net["home"]) == []
    # the server still takes the next push whole (and refuses this one for its hash)
    headers = signed_headers(net["sender"], sha512(b"other"), len(BODY))
    status, body = push(port, headers, [BODY])
    assert status == 400 and "does not match" in error_of(body)
    assert incoming(net["home"]) == []


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_memory_stays_bounded_while_receiving_300_mb(net):
    pid = net["server"].proc.pid
    before = vm_hwm_kb(pid)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    count = 300
    length = len(chunk) * count
    headers = signed_headers(net["sender"], sha512(b"not these bytes"), length)
    status, body = push(net["server"].port, headers, (chunk for _ in range(count)), timeout=300)
    assert status == 400 and "does not match" in error_of(body)  # read whole, then refused
    growth_mb = (vm_hwm_kb(pid) - before) / 1024
    assert growth_mb < 100, f"the server grew by {growth_mb:.0f} MB receiving 300 MB"
    assert incoming(net["home"]) == []


def test_refusals_are_audited_without_body_or_signature(net):
    headers = signed_headers(net["stranger"], sha512(BODY), len(BODY))
    status, _ = push(net["server"].port, headers, [BODY])
    assert status == 401
    rows = audit_rows(net["catalog"], "transfer-refused")
    reasons = [r.detail["reason"] for r in rows]
    assert any("unknown or revoked" in r for r in reasons)
    assert any("does not match" in r for r in reasons)
    assert any("package too large" in r for r in reasons)
    mine = [r for r in rows if r.detail.get("node") == net["stranger"].fingerprint]
    assert mine and mine[-1].detail["size"] == len(BODY)
    signature = headers["X-Kho-Signature"]
    for r in rows:
        text = json.dumps(r.detail)
        assert signature not in text and "NOT-A-REAL-PACKAGE" not in text
    logs = list((net["home"] / "logs").glob("*")) if (net["home"] / "logs").exists() else []
    net["server"].log.seek(0)
    texts = [net["server"].log.read().decode("utf-8", "replace")]
    texts += [p.read_text("utf-8", "replace") for p in logs if p.is_file()]
    for text in texts:
        assert signature not in text and "NOT-A-REAL-PACKAGE" not in text


def test_failed_pushes_are_held_back(tmp_path):
    home, env = make_receiver(tmp_path, MAX_BYTES)
    _, stranger = make_sender(tmp_path, "f5")
    with Server(home, env) as server:
        statuses = []
        for _ in range(6):
            headers = signed_headers(stranger, sha512(BODY), len(BODY))
            statuses.append(push(server.port, headers, [BODY])[0])
    assert statuses[:4] == [401] * 4  # [web] max_failed_logins = 4
    assert statuses[4:] == [429, 429]
    rows = audit_rows(catalog_of(home, env), "transfer-refused")
    assert [r.detail.get("reason") for r in rows].count("too many failed pushes") == 1


def test_a_receiver_without_a_node_identity_refuses_before_the_body(tmp_path):
    home, env = make_receiver(tmp_path, MAX_BYTES)
    _, sender = make_sender(tmp_path, "f4")
    register(catalog_of(home, env), sender, ["qk7/f4"])
    for name in ("identity.json", "sign.key", "seal.key"):
        (home / "node" / name).unlink()
    with Server(home, env) as server:
        headers = signed_headers(sender, sha512(BODY), len(BODY))
        status, body = push(server.port, headers, [BODY])
    assert status == 503 and "no node" in error_of(body)
    assert incoming(home) == []
