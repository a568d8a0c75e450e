"""The document page's new doors over a real `kho web serve`: page batches, screen images,
the inline PDF and the field editor answer a hidden document as a missing one (404),
editing needs the form token (400) and a reviewer (403), and every save is one audit row."""

from __future__ import annotations

import json
import sqlite3

import cv2
import numpy as np
import pytest

from kho.synth.pages import render_page, write_born_digital_pdf, write_png
from kho.web.auth import hash_password

from ..conftest import run_kho
from .webdoor import Server

DOCS = {  # file: (level, unit)
    "scan.png": (0, "qk7/f9"),
    "secret.png": (2, "qk7"),
    "far.pdf": (0, "qk9"),
}
PRINCIPALS = {  # name: (clearance, units, reviewer)
    "editor": (2, "qk7", True),
    "low": (0, "qk7", True),
    "far": (3, "qk9", True),
    "reader": (2, "qk7", False),
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("docdoors")
    scans = root / "scans"
    scans.mkdir()
    rows = ["file,level,unit"]
    for name, (level, unit) in DOCS.items():
        if name.endswith(".pdf"):
            write_born_digital_pdf(scans / name, [f"Kế hoạch công tác {name} năm 2024."] * 3)
        else:
            page = render_page(f"Báo cáo công tác dân vận năm 2024 ({name}).", height_in=3)
            write_png(scans / name, page.image, page.dpi)
        rows.append(f"{name},{level},{unit}")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lines = ['default_principal = "editor"']
    for name, (clearance, unit, reviewer) in PRINCIPALS.items():
        password = hash_password(name + "-pw-1")
        lines += [f"[principals.{name}]", f"clearance = {clearance}", f'units = ["{unit}"]',
                  f"reviewer = {str(reviewer).lower()}", f'password = "{password}"']  # fmt: skip
    config = root / "kho.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    home, env = root / "home", {"KHO_CONFIG": str(config)}
    run_kho("ingest", str(scans), "--batch", "docdoors", "-q", home=home, env=env)
    ids = {}
    with sqlite3.connect(home / "catalog.sqlite") as db:
        ids = dict(db.execute("SELECT filename, id FROM documents"))
    with Server(home, env) as srv:
        yield {"home": home, "env": env, "ids": ids, "srv": srv}


def session(archive, name: str):
    b = archive["srv"].browser()
    assert b.login(name, name + "-pw-1").status == 302
    return b


def field(archive, doc_id: str, name: str) -> str:
    out = run_kho("doc", "show", doc_id, "--json", home=archive["home"], env=archive["env"])
    return json.loads(out.stdout)["fields"][name]


def edits(archive, doc_id: str) -> list[dict]:
    out = run_kho("audit", "--json", "--limit", "1000", home=archive["home"], env=archive["env"])
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    return [
        r for r in rows if r["action"] == "archive-edit" and r["detail"].get("doc_id") == doc_id
    ]


def doors(doc_id: str) -> list[str]:
    return [f"/doc/{doc_id}", f"/doc/{doc_id}/pages/1", f"/doc/{doc_id}/page/1.screen.jpg",
            f"/doc/{doc_id}/pdf?inline=1"]  # fmt: skip


def test_hidden_documents_answer_404_on_every_new_door(archive):
    secret, far = archive["ids"]["secret.png"], archive["ids"]["far.pdf"]
    for name, doc_id in (("low", secret), ("far", secret), ("editor", far)):
        b = session(archive, name)
        token = b.get("/").csrf()
        for path in doors(doc_id):
            assert b.get(path).status == 404, (name, path)
        reply = b.post(f"/doc/{doc_id}/edit", {"csrf": token, "signer_name": "Kẻ lạ"})
        assert reply.status == 404, name
    assert field(archive, secret, "signer_name") == "" and not edits(archive, secret)
    b = session(archive, "editor")
    assert all(b.get(path).status == 200 for path in doors(secret))


def test_editing_needs_the_token_and_a_reader_who_may_edit(archive):
    doc = archive["ids"]["secret.png"]
    reader = session(archive, "reader")
    page = reader.get(f"/doc/{doc}")
    assert page.status == 200 and "fieldform" not in page.body  # no form for a reader
    form = {"csrf": page.csrf(), "signer_name": "Người đọc"}
    assert reader.post(f"/doc/{doc}/edit", form).status == 403
    editor = session(archive, "editor")
    assert editor.post(f"/doc/{doc}/edit", {"signer_name": "Không token"}).status == 400
    form = {"csrf": "not-the-token", "signer_name": "Sai token"}
    assert editor.post(f"/doc/{doc}/edit", form).status == 400
    assert field(archive, doc, "signer_name") == "" and not edits(archive, doc)


def test_a_save_is_one_audit_row_and_a_bad_value_changes_nothing(archive):
    doc = archive["ids"]["secret.png"]
    editor = session(archive, "editor")
    token = editor.get(f"/doc/{doc}").csrf()
    bad = editor.post(f"/doc/{doc}/edit", {"csrf": token, "issued_date": "30/02/2024",
                                           "signer_name": "Trần Văn An"})  # fmt: skip
    assert bad.status == 400 and "Ngày không hợp lệ" in bad.body
    assert field(archive, doc, "signer_name") == ""  # nothing of a refused form is kept
    form = {"csrf": token, "issued_date": "05/03/2024", "signer_name": "Trần Văn An"}
    assert editor.post(f"/doc/{doc}/edit?q=k%E1%BA%BF", form).status == 302
    assert field(archive, doc, "issued_date") == "2024-03-05"
    (row,) = edits(archive, doc)
    assert row["detail"]["via"] == "web" and row["actor"] == "editor"
    assert row["detail"]["after"] == {"issued_date": "2024-03-05", "signer_name": "Trần Văn An"}
    assert editor.post(f"/doc/{doc}/edit", form).status == 302  # the same again: no change
    assert len(edits(archive, doc)) == 1
    hits = run_kho("search", "", "--json", "--year", "2024", home=archive["home"],
                   env=archive["env"]).stdout  # fmt: skip
    assert doc in {h["doc_id"] for h in json.loads(hits)}  # the index followed


def test_the_inline_pdf_is_framed_only_by_this_site(archive):
    doc = archive["ids"]["secret.png"]
    editor = session(archive, "editor")
    inline = editor.get(f"/doc/{doc}/pdf?inline=1")
    assert inline.headers["Content-Disposition"].startswith("inline")
    assert inline.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert inline.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    download = editor.get(f"/doc/{doc}/pdf")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in download.headers["Content-Security-Policy"]


def test_a_page_stored_without_a_rendition_gets_one_on_first_request(archive):
    import urllib.request

    doc = archive["ids"]["scan.png"]
    home = archive["home"]
    screen = home / "docs" / doc / "page-00001.screen.jpg"
    assert screen.is_file()  # written at ingest, with the page image
    screen.unlink()  # as an archive stored before renditions: none, and none recorded
    with sqlite3.connect(home / "catalog.sqlite") as db:
        db.execute("DELETE FROM fixity WHERE path LIKE ?", (f"docs/{doc}/page-00001.screen%",))
    low = session(archive, "low")  # clearance 0, qk7: may see qk7/f9 level 0
    port = archive["srv"].port
    cookie = "; ".join(f"{k}={v}" for k, v in low.cookies.items())
    req = urllib.request.Request(f"http://127.0.0.1:{port}/doc/{doc}/page/1.screen.jpg",
                                 headers={"Cookie": cookie})  # fmt: skip
    with urllib.request.urlopen(req) as resp:
        data = resp.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.shape[1] <= 1200
    assert screen.read_bytes() == data  # stored, then served after
    verify = run_kho("verify", home=home, env=archive["env"]).stdout
    assert "0 alarms" in verify, verify
    with sqlite3.connect(home / "catalog.sqlite") as db:
        kinds = [r[0] for r in db.execute("SELECT kind FROM fixity WHERE path = ?",
                                          (f"docs/{doc}/page-00001.screen.jpg",))]  # fmt: skip
    assert kinds == ["page-image"]
