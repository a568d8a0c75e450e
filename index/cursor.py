"""Search cursors: opaque, signed, and holding only what the reader was already shown.

A cursor names the last hit of a page by its (doc_id, page) and is bound to the search and
the principal it came from. The backend looks that page up again inside the same visible
match set to find where to go on, so no score, rowid or hidden count ever leaves the index.
The HMAC key is kept in `cursor.key` under the storage root (0600), so a cursor printed by one
`kho search` works in the next and in every web process, and a changed one is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from pathlib import Path

from kho.core.errors import KhoError, UsageError
from kho.core.permissions import PRIVATE, FilePolicy
from kho.core.storage import key_file

KEY_FILE = "cursor.key"
KEY_BYTES = 32
TAG_BYTES = 16  # HMAC-SHA256 truncated to 128 bits


class CursorError(UsageError):
    """A cursor that is not one this archive made for this search (a usage error, exit 2)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    """Seals and opens cursors with one key (a random one for this process if none given)."""

    def __init__(self, key: bytes | None = None):
        self._key = key or secrets.token_bytes(KEY_BYTES)

    @classmethod
    def at(cls, home: Path, policy: FilePolicy = PRIVATE) -> Cursors:
        """The archive's cursors: the key in home/cursor.key, made on first use."""
        return cls(_load_key(Path(home) / KEY_FILE, policy))

    def seal(self, search: str, doc_id: str, page: int) -> str:
        """A cursor after the hit (doc_id, page) of the search `search` (see search_key)."""
        payload = json.dumps([search, doc_id, page], separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def open(self, cursor: str, search: str) -> tuple[str, int]:
        """(doc_id, page) of the hit a cursor of this search was made after; else CursorError."""
        try:
            body, tag = cursor.split(".")
            payload = _unb64(body)
            # compared as text: base64 ignores the spare bits of a last character
            good = _b64(payload) == body and hmac.compare_digest(tag, _b64(self._tag(payload)))
            data = json.loads(payload) if good else None
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            data = None
        if (
            not isinstance(data, list)
            or len(data) != 3
            or data[0] != search
            or not isinstance(data[1], str)
            or type(data[2]) is not int
        ):
            raise CursorError("invalid search cursor; repeat the search without 'after'")
        return data[1], data[2]

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:TAG_BYTES]


def search_key(query, principal, kind: str) -> str:
    """What binds a cursor: the principal, the sort, the words, filters and dates."""
    shape = [
        principal.name,
        kind,
        query.text,
        sorted((k, list(v)) for k, v in query.filters.items()),
        query.date_from,
        query.date_to,
    ]
    raw = json.dumps(shape, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _load_key(path: Path, policy: FilePolicy) -> bytes:
    """The key in `path`, made on first use."""
    try:
        return bytes.fromhex(key_file(path, policy, KEY_BYTES))
    except ValueError:
        raise KhoError(f"{path} is not a cursor key: delete it (a new one is made)") from None
