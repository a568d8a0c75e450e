"""Node identities and sealed packages: what one node signs another verifies, what is sealed
for one node opens only there, whole and unchanged."""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from kho.exchange.identity import (
    Identity,
    IdentityError,
    SignatureError,
    init_node,
    load_identity,
    load_node,
)
from kho.exchange.seal import CHUNK, HEADER, TAG, SealError, is_sealed, seal, unseal


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("nodes")
    made = {}
    for name, unit in (("f9-e1", "qk7/f9/e1"), ("f9", "qk7/f9")):
        init_node(root / name, name, "000.00.00.G09", unit)
        made[name] = load_node(root / name)
    return made


def test_a_signature_verifies_only_for_its_purpose_data_and_signer(nodes):
    a, b = nodes["f9-e1"], nodes["f9"]
    sig = a.sign("transfer", b"tag manifest bytes")
    a.identity.verify("transfer", b"tag manifest bytes", sig)
    with pytest.raises(SignatureError):
        a.identity.verify("receipt", b"tag manifest bytes", sig)  # another purpose
    with pytest.raises(SignatureError):
        a.identity.verify("transfer", b"tag manifest bytez", sig)
    with pytest.raises(SignatureError):
        b.identity.verify("transfer", b"tag manifest bytes", sig)


def test_an_identity_file_with_a_swapped_key_or_field_is_refused(nodes, tmp_path):
    ident = nodes["f9-e1"].identity
    assert Identity.from_json(ident.to_json()) == ident
    other = nodes["f9"].identity
    for field, value in (("seal_key", other.seal_key), ("unit", "qk7"), ("name", "f9-e2")):
        body = json.loads(ident.to_json())
        body[field] = value
        with pytest.raises(IdentityError):
            Identity.from_json(json.dumps(body).encode())
    with pytest.raises(IdentityError, match="not JSON"):
        Identity.from_json(b"\x89PNG")


def test_init_refuses_a_second_identity_and_keeps_the_keys_private(tmp_path):
    node = init_node(tmp_path, "e1", "000.00.00.G09", "qk7/f9/e1")
    with pytest.raises(Exception, match="already has an identity"):
        init_node(tmp_path, "e1", "000.00.00.G09", "qk7/f9/e1")
    assert load_identity(tmp_path) == node.identity
    for key in ("sign.key", "seal.key"):
        assert (tmp_path / "node" / key).stat().st_mode & 0o077 == 0
    assert (tmp_path / "node").stat().st_mode & 0o077 == 0
    assert b"PRIVATE" not in (tmp_path / "node" / "identity.json").read_bytes()


def _sealed(tmp_path, recipient, size: int) -> tuple[bytes, bytes]:
    plain = os.urandom(size)
    src = tmp_path / "plain"
    src.write_bytes(plain)
    out = io.BytesIO()
    seal(src, out, recipient.identity)
    return plain, out.getvalue()


def _open(tmp_path, node, data: bytes, limit: int = 1 << 30) -> bytes:
    path = tmp_path / "sealed"
    path.write_bytes(data)
    out = io.BytesIO()
    assert unseal(path, out, node, limit) == len(out.getvalue())
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK, 2 * CHUNK + 7])
def test_sealed_opens_whole_for_its_recipient(nodes, tmp_path, size):
    plain, sealed = _sealed(tmp_path, nodes["f9"], size)
    path = tmp_path / "s"
    path.write_bytes(sealed)
    assert is_sealed(path)
    opened = _open(tmp_path, nodes["f9"], sealed)
    assert hashlib.sha256(opened).digest() == hashlib.sha256(plain).digest()


def test_sealed_for_another_node_damaged_cut_or_reordered_does_not_open(nodes, tmp_path):
    _, sealed = _sealed(tmp_path, nodes["f9"], 2 * CHUNK + 7)
    with pytest.raises(SealError, match="another node"):
        _open(tmp_path, nodes["f9-e1"], sealed)
    flipped = bytearray(sealed)
    flipped[HEADER + 100] ^= 1
    step = CHUNK + TAG
    first, second = sealed[HEADER : HEADER + step], sealed[HEADER + step : HEADER + 2 * step]
    cases = {
        "a flipped byte": bytes(flipped),
        "cut at a chunk boundary": sealed[: HEADER + 2 * step],
        "cut inside a chunk": sealed[:-3],
        "extended": sealed + b"\0" * 40,
        "chunks swapped": sealed[:HEADER] + second + first + sealed[HEADER + 2 * step :],
    }
    for data in cases.values():
        with pytest.raises(SealError, match="damaged or truncated"):
            _open(tmp_path, nodes["f9"], data)


def test_a_sealed_file_over_the_limit_is_refused_before_decrypting(nodes, tmp_path):
    _, sealed = _sealed(tmp_path, nodes["f9"], 3 * CHUNK)
    with pytest.raises(SealError, match="over the"):
        _open(tmp_path, nodes["f9"], sealed, limit=CHUNK)
