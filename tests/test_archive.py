"""The archive hierarchy through the real CLI, on SQLite and PostgreSQL alike: a folder of
scans filed as a dossier of a fonds, manifest rows that place documents and set fields,
bad rows refused one line each with nothing stored changed, edits audited with before and
after, the index following at once, and access following the hierarchy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kho.synth.pages import write_born_digital_pdf
from kho.synth.scratch import scratch_pg_database

from .conftest import REPO, need_service, run_kho

CONFIG = """
default_principal = "archivist"

[principals.archivist]
clearance = 3
units = ["*"]

[principals.clerk]
clearance = 0
units = ["*"]
"""
HEADER = (
    "ĐẢNG ỦY QUÂN KHU 7\nĐẢNG CỘNG SẢN VIỆT NAM\nSố: {n}-NQ/ĐU\n"
    "TP. Hồ Chí Minh, ngày {d} tháng {m} năm {y}\nNGHỊ QUYẾT\n{subject}\n"
    "Nội dung nghị quyết về công tác đảng, công tác chính trị của đơn vị."
)


def header(n: int, d: int, m: int, y: int, subject: str) -> str:
    return HEADER.format(n=n, d=d, m=m, y=y, subject=subject)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
)
def archive(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"archive-{request.param}")
    (root / "kho.toml").write_text(CONFIG, encoding="utf-8")
    env = {"KHO_CONFIG": str(root / "kho.toml")}
    if request.param == "postgresql":
        server = need_service("PostgreSQL", "KHO_DATABASE_URL")
        with scratch_pg_database(server) as db:
            yield _make(root, {**env, "KHO_DATABASE_URL": db})
        return
    yield _make(root, env)


def _make(root: Path, env: dict) -> dict:
    home = root / "home"
    kho = Kho(home, env)
    kho("fonds", "create", "G09", "--set", "name=Phông Cục Chính trị",
        "--set", "OrganId=000.00.00.G09")  # fmt: skip
    scans = root / "scans"
    folder = scans / "01-TCCB"  # one folder, one dossier
    folder.mkdir(parents=True)
    write_born_digital_pdf(folder / "b.pdf", [header(12, 5, 3, 2024, "Về công tác cán bộ")])
    write_born_digital_pdf(folder / "a.pdf", [header(7, 20, 1, 2024, "Về công tác tổ chức")])
    shutil.copy(REPO / "samples" / "nghi-quyet-chi-bo.png", folder / "c.png")
    kho("ingest", str(scans), "--fonds", "G09", "--folder-dossiers", "-q")
    return {"root": root, "home": home, "env": env, "kho": kho}


class Kho:
    def __init__(self, home: Path, env: dict):
        self.home, self.env = home, env

    def __call__(self, *args: str, check: int | None = 0, as_name: str | None = None):
        extra = ("--as", as_name) if as_name else ()
        return run_kho(*args, *extra, home=self.home, env=self.env, check=check)

    def json(self, *args: str, as_name: str | None = None):
        return json.loads(self(*args, "--json", as_name=as_name).stdout)


def test_a_folder_is_filed_as_a_dossier_in_date_order_with_proposed_fields(archive):
    kho = archive["kho"]
    shown = kho.json("dossier", "show", "01-TCCB", "--fonds", "G09")
    docs = [kho.json("doc", "show", d["doc_id"]) for d in shown["documents"]]
    dates = [d["fields"]["issued_date"] for d in docs]
    assert dates[:2] == ["2024-01-20", "2024-03-05"], dates  # a.pdf before b.pdf by date
    assert [d["ordinal"] for d in shown["documents"]] == [1, 2, 3]
    first = docs[0]
    assert first["annex_vi"]["CodeNumber"] == "7" and first["annex_vi"]["CodeNotation"] == "NQ/ĐU"
    assert first["fields"]["subject"] == "Về công tác tổ chức"
    assert first["state"]["subject"].startswith("proposed")
    assert first["fonds"] == "G09" and first["dossier"] == "01-TCCB"
    fields = shown["fields"]
    assert fields["doc_total"] == "3" and fields["organ_id"] == "000.00.00.G09"
    assert fields["start_date"] == min(d for d in dates if d)
    assert fields["file_code"] == ""  # no year yet: the FileCode waits for FileCatalog
    kho("dossier", "edit", "01-TCCB", "--fonds", "G09", "--set", "file_catalog=2024")
    code = kho.json("dossier", "show", "01-TCCB", "--fonds", "G09")["fields"]["file_code"]
    assert code == "000.00.00.G09.2024.01-TCCB"
    assert kho.json("dossier", "show", code)["fields"]["file_notation"] == "01-TCCB"
    # the index follows: its documents are found by their dossier's new FileCode
    hits = kho.json("search", "--fonds", "G09", "--dossier", code, "--limit", "50")
    assert {h["doc_id"] for h in hits} == {d["doc_id"] for d in shown["documents"]}
    assert {h["year"] for h in hits if h["doc_id"] == docs[0]["doc_id"]} == {"2024"}


def test_manifest_rows_place_documents_and_set_confirmed_fields(archive):
    kho, root = archive["kho"], archive["root"]
    scans = root / "manifest-ok"
    scans.mkdir()
    write_born_digital_pdf(scans / "x.pdf", [header(3, 1, 6, 2023, "Về công tác kiểm tra")])
    write_born_digital_pdf(scans / "y.pdf", [header(4, 2, 6, 2023, "Về công tác giám sát")])
    (scans / "kho-manifest.csv").write_text(
        "file,fonds,dossier,ordinal,Subject,issued_date\n"
        "x.pdf,G09,05-KT,2,Về việc kiểm tra năm 2023,\n"
        "y.pdf,G09,05-KT,1,,02/06/2023\n",
        encoding="utf-8",
    )
    kho("ingest", str(scans), "-q")
    shown = kho.json("dossier", "show", "05-KT", "--fonds", "G09")
    docs = {d["ordinal"]: kho.json("doc", "show", d["doc_id"]) for d in shown["documents"]}
    assert docs[1]["fields"]["issued_date"] == "2023-06-02"
    assert docs[2]["fields"]["subject"] == "Về việc kiểm tra năm 2023"  # the row, not the page
    assert docs[2]["state"]["subject"] == "confirmed"
    assert docs[2]["fields"]["doc_ordinal"] == "2"


NOT_BAD = ("good.pdf", "one.pdf")


def test_bad_manifest_rows_are_refused_one_line_each_and_nothing_stored_changes(archive):
    kho, root = archive["kho"], archive["root"]
    before = kho.json("dossier", "show", "01-TCCB", "--fonds", "G09")
    taken = kho.json("doc", "show", before["documents"][0]["doc_id"])
    scans = root / "manifest-bad"
    scans.mkdir()
    rows = {
        "fonds.pdf": "X99,01-TCCB,",  # no such fonds
        "long.pdf": "G09," + "N" * 21 + ",",  # notation over 20 characters
        "date.pdf": "G09,01-TCCB,",  # with a date that does not exist
        "one.pdf": "G09,08-DUP,1",
        "twice.pdf": "G09,08-DUP,1",  # ordinal 1 is then taken in 08-DUP
        "good.pdf": "G09,06-GOOD,",
    }
    for i, name in enumerate(rows):
        write_born_digital_pdf(scans / name, [header(40 + i, 1, 2, 2022, f"Về việc số {i}")])
    lines = ["file,fonds,dossier,ordinal,issued_date"]
    lines += [f"{n},{v},{'2024-02-30' if n == 'date.pdf' else ''}" for n, v in rows.items()]
    (scans / "kho-manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = kho("ingest", str(scans), "-q", check=2)
    failed = [ln for ln in proc.stderr.splitlines() if ln.startswith("failed ")]
    assert len(failed) == 4, proc.stderr
    by_file = {n: next(ln for ln in failed if n in ln) for n in rows if n not in NOT_BAD}
    assert "no fonds 'X99'" in by_file["fonds.pdf"]
    assert "at most 20 characters" in by_file["long.pdf"]
    assert "not a date that exists" in by_file["date.pdf"]
    assert "ordinal 1 is taken" in by_file["twice.pdf"]
    assert kho.json("dossier", "show", "06-GOOD", "--fonds", "G09")["fields"]["doc_total"] == "1"
    after = kho.json("dossier", "show", "01-TCCB", "--fonds", "G09")
    assert after == before
    assert kho.json("doc", "show", taken["doc_id"]) == taken


def test_edits_are_audited_with_before_and_after_and_the_index_follows(archive):
    kho = archive["kho"]
    doc = kho.json("dossier", "show", "01-TCCB", "--fonds", "G09")["documents"][1]["doc_id"]
    kho("doc", "edit", doc, "--set", "type_name=Quyết định", "--set", "urgency=khẩn")
    shown = kho.json("doc", "show", doc)
    assert shown["fields"]["urgency"] == "Khẩn" and shown["state"]["type_name"] == "confirmed"
    rows = [json.loads(ln) for ln in kho("audit", "--json", "--action", "archive-edit",
                                          "--limit", "20").stdout.splitlines()]  # fmt: skip
    mine = next(r for r in rows if r["detail"].get("doc_id") == doc)
    assert mine["detail"]["before"]["type_name"] == "Nghị quyết"
    assert mine["detail"]["after"] == {"type_name": "Quyết định", "urgency": "Khẩn"}
    assert mine["actor"] == "archivist"
    hits = kho.json("search", "--type", "Quyết định")
    assert [h["doc_id"] for h in hits] == [doc]
    bad = kho("doc", "edit", doc, "--set", "issued_date=2024-13-01", check=2)
    assert "not a date that exists" in bad.stderr
    assert kho.json("doc", "show", doc) == shown  # nothing changed


def test_access_follows_the_hierarchy(archive):
    kho, root = archive["kho"], archive["root"]
    scans = root / "access"
    scans.mkdir()
    write_born_digital_pdf(scans / "p.pdf", [header(60, 3, 3, 2021, "Về công tác chính sách")])
    write_born_digital_pdf(scans / "q.pdf", [header(61, 4, 3, 2021, "Về công tác hậu phương")])
    kho("dossier", "create", "G09", "07-CS", "--set", "unit=qk7")
    kho("ingest", str(scans), "--fonds", "G09", "--dossier", "07-CS", "-q")
    ids = [d["doc_id"] for d in kho.json("dossier", "show", "07-CS", "--fonds", "G09")["documents"]]
    assert all(kho.json("doc", "show", i)["fields"]["level"] == "0" for i in ids)
    # the documents had no access of their own: they follow their dossier's
    kho("dossier", "edit", "07-CS", "--fonds", "G09", "--set", "level=1")
    for i in ids:
        assert kho("doc", "show", i, as_name="clerk", check=3).returncode == 3
        assert kho.json("doc", "show", i)["fields"]["level"] == "1"
    assert kho.json("search", "hậu phương", as_name="clerk") == []
    # a document raised above its dossier raises the dossier; it cannot go below it again
    kho("doc", "edit", ids[0], "--set", "level=2")
    shown = kho.json("dossier", "show", "07-CS", "--fonds", "G09")
    assert shown["fields"]["level"] == "2"
    low = kho("dossier", "edit", "07-CS", "--fonds", "G09", "--set", "level=1", check=2)
    assert "never below its most secret document" in low.stderr
    # moved to another dossier, a document keeps the access it had
    kho("dossier", "create", "G09", "09-MOVE")
    kho("doc", "move", ids[1], "--dossier", "09-MOVE", "--fonds", "G09", "--ordinal", "9")
    moved = kho.json("doc", "show", ids[1])
    assert moved["dossier"] == "09-MOVE" and moved["ordinal"] == 9
    assert moved["fields"]["level"] == "1"
    assert kho.json("dossier", "show", "09-MOVE", "--fonds", "G09")["fields"]["level"] == "1"
