"""What kho stores is its owner's alone (or, in group mode, its group's): the modes of every
file and folder it writes, whatever the umask it was started with, checked by another OS
account; and kho refuses to start on a storage root, config or log others can read."""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho, write_scans

LOOSE = 0o022  # the usual default umask: files 0644, folders 0755 unless kho says otherwise
GROUP = "khotest"
SECRET = "TUYỆT MẬT\nQUYẾT ĐỊNH\nVề việc điều động cán bộ Trung đoàn 9."
PDF_PAGES = ["THÔNG BÁO kết luận kiểm tra của Ủy ban Kiểm tra Đảng ủy Quân khu 7."]


def as_nobody(*cmd: str, group: str | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` as the `nobody` account (with `group` as its group if given)."""
    extra = ["-g", group] if group else []
    return subprocess.run(
        ["runuser", "-u", "nobody", *extra, "--", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def base():
    """A folder every account may pass through (0711): below it, only kho's modes decide
    whether `nobody` reads."""
    path = Path(tempfile.mkdtemp(prefix="kho-modes-", dir="/tmp"))
    path.chmod(0o711)
    assert as_nobody("test", "-x", str(path)).returncode == 0
    yield path
    shutil.rmtree(path)


def scans_in(folder: Path) -> Path:
    folder.mkdir()
    write_scans(folder, [SECRET], ["KẾ HOẠCH\nTuyên truyền kỷ niệm ngày thành lập."])
    write_born_digital_pdf(folder / "notice.pdf", PDF_PAGES)
    return folder


def doc_levels(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return dict(db.execute("SELECT filename, level FROM documents"))


def doc_id(home: Path, filename: str) -> str:
    with sqlite3.connect(home / "catalog.sqlite") as db:
        return db.execute("SELECT id FROM documents WHERE filename = ?", (filename,)).fetchone()[0]


def start_web(home: Path, env: dict) -> None:
    """`kho web serve` under a loose umask until it answers (it makes home/web.key)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kho", "web", "serve", "--port", str(port)],
        env={**clean, "KHO_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        umask=LOOSE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.load(r) == {"ok": True}
                return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stdout.read().decode()) from None
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def archive_with_everything(base: Path, env: dict | None = None) -> tuple[Path, Path]:
    """Ingest scans and a born-digital PDF, train a model, export, serve the web pages:
    all under umask 022. Returns (home, the export folder)."""
    env = env or {}
    home, exports = base / "home", base / "exports"
    scans = scans_in(base / "scans")
    run_kho("ingest", str(scans), "--batch", "modes", "-q", home=home, env=env, umask=LOOSE)
    run_kho("classify", "train", "--synthetic", "2", home=home, env=env, umask=LOOSE)
    assert doc_levels(home)["page0.png"] == 3  # TUYỆT MẬT
    notice = doc_id(home, "notice.pdf")  # born-digital: its searchable PDF is a copy
    for fmt in ("pdf", "txt", "json"):
        out = exports / f"doc.{fmt}"
        run_kho(
            "export", notice, "--format", fmt, "--out", str(out), home=home, env=env, umask=LOOSE
        )
    start_web(home, env)
    return home, exports


def tree(*roots: Path) -> list[Path]:
    return [p for root in roots for p in (root, *sorted(root.rglob("*")))]


def modes_of(paths: list[Path]) -> dict[Path, int]:
    """Each path's mode; only SQLite's -wal/-shm files may vanish meanwhile (the last
    connection, the web server's say, closed while the test walked the tree)."""
    modes = {}
    for p in paths:
        try:
            modes[p] = stat.S_IMODE(p.stat().st_mode)
        except FileNotFoundError:
            if not p.name.endswith(("-wal", "-shm")):
                raise
    return modes


def test_everything_kho_writes_is_private_and_unreadable_by_others(base):
    home, exports = archive_with_everything(base)
    paths = tree(home, exports)
    names = {p.name for p in paths}
    # every kind of stored file is there: originals, page images and texts, searchable PDFs
    # (a copy of the born-digital one), model, catalog, index, log, web key, exports
    assert {"searchable.pdf", "page-00001.jpg", "page-00001.json", "catalog.sqlite"} <= names
    assert {"index.sqlite", "kho.log", "web.key", "doc.pdf", "doc.txt", "doc.json"} <= names
    assert any(n.endswith(".joblib") for n in names)
    assert len(list((home / "originals").rglob("*.*"))) == 3
    modes = modes_of(paths)
    wrong = {str(p): oct(m) for p, m in modes.items() if m != (0o700 if p.is_dir() else 0o600)}
    assert wrong == {}
    for p in modes:
        seen = as_nobody("ls", str(p)) if p.is_dir() else as_nobody("cat", str(p))
        assert seen.returncode != 0 and "Permission denied" in seen.stderr, p


@pytest.fixture
def group() -> str:
    subprocess.run(["groupadd", "-f", GROUP], check=True)
    return GROUP


def test_group_mode_shares_with_the_group_only(base, group):
    gid = grp.getgrnam(group).gr_gid
    env = {"KHO_STORAGE_SHARING": "group", "KHO_STORAGE_GROUP": group}
    home, exports = archive_with_everything(base, env)
    wrong = {}
    for p in tree(home, exports):
        st = p.stat()
        want = 0o2750 if p.is_dir() else 0o640
        if (stat.S_IMODE(st.st_mode), st.st_gid) != (want, gid):
            wrong[str(p)] = (oct(stat.S_IMODE(st.st_mode)), st.st_gid)
        if p.is_dir():
            assert as_nobody("ls", str(p), group=group).returncode == 0, p
            assert as_nobody("ls", str(p)).returncode != 0, p
        else:
            assert as_nobody("cat", str(p), group=group).returncode == 0, p
            assert as_nobody("cat", str(p)).returncode != 0, p
    assert wrong == {}


def refusal(home: Path, *args: str, env: dict | None = None) -> str:
    """kho's one-line refusal (exit 5), whitespace-normalised."""
    proc = run_kho(*args, home=home, env=env, check=5, umask=LOOSE)
    return " ".join(proc.stderr.split())


@pytest.mark.parametrize(
    "command", [("status",), ("web", "serve", "--port", "1"), ("worker", "--burst")]
)
def test_a_storage_root_others_can_read_is_refused(base, command):
    home = base / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    message = refusal(home, *command)
    assert f"storage root {home} is open to others (mode 0755); run: chmod 700 {home}" in message
    assert not (home / "catalog.sqlite").exists()


def test_a_config_or_log_others_can_read_is_refused(base):
    home = base / "home"
    run_kho("status", home=home, umask=LOOSE)  # a missing home is made private
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "logs" / "kho.log").stat().st_mode) == 0o600
    config = home / "kho.toml"
    config.write_text('default_principal = ""\n', encoding="utf-8")
    config.chmod(0o644)
    assert f"config file {config} is open to others" in refusal(home, "status")
    config.chmod(0o640)  # private mode: the group may not read it either
    assert f"is open to its group (mode 0640); run: chmod 600 {config}" in refusal(home, "status")
    config.chmod(0o600)
    elsewhere = base / "kho.toml"
    shutil.copy(config, elsewhere)
    elsewhere.chmod(0o604)
    assert f"config file {elsewhere} is open to others" in refusal(
        home, "status", env={"KHO_CONFIG": str(elsewhere)}
    )
    logs = home / "logs"
    logs.chmod(0o755)
    assert f"log folder {logs} is open to others (mode 0755); run: chmod 700 {logs}" in refusal(
        home, "status"
    )
    logs.chmod(0o700)
    (logs / "kho.log").chmod(0o644)
    assert f"run: chmod 600 {logs / 'kho.log'}" in refusal(home, "status")
    (logs / "kho.log").chmod(0o600)
    run_kho("status", home=home, umask=LOOSE)


def test_group_mode_refuses_a_root_of_another_group(base, group):
    home = base / "home"
    home.mkdir(mode=0o700)
    env = {"KHO_STORAGE_SHARING": "group", "KHO_STORAGE_GROUP": group}
    message = refusal(home, "status", env=env)
    assert f"storage root {home} is not a setgid folder of group {group}" in message
    assert f"run: chgrp -R {group} {home}" in message
    missing = base / "new" / "home"
    run_kho("status", home=missing, env=env, umask=LOOSE)
    st = missing.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o2750, grp.getgrnam(group).gr_gid)
    unknown = refusal(missing, "status", env={**env, "KHO_STORAGE_GROUP": "no-such-kho-group"})
    assert "group 'no-such-kho-group' does not exist" in unknown
