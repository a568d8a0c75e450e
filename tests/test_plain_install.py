"""`pip install kho` without extras runs the embedded default: ingest, then search."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow


def test_plain_install_ingests_and_searches(tmp_path):
    from kho.synth.pages import render_page, write_png

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    src = tmp_path / "src"  # a clean copy: nothing built or installed before leaks in
    skip = (".venv", ".services", "build", "*.egg-info", ".git", "__pycache__", "*_cache")
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*skip))
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(src)],  # no extras, build isolated
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    scans = tmp_path / "scans"
    scans.mkdir()
    page = render_page("QUYẾT ĐỊNH\nVề việc kiện toàn chi bộ Trung đoàn 9.", height_in=3)
    write_png(scans / "page.png", page.image, page.dpi)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env.update({"KHO_HOME": str(tmp_path / "home"), "COLUMNS": "200"})
    kho = str(venv / "bin" / "kho")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [kho, *args], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path
        )

    ingest = run("ingest", str(scans), "--batch", "plain", "-q")
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    found = run("search", "kien toan chi bo", "--json")
    assert found.returncode == 0, found.stdout + found.stderr
    assert '"page": 1' in found.stdout and "page.png" in found.stdout
    assert not list(venv.glob("lib/python*/site-packages/rq"))  # truly without the extras
