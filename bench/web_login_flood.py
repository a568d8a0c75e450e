"""Search latency of `kho web serve` while clients flood the login form.

A small archive (one born-digital PDF) is ingested into a temporary home and served by a
real `kho web serve` (8 threads). One logged-in reader runs `/api/search` queries one after
another: first alone (the baseline, measured in the same run), then while 32 clients post
the login form as fast as they can, without a form token, and then with valid tokens and
wrong passwords. Prints p50/p95/max latency per phase and the answers the flood got.

    .venv/bin/python bench/web_login_flood.py [--queries 100] [--clients 32]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, method: str, path: str, form=None, cookie: str = "") -> tuple[int, str, str]:
    """(status, body, Set-Cookie value) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        return resp.status, text, (resp.getheader("Set-Cookie") or "").split(";")[0]
    finally:
        conn.close()


def token_and_cookie(port: int) -> tuple[str, str]:
    _, page, cookie = call(port, "GET", "/login")
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1), cookie


def flood(port: int, stop: threading.Event, with_token: bool, seen: Counter) -> None:
    token, cookie = token_and_cookie(port) if with_token else ("", "")
    while not stop.is_set():
        form = {"name": "reader", "password": "wrong"}
        if with_token:
            form["csrf"] = token
        try:
            status, _, _ = call(port, "POST", "/login", form, cookie)
        except OSError:
            status = -1
        seen[status] += 1


def latencies(port: int, cookie: str, queries: int) -> list[float]:
    out = []
    for i in range(queries):
        t = time.perf_counter()
        status, _, _ = call(port, "GET", f"/api/search?q=dan+van&n={i}", cookie=cookie)
        out.append(time.perf_counter() - t)
        assert status == 200, status
    return out


def archive(root: Path) -> dict:
    from kho.synth.pages import write_born_digital_pdf
    from kho.web.auth import hash_password

    scans = root / "scans"
    scans.mkdir()
    write_born_digital_pdf(scans / "a.pdf", ["Kế hoạch công tác dân vận năm 2024."])
    config = root / "kho.toml"
    config.write_text(
        f'[principals.reader]\nunits = ["*"]\npassword = "{hash_password("reader-pw")}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env.update(KHO_HOME=str(root / "home"), KHO_CONFIG=str(config))
    subprocess.run([sys.executable, "-m", "kho", "ingest", str(scans), "-q"], env=env, check=True)
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = archive(Path(tmp))
        port = free_port()
        cmd = [sys.executable, "-m", "kho", "web", "serve", "--port", str(port)]
        server = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    call(port, "GET", "/health")
                    break
                except OSError:
                    time.sleep(0.1)
            token, cookie = token_and_cookie(port)
            form = {"name": "reader", "password": "reader-pw", "csrf": token}
            _, _, cookie = call(port, "POST", "/login", form, cookie)
            rows = [("alone (baseline)", latencies(port, cookie, args.queries), Counter())]
            for label, with_token in (("token-less", False), ("with tokens", True)):
                stop, seen = threading.Event(), Counter()
                workers = [
                    threading.Thread(target=flood, args=(port, stop, with_token, seen))
                    for _ in range(args.clients)
                ]
                for w in workers:
                    w.start()
                time.sleep(1.0)
                lat = latencies(port, cookie, args.queries)
                stop.set()
                for w in workers:
                    w.join()
                rows.append((f"{args.clients} login clients, {label}", lat, seen))
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{'phase':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  flood answers")
    for label, lat, seen in rows:
        p95 = statistics.quantiles(lat, n=20)[-1]
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(seen.items())) or "—"
        print(
            f"{label:<34} {statistics.median(lat) * 1000:>8.1f} {p95 * 1000:>8.1f} "
            f"{max(lat) * 1000:>8.1f}  {answers}"
        )


if __name__ == "__main__":
    main()
