"""A real `kho web serve` process and a small HTTP client that sends exactly what it is told
(any Host, Origin, cookie or none, from any loopback source address)."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def kho_env(home: Path, env: dict) -> dict:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    return {**full, "KHO_HOME": str(home), **env}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str
    cookies: dict = field(default_factory=dict)

    def csrf(self) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.body).group(1)


def request(
    port: int,
    method: str,
    path: str,
    *,
    form: dict | None = None,
    headers: dict | None = None,
    cookies: dict | None = None,
    source: str | None = None,
) -> Reply:
    """One HTTP request to 127.0.0.1:port, from `source` (another 127.x address) if given."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0) if source else None
    )
    sent = dict(headers or {})
    body = None
    if form is not None:
        body = urlencode(form)
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if cookies:
        sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
    finally:
        conn.close()
    jar = SimpleCookie()
    for value in resp.headers.get_all("Set-Cookie") or ():
        jar.load(value)
    return Reply(resp.status, resp.headers, data, {k: m.value for k, m in jar.items()})


class Browser:
    """Keeps the cookies it is given, like a browser on one site."""

    def __init__(self, port: int, source: str | None = None):
        self.port, self.source, self.cookies = port, source, {}

    def go(self, method: str, path: str, **kw) -> Reply:
        reply = request(self.port, method, path, cookies=self.cookies, source=self.source, **kw)
        self.cookies.update(reply.cookies)
        return reply

    def get(self, path: str, **kw) -> Reply:
        return self.go("GET", path, **kw)

    def post(self, path: str, form: dict, **kw) -> Reply:
        return self.go("POST", path, form=form, **kw)

    def login(self, name: str, password: str, next_: str = "/") -> Reply:
        token = self.get("/login").csrf()
        form = {"name": name, "password": password, "csrf": token, "next": next_}
        return self.post("/login", form)


class Server:
    """`kho web serve` in a subprocess, ready once /health answers. A port found free can
    be taken before the server binds it (another test's connection gets it as its
    ephemeral port): then the server starts again on another."""

    ATTEMPTS = 3

    def __init__(self, home: Path, env: dict, *args: str, host: str = "127.0.0.1"):
        self.host, self.args = host, args
        self.env = kho_env(home, env)
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.port = 0

    def __enter__(self) -> Server:
        for attempt in range(1, self.ATTEMPTS + 1):
            out = self._start()
            if out is None:
                return self
            if "Address already in use" not in out or attempt == self.ATTEMPTS:
                raise AssertionError(f"kho web serve did not start: {out}")
        raise AssertionError("unreachable")

    def _start(self) -> str | None:
        """Start on a free port; None once /health answers, else what the server said."""
        self.port = free_port(self.host)
        cmd = [sys.executable, "-m", "kho", "web", "serve", "--host", self.host]
        cmd += ["--port", str(self.port), *self.args]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = request(self.port, "GET", "/health", headers={"Host": "127.0.0.1"})
                if reply.status == 200:
                    return None
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                out = self.log.read().decode()
                self.__exit__()
                return out
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.log is not None:
            self.log.close()

    def browser(self, source: str | None = None) -> Browser:
        return Browser(self.port, source)

    def get(self, path: str, **kw) -> Reply:
        return request(self.port, "GET", path, **kw)

    def post(self, path: str, form: dict, **kw) -> Reply:
        return request(self.port, "POST", path, form=form, **kw)
