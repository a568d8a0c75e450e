"""A dossier hidden from the principal answers `kho dossier export|package` as a missing one
does (the same exit code and line, nothing written, the try audited as denied); and a
package whose METS points outside the bag is refused by `kho dossier verify` without
reading what it points at."""

from __future__ import annotations

import json
import shutil

import bagit
import pytest

from ..conftest import REPO, run_kho

CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 0
units = ["*"]

[principals.chief]
clearance = 3
units = ["*"]
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("hidden-dossier")
    home = root / "home"
    home.mkdir()
    (home / "kho.toml").write_text(CONFIG, encoding="utf-8")
    (root / "scans" / "03-SECRET").mkdir(parents=True)
    shutil.copy(REPO / "samples" / "thong-bao-tuyen-truyen.pdf", root / "scans" / "03-SECRET")
    run_kho("fonds", "create", "G09", "--set", "name=Phông G09", home=home)
    run_kho("ingest", str(root / "scans"), "--fonds", "G09", "--folder-dossiers", "--jobs", "1",
            home=home)  # fmt: skip
    run_kho("dossier", "edit", "03-SECRET", "--fonds", "G09", "--set", "level=3", "--as",
            "chief", home=home)  # fmt: skip
    return home


@pytest.mark.parametrize("command", ["xml", "csv", "pdf", "package"])
def test_a_hidden_dossier_answers_as_a_missing_one(home, tmp_path, command):
    def attempt(code):
        out = tmp_path / f"{code}.out"
        args = ["--format", command] if command != "package" else []
        verb = "export" if command != "package" else "package"
        proc = run_kho("dossier", verb, code, "--fonds", "G09", *args, "--out", str(out),
                       home=home, check=3)  # fmt: skip
        assert not out.exists()
        return proc.stderr.replace(code, "CODE")

    assert attempt("03-SECRET") == attempt("04-NOSUCH")
    assert list(tmp_path.iterdir()) == []
    rows = run_kho("audit", "--action", "denied", "--json", home=home, env={}).stdout
    denied = [json.loads(r)["detail"].get("dossier") for r in rows.splitlines() if r.strip()]
    assert "03-SECRET" in denied
    shown = run_kho("audit", "--action", "export", "--json", home=home).stdout
    assert "03-SECRET" not in shown


def test_verify_refuses_a_mets_pointing_outside_the_bag(tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("not part of any package")
    bag = tmp_path / "bag"
    (bag / "metadata").mkdir(parents=True)
    (bag / "metadata" / "mets.xml").write_text(
        '<?xml version="1.0"?><mets:mets xmlns:mets="http://www.loc.gov/METS/" '
        'xmlns:xlink="http://www.w3.org/1999/xlink"><mets:fileSec><mets:fileGrp USE="PDF">'
        '<mets:file ID="F1" SIZE="23" CHECKSUM="0" CHECKSUMTYPE="SHA-512">'
        f'<mets:FLocat LOCTYPE="URL" xlink:href="../../../{secret.name}"/></mets:file>'
        "</mets:fileGrp></mets:fileSec></mets:mets>",
        encoding="utf-8",
    )
    bagit.make_bag(str(bag), checksums=["sha512"])
    proc = run_kho("dossier", "verify", str(bag), home=tmp_path / "home", check=1)
    assert f"../../../{secret.name}" in proc.stdout and "is not in the bag" in proc.stdout
