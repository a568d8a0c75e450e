"""Secrets: read them from files only their owners may read, and keep them out of every
message, status line and log record (service URLs are shown with their passwords masked)."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from .errors import ConfigError

MASK = "***"
_SECRET_PARAMS = re.compile(r"pass(word|wd)?|pwd|secret|token|api_?key", re.I)
# scheme://user:password@  (anywhere in a text, e.g. inside a library's error message)
_USERINFO = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s/@:]*:)[^\s@]*@", re.I)
_API_TOKEN = re.compile(r"\bkho_[A-Za-z0-9_-]{20,}")  # core.tokens.new_token's
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:pass(?:word|wd)?|pwd|secret|token|api_?key)=)[^&\s#]*", re.I
)


def redact_url(url: str) -> str:
    """`url` with its password and secret query parameters masked:
    'redis://:s3cret@host:6379/0' -> 'redis://:***@host:6379/0'."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    out = url
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        masked = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
        out = out.replace(parts.netloc, masked, 1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(_SECRET_PARAMS.fullmatch(k) for k, _ in pairs):
        query = urlencode(
            [(k, MASK if _SECRET_PARAMS.fullmatch(k) else v) for k, v in pairs], safe="*"
        )
        out = out.replace(f"?{parts.query}", f"?{query}", 1)
    return out


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with the passwords of any URLs in it and any API token masked, and each of
    `secrets` too."""
    text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    text = _QUERY_SECRET.sub(lambda m: m["head"] + MASK, text)
    text = _API_TOKEN.sub("kho_" + MASK, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def read_secret_file(path: str | Path, what: str) -> str:
    """The secret kept in `path` (one line; a trailing newline is dropped). The file must
    not be readable by other users: ConfigError (naming `what`, the setting) otherwise."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXO):
            raise ConfigError(
                f"{what}: {path} is readable by other users; chmod 600 {path} (or 640 for a group)"
            )
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        raise ConfigError(f"{what}: cannot read {path}: {err.strerror}") from err
    if not value:
        raise ConfigError(f"{what}: {path} is empty")
    return value
