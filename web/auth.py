"""Who is reading, for `kho web`: password hashes, the login check, the proxy header.

Passwords are stored only as scrypt hashes (`kho web passwd` prints one for the config);
the check takes the same time whether or not the name exists. A proxy's word (its user
header, its X-Forwarded-For) counts only from an address in `[web] trusted_proxies`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import threading
import time
from collections import deque
from urllib.parse import urlsplit

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


def is_loopback(host: str) -> bool:
    """A bind address or peer on this machine only (127.0.0.0/8, ::1, "localhost")."""
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def check_bind(settings: Settings, host: str, unix_socket: bool = False) -> None:
    """Refuse to serve the archive past this machine without knowing who reads it."""
    mode, proxies = auth_mode(settings), settings.web.trusted_proxies
    if mode == "none" and (unix_socket or not is_loopback(host)):
        where = "a unix socket" if unix_socket else host
        raise ConfigError(
            f"kho web on {where} needs [web] auth: give principals a password "
            '(kho web passwd NAME) or put an authenticating proxy in front (auth = "header")'
        )
    if mode != "header":
        return
    if unix_socket and "unix" not in proxies:
        raise ConfigError(
            'auth = "header" on a unix socket: add "unix" to [web] trusted_proxies '
            "(the socket's file mode then decides who may name the reader)"
        )
    if not unix_socket and not is_loopback(host) and not [p for p in proxies if p != "unix"]:
        raise ConfigError(
            f'auth = "header" on {host} needs [web] trusted_proxies: the addresses of the '
            f"proxy that sets {settings.web.user_header} (anyone else could set it)"
        )


def trusted_peer(settings: Settings, peer: str) -> bool:
    """Is the connection's peer one of `[web] trusted_proxies`?"""
    proxies = settings.web.trusted_proxies
    if peer == "localhost":  # waitress's name for the peer of a unix socket
        return "unix" in proxies
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return False
    addr = getattr(addr, "ipv4_mapped", None) or addr
    return any(addr in ipaddress.ip_network(p, strict=False) for p in proxies if p != "unix")


def header_trusted(settings: Settings, peer: str) -> bool:
    """May this peer name the reader (auth = "header")? A trusted proxy; without any
    configured, only this machine (the server is then bound to loopback: `check_bind`)."""
    if settings.web.trusted_proxies:
        return trusted_peer(settings, peer)
    return is_loopback(peer) and peer != "localhost"


def client_address(settings: Settings, peer: str, forwarded: str | None) -> str:
    """Who connected: the peer, or the address a trusted proxy says it forwarded for."""
    if forwarded and trusted_peer(settings, peer):
        last = forwarded.split(",")[-1].strip()  # the entry the trusted proxy added
        if last:
            return last[:100]
    return peer


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def loopback_host(host: str) -> bool:
    """A Host header naming this machine (with or without a port): what a browser sends
    to a loopback server unless a page elsewhere rebound its own name to 127.0.0.1."""
    host = host.strip().lower()
    if host.startswith("["):
        name, sep, rest = host.partition("]")
        name, port = name + sep, rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return False
    else:
        name, _, port = host.partition(":")
    return name in LOOPBACK_NAMES and (port == "" or port.isdigit())


def safe_next(target: str | None) -> str:
    r"""Where to go after login: a path of this site only, else "/". Browsers drop tabs and
    newlines and read a backslash as a slash, so `/\t/evil` and `/\evil` are other hosts."""
    target = target or "/"
    if len(target) > 2000 or "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def login_actor(settings: Settings, name: str, key: str) -> str:
    """The audit log's actor for a login attempt: the name if it is a principal's, else a
    keyed digest of it, so a password typed into the name field is never stored."""
    if name in settings.principals:
        return name
    digest = hmac.new(key.encode(), name.encode(), hashlib.sha256).hexdigest()
    return f"?{digest[:12]}"


class LoginThrottle:
    """Failed logins lately, per source address and per (address, name), in this process.

    Checked before any password is hashed: an address past `per_source` failures, or a name
    past `per_name` failures from that address, is refused until they age out of the window.
    Only the address that failed is held back, so nobody elsewhere can lock a name out.
    The first refusal of each hold is worth an audit line; a flood of them is not.
    """

    MAX_KEYS = 100_000  # bounded memory under a flood from many addresses

    def __init__(self, per_name: int, per_source: int, window_s: float):
        self.per_name, self.per_source, self.window_s = per_name, per_source, window_s
        self._fails: dict[tuple, deque] = {}
        self._noted: set[tuple] = set()  # holds whose first refusal was reported
        self._lock = threading.Lock()

    @staticmethod
    def source(address: str) -> str:
        """IPv6 clients are counted by /64: one host can hold a whole one."""
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            return address
        if addr.version == 6 and not addr.ipv4_mapped:
            return str(ipaddress.ip_network(f"{addr}/64", strict=False))
        return str(getattr(addr, "ipv4_mapped", None) or addr)

    def _recent(self, key: tuple, at: float) -> int:
        times = self._fails.get(key)
        while times and times[0] <= at - self.window_s:
            times.popleft()
        if times is not None and not times:
            del self._fails[key]
            self._noted.discard(key)
            return 0
        return len(times or ())

    def refused(self, address: str, name: str) -> tuple[bool, bool]:
        """(refuse this attempt, and it is the first refusal of a new hold)."""
        src, at = self.source(address), time.monotonic()
        limits = (((src,), self.per_source), ((src, name), self.per_name))
        with self._lock:
            held = {key for key, limit in limits if self._recent(key, at) >= limit}
            first = bool(held - self._noted)
            self._noted |= held
        return bool(held), first

    def failed(self, address: str, name: str) -> None:
        src, at = self.source(address), time.monotonic()
        with self._lock:
            if len(self._fails) >= self.MAX_KEYS:
                for key in list(self._fails):
                    self._recent(key, at)
                while len(self._fails) >= self.MAX_KEYS:
                    self._noted.discard(next(iter(self._fails)))
                    self._fails.pop(next(iter(self._fails)))
            for key in ((src,), (src, name)):
                self._fails.setdefault(key, deque()).append(at)


def header_principal(settings: Settings, value: str | None) -> Principal | None:
    """auth = "header": the principal named by the proxy's header, if configured."""
    if not value:
        return None
    return settings.principals.get(value.strip())
