"""Shared fixtures. Services come from `scripts/services up`; in CI a missing one fails."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# tests make homes and config files as a careful operator would: private (kho refuses to
# start on a storage root, config or log others can read); tests/security runs kho under a
# loose umask on purpose
os.umask(0o077)


def write_scans(root: Path, texts: list[str], tiff_texts: list[str]) -> Path:
    """A scan folder: one PNG page per text in `texts`, and `plan.tif` holding `tiff_texts`
    as its pages (rendered 3 in tall at 300 dpi)."""
    from kho.synth.pages import render_page, write_multipage_tiff, write_png

    for i, text in enumerate(texts):
        page = render_page(text, height_in=3)
        write_png(root / f"page{i}.png", page.image, page.dpi)
    imgs = [render_page(t, height_in=3).image for t in tiff_texts]
    write_multipage_tiff(root / "plan.tif", imgs, 300)
    return root


def need_service(name: str, url_var: str) -> str:
    """The service URL from the environment; fail in CI, skip (saying why) elsewhere."""
    url = os.environ.get(url_var, "")
    if url:
        return url
    msg = f'{name} not configured: run `eval "$(scripts/services up)"` to set {url_var}'
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


# How to log in to the Elasticsearch that KHO_ELASTICSEARCH_URL names (scripts/services
# exports them): passed on to `run_kho` even though the URL itself is passed only on request.
ES_LOGIN = tuple(
    f"KHO_ELASTICSEARCH_{k}"
    for k in ("API_KEY", "API_KEY_FILE", "USER", "PASSWORD", "PASSWORD_FILE", "CA")
)


def es_env() -> dict[str, str]:
    """KHO_ELASTICSEARCH_URL and how to log in to it, from the environment (need_service)."""
    url = need_service("Elasticsearch", "KHO_ELASTICSEARCH_URL")
    return {"KHO_ELASTICSEARCH_URL": url, **{k: os.environ[k] for k in ES_LOGIN if k in os.environ}}


def es_client(url: str):
    """An Elasticsearch client for `url` that logs in as kho does (ES_LOGIN settings)."""
    from kho.core.settings import load_settings
    from kho.index.elastic import connect

    return connect(url, load_settings().elasticsearch)


def run_kho(
    *args: str,
    home: Path,
    env: dict | None = None,
    check: int | None = 0,
    timeout: float = 600,
    umask: int = -1,
) -> subprocess.CompletedProcess:
    """Run the real `kho` command line in a subprocess against the storage root `home`
    (under `umask` if given, else this process's)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_") or k in ES_LOGIN}
    full_env.update({"KHO_HOME": str(home), "COLUMNS": "200"})
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "kho", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        umask=umask,
    )
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"kho {' '.join(args)} exited {proc.returncode}, expected {check}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def serve_web(home: Path, env: dict | None = None, timeout: float = 60, attempts: int = 3):
    """A real `kho web serve` for the storage root `home` on a free loopback port, started
    with the environment `run_kho` would give; (process, base URL) once /health answers.
    A port found free can be taken before the server binds it (another test's connection
    gets it as its ephemeral port): then it starts again on another."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KHO_") or k in ES_LOGIN}
    full.update({"KHO_HOME": str(home), **(env or {})})
    for attempt in range(1, attempts + 1):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "kho", "web", "serve", "--port", str(port)]
        proc = subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    return proc, f"http://127.0.0.1:{port}"
            except OSError as err:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    out = proc.stdout.read().decode()
                    if "Address already in use" in out and attempt < attempts:
                        break
                    raise AssertionError(out) from err
                time.sleep(0.2)
    raise AssertionError("unreachable")


def form_login(app, name: str, password: str):
    """A Flask test client of `app` logged in through its login form as `name`."""
    import re

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"name": name, "password": password, "csrf": token, "next": "/"}
    assert client.post("/login", data=form).status_code == 302
    return client


BACKENDS = ["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)]


@pytest.fixture(params=BACKENDS)
def search_index(request, tmp_path):
    """An empty index of each backend (`test_index_contract.open_index`), removed after."""
    from .test_index_contract import open_index

    index = open_index(request.param, tmp_path)
    try:
        yield index
    finally:
        if request.param == "elasticsearch":
            index.es.indices.delete(index=f"{index.alias}-v*")
        index.close()
