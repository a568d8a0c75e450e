"""`kho status --as` and `kho failed list --as` show a principal the failures of what they may
see, and of the rest only kind, batch and time; the audit row names that principal. Without
--as the storage's owner sees every failure, as before."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kho.core.failures import HIDDEN
from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho

CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 0
units = ["qk7"]
"""
BROKEN = "bi-mat-hong.pdf"  # a TUYỆT MẬT file that cannot be read: a failure with its name


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("failures-as")
    config = root / "kho.toml"
    config.write_text(CONFIG, encoding="utf-8")
    config.chmod(0o600)
    scans = root / "scans"
    scans.mkdir()
    write_born_digital_pdf(scans / "public.pdf", ["Kế hoạch công tác dân vận năm 2024."])
    (scans / BROKEN).write_bytes(b"%PDF-1.4\nnot a pdf at all")
    manifest = f"file,level,unit\npublic.pdf,0,qk7\n{BROKEN},3,qk7\n"
    (scans / "kho-manifest.csv").write_text(manifest, encoding="utf-8")
    home = root / "home"
    env = {"KHO_CONFIG": str(config)}
    run_kho("ingest", str(scans), "--batch", "fa", "-q", home=home, env=env, check=1)
    return {"home": home, "env": env}


def kho(archive, *args):
    return run_kho(*args, home=archive["home"], env=archive["env"])


def last_audit(archive) -> tuple[str, str]:
    conn = sqlite3.connect(archive["home"] / "catalog.sqlite")
    try:
        return conn.execute("SELECT actor, action FROM audit_log ORDER BY id DESC").fetchone()
    finally:
        conn.close()


def names(failures: list[dict]) -> list[str]:
    return [f["name"] for f in failures]


@pytest.mark.parametrize(
    ("args", "action"),
    [
        (("failed", "list", "--json"), "failed-list"),
        (("status", "--batch", "fa", "--json"), "status"),
    ],
)
def test_as_hides_failures_of_what_one_may_not_see(archive, args, action):
    owner = json.loads(kho(archive, *args).stdout)["failures"]
    assert any(n.endswith(BROKEN) for n in names(owner))  # the owner of the storage sees all
    clerk = json.loads(kho(archive, *args, "--as", "clerk").stdout)["failures"]
    assert len(clerk) == len(owner)
    assert not any(BROKEN in n for n in names(clerk))
    assert all(f["reason"] == HIDDEN and not f["doc_id"] for f in clerk)
    assert last_audit(archive) == ("clerk", action)
