"""Who is reading, for `kho web`: password hashes, the login check, the proxy header.

Passwords are stored only as scrypt hashes (`kho web passwd` prints one for the config);
the check takes the same time whether or not the name exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os

from kho.core.errors import ConfigError
from kho.core.settings import Settings
from kho.core.types import Principal

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_DUMMY = None  # a hash to check unknown names against, so timing does not tell


def hash_password(password: str, salt: bytes | None = None) -> str:
    """'scrypt$N$r$p$salt$hash' (base64): what goes into `password = ...` in the config."""
    if not password:
        raise ConfigError("an empty password cannot be set")
    salt = salt or os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def check_login(settings: Settings, name: str, password: str) -> Principal | None:
    """The principal if the name has a password and it matches, else None."""
    global _DUMMY
    stored = settings.passwords.get(name)
    if stored is None or name not in settings.principals:
        _DUMMY = _DUMMY or hash_password("-")
        verify_password(password, _DUMMY)  # the same work as a real check
        return None
    return settings.principals[name] if verify_password(password, stored) else None


def auth_mode(settings: Settings) -> str:
    """The configured [web] auth, or its default: password if any principal has one."""
    return settings.web.auth or ("password" if settings.passwords else "none")


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to serve the archive past this machine without knowing who reads it."""
    if auth_mode(settings) != "none":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConfigError(
            f"kho web on {host} needs [web] auth: give principals a password "
            '(kho web passwd NAME) or put an authenticating proxy in front (auth = "header")'
        )


def header_principal(settings: Settings, value: str | None) -> Principal | None:
    """auth = "header": the principal named by the proxy's header, if configured."""
    if not value:
        return None
    return settings.principals.get(value.strip())
