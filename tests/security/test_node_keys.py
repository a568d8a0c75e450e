"""A node's private keys are its owner's alone, even on a storage root shared with a group:
mode 0600, unreadable by another OS account (in the group or not), and never written
anywhere else (command output, the log, the audit log, the catalog, identity.json)."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from ..conftest import run_kho

GROUP = "khotest"
LOOSE = 0o022
CONFIG = "[principals.ops]\noperator = true\n"
OPS = ("--as", "ops")


def as_nobody(*cmd: str, group: str | None = None) -> subprocess.CompletedProcess:
    extra = ["-g", group] if group else []
    return subprocess.run(
        ["runuser", "-u", "nobody", *extra, "--", *cmd], capture_output=True, text=True
    )


@pytest.fixture
def shared():
    """A storage root kho makes group-shared (khotest), its config beside it, and the env."""
    subprocess.run(["groupadd", "-f", GROUP], check=True)
    base = Path(tempfile.mkdtemp(prefix="kho-node-keys-", dir="/tmp"))
    base.chmod(0o711)
    config = base / "kho.toml"
    config.write_text(CONFIG, "utf-8")
    config.chmod(0o600)
    env = {"KHO_STORAGE_SHARING": "group", "KHO_STORAGE_GROUP": GROUP, "KHO_CONFIG": str(config)}
    yield base / "home", env
    shutil.rmtree(base)


def forms(secret: bytes) -> list[bytes]:
    """The ways a raw key could be written out: itself, hex, base64 (both alphabets)."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
    ]


def test_private_keys_stay_private_on_a_group_shared_root(shared):
    home, env = shared
    args = ("node", "init", "--organ-id", "000.00.00.G09", "--unit", "qk7/f9", "--name", "f9")
    outputs = [run_kho(*args, *OPS, home=home, env=env, umask=LOOSE)]
    # the root really is shared with the group: only the node's keys are not
    assert as_nobody("ls", str(home), group=GROUP).returncode == 0
    assert as_nobody("cat", str(home / "logs" / "kho.log"), group=GROUP).returncode == 0
    folder = home / "node"
    keys = [folder / "sign.key", folder / "seal.key"]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        for group in (GROUP, None):
            seen = as_nobody("cat", str(key), group=group)
            assert seen.returncode != 0 and "Permission denied" in seen.stderr, (key, group)
            assert seen.stdout == ""
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    for command in (("node", "show"), ("node", "show", "--public"), ("peers", "list")):
        outputs.append(run_kho(*command, *OPS, home=home, env=env, umask=LOOSE))
    outputs.append(run_kho("peers", "add", str(folder / "sign.key"), *OPS, home=home, env=env,
                           umask=LOOSE, check=2))  # fmt: skip
    outputs.append(run_kho("audit", "--json", *OPS, home=home, env=env, umask=LOOSE))
    assert {"node-init", "node-show", "denied"} <= {
        json.loads(line)["action"] for line in outputs[-1].stdout.splitlines()
    }
    secrets = [key.read_bytes() for key in keys]
    assert all(len(s) == 32 for s in secrets)
    written = [(f"output of {p.args[3:]}", (p.stdout + p.stderr).encode()) for p in outputs]
    written += [(str(p), p.read_bytes()) for p in home.rglob("*") if p.is_file() and p not in keys]
    assert any(name.endswith("kho.log") for name, _ in written)
    assert any(name.endswith("catalog.sqlite") for name, _ in written)
    leaks = [
        name
        for name, data in written
        for secret in secrets
        for form in forms(secret)
        if form in data
    ]
    assert leaks == []

    body = json.loads((folder / "identity.json").read_bytes())
    assert set(body) == {"format", "version", "name", "organ_id", "unit", "sign_key",
                         "seal_key", "binding"}  # fmt: skip
    public = {base64.b64decode(body["sign_key"]), base64.b64decode(body["seal_key"])}
    assert not public & set(secrets)
