"""Attacks on the access ingest sets, through the real CLI: manifests that lower a level,
symbolic links that escape their manifest, the same bytes arriving with looser access."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from kho.synth.pages import write_born_digital_pdf

from ..conftest import es_client, es_env, run_kho

CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 0
units = ["qk7"]

[principals.f9]
clearance = 3
units = ["qk7/f9"]

[principals.chief]
clearance = 3
units = ["qk7"]

[principals.reader]
clearance = 3
units = ["qk5"]
groups = ["ban-to-chuc"]

[principals.admin]
clearance = 3
units = ["*"]
"""


def archive(tmp_path: Path) -> tuple[Path, dict]:
    (tmp_path / "kho.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path / "home", {"KHO_CONFIG": str(tmp_path / "kho.toml")}


def pdf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_born_digital_pdf(path, [text])
    return path


def documents(home: Path) -> dict[str, object]:
    """File name -> catalog document."""
    from sqlalchemy import select

    from kho.core.catalog import Catalog, Document

    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    with catalog.session() as s:
        return {d.filename: d for d in s.scalars(select(Document))}


def found(home: Path, env: dict, query: str, who: str) -> set[str]:
    proc = run_kho("search", query, "--json", "--as", who, home=home, env=env)
    return {h["filename"] for h in json.loads(proc.stdout)}


def test_a_manifest_cannot_lower_levels_outside_its_folder_or_guess_a_level(tmp_path):
    home, env = archive(tmp_path)
    scans = tmp_path / "scans"
    secret = pdf(scans / "a" / "secret.pdf", "Báo cáo tình hình chính trị nội bộ quý ba.")
    (scans / "a" / "kho-manifest.csv").write_text("file,level\nsecret.pdf,3\n", encoding="utf-8")
    pdf(scans / "b" / "dup.pdf", "Kế hoạch bảo vệ chính trị nội bộ năm tới.")
    pdf(scans / "b" / "plain.pdf", "Thông báo lịch họp chi bộ tháng mười.")
    (scans / "b" / "kho-manifest.csv").write_text(
        f"file,level\n../a/secret.pdf,0\n{secret},0\ndup.pdf,3\n./dup.pdf,0\nplain.pdf,0\n",
        encoding="utf-8",
    )
    pdf(scans / "c" / "frac.pdf", "Báo cáo kết quả kiểm tra đảng viên.")
    pdf(scans / "c" / "text.pdf", "Báo cáo kết quả giám sát chi bộ.")
    rows = [{"file": "frac.pdf", "level": 2.9}, {"file": "text.pdf", "level": True}]
    (scans / "c" / "kho-manifest.json").write_text(json.dumps(rows), encoding="utf-8")

    proc = run_kho("ingest", str(scans), "--batch", "m", "-q", home=home, env=env, check=2)

    docs = documents(home)
    assert docs["secret.pdf"].level == 3  # neither ../a/secret.pdf nor its absolute path won
    assert docs["plain.pdf"].level == 0  # the rest of the batch went on
    for name in ("dup.pdf", "frac.pdf", "text.pdf"):
        assert name not in docs  # refused, never ingested with a guessed level
    err = " ".join(proc.stderr.split())
    b, c = scans / "b" / "kho-manifest.csv", scans / "c" / "kho-manifest.json"
    assert f"{b}:2: '../a/secret.pdf' is outside the manifest's folder" in err
    assert f"{b}:3: '{secret}' is outside the manifest's folder" in err
    assert f"{b}:4, {b}:5: the file is listed more than once; keep one row for it" in err
    assert f"{c}:1: level must be 0-3 (a whole number), got 2.9" in err
    assert f"{c}:2: level must be 0-3 (a whole number), got True" in err
    assert "5 manifest error(s)" in err
    assert found(home, env, "chinh tri noi bo", "admin") == {"secret.pdf"}
    assert found(home, env, "chinh tri noi bo", "clerk") == set()
    # fixed, the same command finishes the batch with the levels meant
    b.write_text("file,level\ndup.pdf,3\nplain.pdf,0\n", encoding="utf-8")
    c.write_text(json.dumps([{"file": "frac.pdf", "level": 2}]), encoding="utf-8")
    run_kho("ingest", str(scans), "--batch", "m", "-q", home=home, env=env)
    docs = documents(home)
    levels = {n: docs[n].level for n in ("secret.pdf", "dup.pdf", "frac.pdf", "text.pdf")}
    assert levels == {"secret.pdf": 3, "dup.pdf": 3, "frac.pdf": 2, "text.pdf": 0}


def test_a_symlinked_folder_cannot_bring_files_past_their_manifest(tmp_path):
    home, env = archive(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    pdf(elsewhere / "linked.pdf", "Báo cáo tình hình chính trị nội bộ đơn vị bạn.")
    (elsewhere / "kho-manifest.csv").write_text("file,level\nlinked.pdf,3\n", encoding="utf-8")
    scans = tmp_path / "scans"
    pdf(scans / "own.pdf", "Thông báo lịch họp chi bộ tháng mười.")
    (scans / "link").symlink_to(elsewhere, target_is_directory=True)
    (scans / "file-link.pdf").symlink_to(elsewhere / "linked.pdf")

    proc = run_kho("ingest", str(scans), "--batch", "s", "-q", home=home, env=env)

    docs = documents(home)
    assert "linked.pdf" not in docs and docs["own.pdf"].level == 0
    err = " ".join(proc.stderr.split())
    for link, target in (("link", elsewhere), ("file-link.pdf", elsewhere / "linked.pdf")):
        line = f"skipped {scans / link}: symbolic link to {target}, outside the folders"
        assert line in err
    # ingested as itself, its own manifest applies
    run_kho("ingest", str(elsewhere), "--batch", "e", "-q", home=home, env=env)
    assert documents(home)["linked.pdf"].level == 3


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)])
def backend(request) -> dict:
    """Extra environment for the index backend under test."""
    if request.param == "embedded":
        yield {}
        return
    env = es_env()  # the URL and how to log in
    name = f"kho-test-{uuid.uuid4().hex[:10]}"
    yield {**env, "KHO_INDEX_NAME": name}
    es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{name}-v*")


