"""Web sessions kept in the catalog, so a signed cookie alone opens nothing.

The cookie carries a random session id; the catalog keeps only its SHA-256, with the
principal, a digest of the password hash they logged in with, and an expiry. Every request
looks its session up: a logout deletes it, and a session whose principal left the config or
whose password changed since the login is refused (and deleted) the next time it is shown.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete

from kho.core.models import WebSession, now
from kho.core.settings import Settings


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def password_tag(settings: Settings, name: str) -> str:
    """What identifies the principal's current password hash (empty: no password)."""
    stored = settings.passwords.get(name, "")
    return _digest(stored) if stored else ""


def open_session(catalog, settings: Settings, name: str, client: str) -> str:
    """A new session for `name`; returns the id the cookie carries (stored only hashed)."""
    sid = secrets.token_urlsafe(32)
    at = now()
    with catalog.session() as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < at))  # housekeeping
        s.add(
            WebSession(
                id_hash=_digest(sid),
                principal=name,
                password_tag=password_tag(settings, name),
                client=client[:100],
                created_at=at,
                expires_at=at + timedelta(hours=settings.web.session_hours),
            )
        )
    return sid


def session_principal(catalog, settings: Settings, sid: str) -> str | None:
    """The principal's name if `sid` is a live session whose login still holds; else None
    (and a session that no longer holds is deleted)."""
    if not sid or not isinstance(sid, str):
        return None
    key = _digest(sid)
    with catalog.session() as s:
        row = s.get(WebSession, key)
        if row is None:
            return None
        name = row.principal
        tag = password_tag(settings, name)
        if row.expires_at < now() or name not in settings.principals or row.password_tag != tag:
            s.delete(row)
            return None
    return name


def close_session(catalog, sid: str) -> None:
    """Logout: the session cannot be used again, whatever the cookie says."""
    if sid and isinstance(sid, str):
        with catalog.session() as s:
            s.execute(delete(WebSession).where(WebSession.id_hash == _digest(sid)))
