"""Every CLI command that touches a document checks who may see it, and every command that
shows or changes archive data writes an audit row: a clearance-0 principal gets the answer a
missing document gets for a TUYỆT MẬT one (exit 3, the same message), nothing changes, and
the refusal is in the audit log."""

from __future__ import annotations

import json
import sqlite3

import pytest

from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho

CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 0
units = ["qk7"]

[principals.chief]
clearance = 3
units = ["qk7"]
"""
DOCS = {
    "public.pdf": ("Kế hoạch công tác dân vận năm 2024 của Quân khu 7.", 0),
    "tuyet-mat.pdf": ("TUYỆT MẬT\nBáo cáo tình hình chính trị nội bộ Quân khu 7.", 3),
}
MISSING = "0123456789ab"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("visibility")
    (root / "kho.toml").write_text(CONFIG, encoding="utf-8")
    scans = root / "scans"
    scans.mkdir()
    rows = ["file,level,unit"]
    for name, (text, level) in DOCS.items():
        write_born_digital_pdf(scans / name, [text])
        rows.append(f"{name},{level},qk7")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    home = root / "home"
    env = {"KHO_CONFIG": str(root / "kho.toml")}
    run_kho("ingest", str(scans), "--batch", "vis", "-q", home=home, env=env)
    ids = dict(query(home, "SELECT filename, id FROM documents"))
    return {
        "home": home,
        "env": env,
        "scans": scans,
        "public": ids["public.pdf"],
        "secret": ids["tuyet-mat.pdf"],
    }


def query(home, sql: str, *args) -> list:
    conn = sqlite3.connect(home / "catalog.sqlite", isolation_level=None)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def kho(archive, *args, check=0):
    return run_kho(*args, home=archive["home"], env=archive["env"], check=check)


def new_audit_rows(archive, after: int) -> list[tuple[str, str, dict]]:
    rows = query(
        archive["home"],
        "SELECT actor, action, detail FROM audit_log WHERE id > ? ORDER BY id",
        after,
    )
    return [(actor, action, json.loads(detail)) for actor, action, detail in rows]


def last_audit_id(archive) -> int:
    return query(archive["home"], "SELECT COALESCE(MAX(id), 0) FROM audit_log")[0][0]


def state_of(archive, doc_id: str) -> list:
    """Everything the catalog holds about a document and its pages."""
    home = archive["home"]
    return query(home, "SELECT * FROM documents WHERE id = ?", doc_id) + query(
        home, "SELECT * FROM pages WHERE doc_id = ? ORDER BY page", doc_id
    )


def queue_for_review(archive) -> None:
    """Both documents waiting for a person: classifier unsure, OCR unsure of every page."""
    home = archive["home"]
    query(home, "UPDATE documents SET review = 'pending'")
    query(home, "UPDATE pages SET source = 'ocr', confidence = 30")


DOORS = [  # commands that act on one document, with {doc} where its id goes
    ("review", "relabel", "{doc}", "dan_van"),
    ("review", "accept", "{doc}"),
    ("review", "field", "{doc}", "number", "05"),
    ("reocr", "{doc}"),
]


@pytest.mark.parametrize("door", DOORS, ids=lambda d: " ".join(d[:2]).replace(" {doc}", ""))
def test_a_hidden_document_answers_like_a_missing_one(archive, door):
    queue_for_review(archive)
    secret = archive["secret"][:12]
    before = state_of(archive, archive["secret"])
    mark = last_audit_id(archive)
    hidden = kho(archive, *[a.format(doc=secret) for a in door], check=3)
    missing = kho(archive, *[a.format(doc=MISSING) for a in door], check=3)
    assert hidden.stderr.replace(secret, "<id>") == missing.stderr.replace(MISSING, "<id>")
    assert "no document <id> (or you may not see it)" in hidden.stderr.replace(secret, "<id>")
    assert hidden.stdout == missing.stdout == ""
    assert state_of(archive, archive["secret"]) == before  # nothing changed
    refused = new_audit_rows(archive, mark)
    assert [(a, act, d["doc_id"], d["via"]) for a, act, d in refused] == [
        ("clerk", "denied", secret, "cli"),
        ("clerk", "denied", MISSING, "cli"),
    ]
    mark = last_audit_id(archive)
    kho(archive, *[a.format(doc=secret) for a in door], "--as", "chief")  # it is there
    done = new_audit_rows(archive, mark)
    assert [(a, d["doc_id"]) for a, _, d in done] == [("chief", archive["secret"])]


def test_review_ocr_lists_only_pages_one_may_see(archive):
    queue_for_review(archive)

    def listed(*args) -> set[str]:
        out = kho(archive, "review", "ocr", "--json", *args).stdout
        return {row["doc_id"] for row in json.loads(out)}

    assert listed() == {archive["public"]}
    assert listed("--as", "chief") == {archive["public"], archive["secret"]}
    assert listed("--limit", "1", "--page", "2") == set()  # pages count what clerk sees


def test_reocr_of_a_batch_leaves_hidden_documents_alone(archive):
    queue_for_review(archive)
    before = state_of(archive, archive["secret"])
    out = kho(archive, "reocr", "--batch", "vis", "--below", "50").stdout
    assert archive["public"][:12] in out and archive["secret"][:12] not in out
    assert state_of(archive, archive["secret"]) == before


def test_classify_apply_reclassifies_only_what_one_may_see(archive):
    query(archive["home"], "UPDATE documents SET category = 'stale', review = ''")
    kho(archive, "classify", "apply")
    categories = dict(query(archive["home"], "SELECT id, category FROM documents"))
    assert categories[archive["secret"]] == "stale"
    assert categories[archive["public"]] != "stale"


def test_classify_train_learns_only_from_documents_one_may_see(archive):
    query(archive["home"], "UPDATE documents SET review = 'accepted', category = 'dan_van'")
    for who, expected in (
        ("clerk", [archive["public"]]),
        ("chief", sorted([archive["public"], archive["secret"]])),
    ):
        mark = last_audit_id(archive)
        proc = kho(archive, "classify", "train", "--synthetic", "2", "--as", who)
        assert f"{len(expected)} reviewed documents from the catalog" in proc.stderr
        ((actor, action, detail),) = new_audit_rows(archive, mark)
        assert (actor, action, sorted(detail["reviewed"])) == (who, "train", expected)


AUDITED = [  # command, the action of the row it writes, whether the row names the document
    (("ingest", "{scans}", "--batch", "vis", "-q"), "ingest", False),
    (("reindex",), "reindex", False),
    (("resume",), "resume", False),
    (("status",), "status", False),
    (("failed", "list"), "failed-list", False),
    (("audit", "--limit", "5"), "audit", False),
    (("review", "list"), "review-list", False),
    (("review", "ocr"), "review-ocr", False),
    (("review", "accept", "{doc}"), "review", True),
    (("review", "relabel", "{doc}", "dan_van"), "review", True),
    (("review", "field", "{doc}", "CodeNumber", "05"), "review-field", True),
    (("reocr", "{doc}"), "reocr", True),
    (("classify", "apply"), "classify-apply", False),
]


def test_a_bad_field_value_on_a_hidden_document_answers_like_a_missing_one(archive):
    """Access is decided before the value is checked: a refused value would say it is there."""
    secret = archive["secret"][:12]
    hidden = kho(archive, "review", "field", secret, "number", "9B", check=3)
    missing = kho(archive, "review", "field", MISSING, "number", "9B", check=3)
    assert hidden.stderr.replace(secret, "<id>") == missing.stderr.replace(MISSING, "<id>")
    refused = kho(archive, "review", "field", secret, "number", "9B", "--as", "chief", check=2)
    assert "digits as printed" in refused.stderr + refused.stdout


@pytest.mark.parametrize(("args", "action", "names_doc"), AUDITED, ids=lambda a: str(a))
def test_each_command_writes_its_audit_row(archive, args, action, names_doc):
    queue_for_review(archive)
    public = archive["public"]
    mark = last_audit_id(archive)
    kho(archive, *[a.format(doc=public[:12], scans=archive["scans"]) for a in args])
    (row,) = new_audit_rows(archive, mark)
    actor, got, detail = row
    assert (actor, got, detail["via"]) == ("clerk", action, "cli")
    assert detail["os_user"]
    if names_doc:
        assert detail["doc_id"] == public
    assert kho(archive, "audit", "verify").stdout.startswith("ok: ")
