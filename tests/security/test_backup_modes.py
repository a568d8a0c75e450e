"""A backup set is its maker's alone: whatever the umask, every folder is 0700 and every
file 0600, so another OS account (`nobody`) can neither list nor read it; a target folder
others can already read is refused; and no key or password of the storage root is in it."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kho.synth.pages import render_page, write_png

from ..conftest import run_kho

LOOSE = 0o022
SECRET = "TUYỆT MẬT\nQUYẾT ĐỊNH\nVề việc điều động cán bộ Trung đoàn 9."


def as_nobody(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", *cmd], capture_output=True, text=True, check=False
    )


@pytest.fixture
def base():
    """A folder every account may pass through (0711): below it only kho's modes decide."""
    path = Path(tempfile.mkdtemp(prefix="kho-backup-", dir="/tmp"))
    path.chmod(0o711)
    assert as_nobody("test", "-x", str(path)).returncode == 0
    yield path
    shutil.rmtree(path)


@pytest.fixture
def home(tmp_path) -> Path:
    scans = tmp_path / "scans"
    scans.mkdir()
    page = render_page(SECRET, height_in=3)
    write_png(scans / "secret.png", page.image, page.dpi)
    home = tmp_path / "home"
    run_kho("ingest", str(scans), "-q", "--level", "3", home=home)
    line = subprocess.run(
        [sys.executable, "-m", "kho", "web", "passwd", "clerk", "--password-stdin"],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KHO_HOME": str(home)},
    ).stdout.splitlines()[-1]
    (home / "kho.toml").write_text(f"[principals.clerk]\nclearance = 3\n{line}\n")
    (home / "kho.toml").chmod(0o600)
    run_kho("search", "quyết định", "--as", "clerk", home=home)  # cursor.key, if not yet
    return home


def contents(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_backup_set_is_unreadable_by_other_accounts(home, base):
    bset = base / "set"
    run_kho("backup", "create", str(bset), home=home, umask=LOOSE)
    entries = [bset, *bset.rglob("*")]
    objects = [p for p in entries if p.is_file() and "objects" in p.parts]
    assert len(objects) >= 4  # the original, its page image, text, PDF (and the catalog dump)
    for path in entries:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert as_nobody("ls", str(bset)).returncode != 0
    for path in [bset / "kho-backup.json", *objects, *(bset / "snapshots").glob("*.json")]:
        assert as_nobody("cat", str(path)).returncode != 0, path

    keys = sorted(home.glob("*.key"))
    assert home / "cursor.key" in keys
    password = (home / "kho.toml").read_text().split('password = "')[1].split('"')[0]
    secrets = [k.read_bytes().strip() for k in keys] + [password.encode()]
    for path in objects:
        data = contents(path)
        assert not any(secret in data for secret in secrets), path


def test_target_open_to_others_is_refused(home, base):
    bset = base / "open"
    bset.mkdir()
    bset.chmod(0o755)
    res = run_kho("backup", "create", str(bset), home=home, check=1)
    assert "chmod 700" in res.stderr
    assert list(bset.iterdir()) == []
