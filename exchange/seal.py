"""Sealing a package for one recipient (removable media): X25519 with a fresh key per
package, HKDF-SHA256, then ChaCha20-Poly1305 over 1 MiB chunks, streamed both ways.

    magic (12) | recipient fingerprint (32) | ephemeral public key (32) | chunks...

Each chunk's nonce is its number and a last-chunk flag, and the header is authenticated
with every chunk, so a reordered, dropped, truncated or extended file fails to open.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kho.core.errors import KhoError

from .identity import RAW, Identity, Node

MAGIC = b"KHO-SEALED\x00\x01"
CHUNK = 1 << 20
TAG = 16
HEADER = len(MAGIC) + 32 + 32


class SealError(KhoError):
    """A sealed package this node cannot open: not for it, damaged or truncated."""


def is_sealed(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def _key(shared: bytes, header: bytes) -> ChaCha20Poly1305:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=header, info=b"kho-seal-v1")
    return ChaCha20Poly1305(hkdf.derive(shared))


def _nonce(n: int, last: bool) -> bytes:
    return b"\0\0\0" + n.to_bytes(8, "big") + (b"\1" if last else b"\0")


def _chunks(f: BinaryIO, size: int) -> Iterator[tuple[bytes, bool]]:
    """(chunk, is last) of the rest of `f`; an empty file is one empty last chunk."""
    data = f.read(size)
    while True:
        following = f.read(size)
        yield data, not following
        if not following:
            return
        data = following


def seal(src: Path, out: BinaryIO, recipient: Identity) -> None:
    """Write `src` sealed for `recipient` to `out`."""
    eph = X25519PrivateKey.generate()
    header = MAGIC + bytes.fromhex(recipient.fingerprint) + eph.public_key().public_bytes(*RAW)
    aead = _key(eph.exchange(recipient.seal_public()), header)
    out.write(header)
    with open(src, "rb") as f:
        for n, (chunk, last) in enumerate(_chunks(f, CHUNK)):
            out.write(aead.encrypt(_nonce(n, last), chunk, header))


def unseal(src: Path, out: BinaryIO, node: Node, limit: int) -> int:
    """Write the plain package sealed in `src` to `out`; returns its size. SealError when
    the package is for another node, was changed or cut, or opens to more than `limit`."""
    size = os.path.getsize(src)
    if size - HEADER > limit + (limit // CHUNK + 1) * TAG:
        raise SealError(f"the sealed package is {size} bytes, over the {limit}-byte limit")
    with open(src, "rb") as f:
        header = f.read(HEADER)
        if len(header) < HEADER or not header.startswith(MAGIC):
            raise SealError("not a sealed kho package (bad header)")
        if header[len(MAGIC) : len(MAGIC) + 32].hex() != node.fingerprint:
            raise SealError(f"the package is sealed for another node, not {node.name}")
        shared = node.seal_private.exchange(X25519PublicKey.from_public_bytes(header[-32:]))
        aead, written = _key(shared, header), 0
        for n, (chunk, last) in enumerate(_chunks(f, CHUNK + TAG)):
            try:
                plain = aead.decrypt(_nonce(n, last), chunk, header)
            except InvalidTag as err:
                raise SealError(
                    f"the sealed package is damaged or truncated at chunk {n + 1}; "
                    "copy it again from the sender's medium"
                ) from err
            out.write(plain)
            written += len(plain)
    return written
