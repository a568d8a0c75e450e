"""The archive's doors (kho fonds, dossier, doc) check who may see what: a dossier hidden
from the principal answers as a missing one (exit 3, the same words), is left out of lists
and totals, cannot be edited or moved into, and each refusal is in the audit log."""

from __future__ import annotations

import json

import pytest

from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho

CONFIG = """
default_principal = "chief"

[principals.chief]
clearance = 3
units = ["*"]

[principals.clerk]
clearance = 1
units = ["qk7"]
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("archive-doors")
    (root / "kho.toml").write_text(CONFIG, encoding="utf-8")
    env = {"KHO_CONFIG": str(root / "kho.toml")}
    home = root / "home"

    def kho(*args, check=0, as_name=None):
        extra = ("--as", as_name) if as_name else ()
        return run_kho(*args, *extra, home=home, env=env, check=check)

    kho("fonds", "create", "G09", "--set", "name=Phông Cục Chính trị")
    for notation, level, text in (
        ("01-OPEN", 0, "Kế hoạch dân vận"),
        ("02-SECRET", 3, "Báo cáo nội bộ"),
    ):
        scans = root / notation
        scans.mkdir()
        write_born_digital_pdf(scans / "d.pdf", [f"{text} năm 2024 của Quân khu 7."])
        kho("ingest", str(scans), "--fonds", "G09", "--dossier", notation, "--unit", "qk7",
            "--level", str(level), "-q")  # fmt: skip
    ids = {
        n: json.loads(kho("dossier", "show", n, "--fonds", "G09", "--json").stdout)["documents"][0][
            "doc_id"
        ]
        for n in ("01-OPEN", "02-SECRET")
    }
    return {"kho": kho, "ids": ids}


def test_a_hidden_dossier_answers_as_a_missing_one_and_is_audited(archive):
    kho = archive["kho"]
    hidden = kho("dossier", "show", "02-SECRET", "--fonds", "G09", as_name="clerk", check=3)
    missing = kho("dossier", "show", "03-NONE", "--fonds", "G09", as_name="clerk", check=3)
    assert hidden.stderr.replace("02-SECRET", "X") == missing.stderr.replace("03-NONE", "X")
    assert hidden.stdout == ""
    for args in (
        ("dossier", "edit", "02-SECRET", "--fonds", "G09", "--set", "level=0"),
        ("doc", "move", archive["ids"]["01-OPEN"], "--dossier", "02-SECRET", "--fonds", "G09"),
        ("dossier", "export", "02-SECRET", "--fonds", "G09", "--format", "xml", "--out", "/tmp/x"),
    ):
        kho(*args, as_name="clerk", check=3)
    rows = [
        json.loads(line)
        for line in kho(
            "audit", "--json", "--action", "denied", "--limit", "20"
        ).stdout.splitlines()
    ]
    assert (
        sum(r["actor"] == "clerk" and r["detail"].get("dossier") == "02-SECRET" for r in rows) >= 3
    )
    shown = json.loads(kho("dossier", "show", "02-SECRET", "--fonds", "G09", "--json").stdout)
    assert shown["fields"]["level"] == "3"  # the refused edit changed nothing


def test_lists_and_totals_leave_out_what_is_hidden(archive):
    kho = archive["kho"]
    listed = json.loads(kho("dossier", "list", "--json", as_name="clerk").stdout)
    assert [d["file_code"] for d in listed] == ["01-OPEN"]
    fonds = json.loads(kho("fonds", "show", "G09", "--json", as_name="clerk").stdout)
    assert fonds["fields"]["doc_total"] == "1" and fonds["dossiers"] == ["01-OPEN"]
    chief = json.loads(kho("fonds", "show", "G09", "--json").stdout)
    assert chief["fields"]["doc_total"] == "2"


def test_a_hidden_document_cannot_be_shown_edited_or_confirmed(archive):
    kho, secret = archive["kho"], archive["ids"]["02-SECRET"]
    before = kho("doc", "show", secret, "--json").stdout
    for args in (
        ("doc", "show", secret),
        ("doc", "edit", secret, "--set", "subject=x"),
        ("doc", "confirm", secret),
    ):
        proc = kho(*args, as_name="clerk", check=3)
        assert "or you may not see it" in proc.stderr
    assert kho("doc", "show", secret, "--json").stdout == before


def test_a_hidden_dossier_never_makes_a_name_ambiguous(archive):
    """Another fonds' dossier of the same notation, hidden from the reader, neither answers
    nor turns the reader's name for their own dossier into a list of codes."""
    kho = archive["kho"]
    kho("fonds", "create", "H10", "--set", "name=Phông khác")
    kho("dossier", "create", "H10", "01-OPEN", "--set", "level=3", "--set", "unit=qk7")
    mine = json.loads(kho("dossier", "show", "01-OPEN", "--json", as_name="clerk").stdout)
    assert mine["documents"][0]["doc_id"] == archive["ids"]["01-OPEN"]
    both = kho("dossier", "show", "01-OPEN", check=2)  # the chief sees two
    assert "names several dossiers" in both.stderr


def test_a_hidden_document_cannot_be_moved_into_a_visible_dossier(archive):
    kho, secret = archive["kho"], archive["ids"]["02-SECRET"]
    moved = kho("doc", "move", secret[:12], "--dossier", "01-OPEN", "--fonds", "G09",
                as_name="clerk", check=3)  # fmt: skip
    missing = kho("doc", "move", "0123456789ab", "--dossier", "01-OPEN", "--fonds", "G09",
                  as_name="clerk", check=3)  # fmt: skip
    assert moved.stderr.replace(secret[:12], "X") == missing.stderr.replace("0123456789ab", "X")
    place = json.loads(kho("doc", "show", secret, "--json").stdout)
    assert place["dossier"] == "02-SECRET"