def test_the_same_bytes_tighten_access_and_never_loosen_it(tmp_path, backend):
    home, env = archive(tmp_path)
    env |= backend
    text = "Báo cáo tình hình chính trị nội bộ Sư đoàn 9, bản chính thức."
    draft = pdf(tmp_path / "draft" / "bao-cao.pdf", text)
    official = tmp_path / "official" / "bao-cao.pdf"
    official.parent.mkdir()
    official.write_bytes(draft.read_bytes())
    query = "chinh tri noi bo"

    run_kho("ingest", str(draft.parent), "--batch", "draft", "--unit", "qk7/f9", "--group",
            "ban-to-chuc", "-q", home=home, env=env)  # fmt: skip
    assert found(home, env, query, "f9") == found(home, env, query, "reader") == {"bao-cao.pdf"}

    proc = run_kho("ingest", str(official.parent), "--batch", "official", "--level", "3",
                   "--unit", "qk7", "-q", home=home, env=env)  # fmt: skip
    doc = documents(home)["bao-cao.pdf"]
    assert (doc.level, doc.unit, doc.groups) == (3, "qk7", [])
    err = " ".join(proc.stderr.split())
    assert (
        f"same bytes as document {doc.id[:12]}: access tightened (level 0 (Thường) -> 3; "
        "unit qk7/f9 -> qk7; groups without ban-to-chuc), re-indexed" in err
    )
    # the index follows: f9 (sub-unit) and the share group no longer see it, qk7 does
    assert found(home, env, query, "f9") == found(home, env, query, "reader") == set()
    assert found(home, env, query, "chief") == {"bao-cao.pdf"}
    assert found(home, env, query, "clerk") == set()
    log = (home / "logs" / "kho.log").read_text(encoding="utf-8")
    assert f"same bytes as document {doc.id[:12]}: access tightened" in log

    again = tmp_path / "again" / "bao-cao.pdf"
    again.parent.mkdir()
    again.write_bytes(draft.read_bytes())
    proc = run_kho("ingest", str(again.parent), "--batch", "again", "--unit", "qk7/f9", "-q",
                   home=home, env=env)  # fmt: skip
    doc = documents(home)["bao-cao.pdf"]
    assert (doc.level, doc.unit) == (3, "qk7")
    err = " ".join(proc.stderr.split())
    assert (
        f"same bytes as document {doc.id[:12]}: its stricter access is kept "
        "(level 0 (Thường) -> 3; unit qk7/f9 -> qk7 was not taken)" in err
    )
    assert found(home, env, query, "f9") == set()
