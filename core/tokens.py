"""Tokens for the JSON API (`kho web token create`), each acting as one principal.

A token is `kho_` and 32 random bytes (URL-safe base64), printed once when made; the catalog
keeps only its SHA-256, so a copy of the catalog opens nothing. A token acts with its
principal's access exactly (whatever the config says of that principal at each request),
until it expires or is revoked; its row stays for the record. Every change is one
transaction with its audit row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .errors import NotFoundError, UsageError
from .models import ApiToken, now

PREFIX = "kho_"
TOKEN_BYTES = 32
TOKEN_RE = re.compile(r"kho_[A-Za-z0-9_-]{43}")  # what new_token makes (43 = 32 bytes)
MAX_DAYS = 3650
LABEL_SIZE = 200  # ApiToken.label
USE_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What the catalog keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_label(label: str) -> str:
    """A label as typed, checked: plain text of at most LABEL_SIZE characters."""
    label = label.strip()
    if len(label) > LABEL_SIZE or any(unicodedata.category(c)[0] == "C" for c in label):
        raise UsageError(f"--label takes plain text of at most {LABEL_SIZE} characters")
    return label


@dataclass(frozen=True)
class TokenCheck:
    """What a token presented to the API is: its row if it may act, else why not
    ("unknown", "expired" or "revoked"; the row too for the last two)."""

    token: ApiToken | None
    refusal: str = ""


class TokenQueries:
    """Mixed into `catalog.Catalog`: the JSON API's tokens."""

    def session(self, *, write: bool = False): ...  # from Catalog

    def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None: ...

    def tokens(self) -> list[ApiToken]:
        with self.session() as s:
            return list(s.scalars(select(ApiToken).order_by(ApiToken.id)))

    def create_token(
        self, principal: str, label: str, days: int, actor: str, door: dict
    ) -> tuple[ApiToken, str]:
        """A new token for `principal` (a name the caller checked is configured), valid
        `days` days: (its row, the token, which is never stored)."""
        if not 1 <= days <= MAX_DAYS:
            raise UsageError(f"--expires takes 1 to {MAX_DAYS} days, not {days}")
        label, token = token_label(label), new_token()
        at = now()
        with self.session(write=True) as s:
            row = ApiToken(
                token_hash=token_digest(token),
                principal=principal,
                label=label,
                created_at=at,
                created_by=actor,
                expires_at=at + timedelta(days=days),
            )
            s.add(row)
            s.flush()
            detail = {**door, "token_id": row.id, "user": principal, "label": label}
            self.append_audit(s, actor, "token-create", {**detail, "days": days})
            return row, token

    def revoke_token(self, token_id: int, actor: str, door: dict) -> ApiToken:
        """Refuse the token `token_id` from now on, for good."""
        with self.session(write=True) as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no token {token_id}: see kho web token list")
            if row.revoked_at is not None:
                when = f"{row.revoked_at:%Y-%m-%d}"
                raise UsageError(f"token {token_id} was revoked already ({when})")
            row.revoked_at, row.revoked_by = now(), actor
            s.flush()
            detail = {**door, "token_id": row.id, "user": row.principal}
            self.append_audit(s, actor, "token-revoke", detail)
            return row

    def check_token(self, token: str) -> TokenCheck:
        """The row of `token` if it may act now (its last use noted), else why not."""
        if not TOKEN_RE.fullmatch(token):
            return TokenCheck(None, "unknown")
        digest, at = token_digest(token), now()
        with self.session() as s:
            row = s.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
            if row is None or not hmac.compare_digest(row.token_hash, digest):
                return TokenCheck(None, "unknown")
            if row.revoked_at is not None:
                return TokenCheck(row, "revoked")
            if row.expires_at <= at:
                return TokenCheck(row, "expired")
            if row.last_used_at is None or at - row.last_used_at >= USE_EVERY:
                s.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=at))
                row.last_used_at = at
            s.expunge(row)
            return TokenCheck(row)
