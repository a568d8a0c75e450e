"""The staff's new doors (web/batches.py): upload, batch pages, retry and purge, and the
kept review decision. Forms without the token, principals without the right, units and
levels beyond the uploader, another's batch, hostile file names, and an over-size upload
refused by the real server before its body is read."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import socket
import time

import pytest

from kho.core.catalog import Catalog
from kho.core.settings import load_settings
from kho.web.app import create_app
from kho.web.auth import hash_password

from ..conftest import REPO, form_login, run_kho
from .webdoor import Server

PASSWORDS = {"boss": "boss-pw-1", "clerk": "clerk-pw-1", "plain": "plain-pw-1"}
CONFIG = """[web]
auth = "password"
upload_max_mb = 8
upload_file_max_mb = 0.5
[principals.boss]
clearance = 3
units = ["*"]
operator = true
reviewer = true
password = "{boss}"
[principals.clerk]
clearance = 1
units = ["qk7"]
uploader = true
password = "{clerk}"
[principals.plain]
clearance = 1
units = ["qk7"]
password = "{plain}"
"""
PNG = (REPO / "samples" / "nghi-quyet-chi-bo.png").read_bytes()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("staffdoor")
    home = root / "home"
    home.mkdir()
    hashes = {k: hash_password(v) for k, v in PASSWORDS.items()}
    (home / "kho.toml").write_text(CONFIG.format(**hashes), encoding="utf-8")
    scans = root / "scans"
    scans.mkdir()
    shutil.copy(REPO / "samples" / "bao-cao-dan-van.jpg", scans)
    run_kho("ingest", str(scans), "--batch", "cli-batch", "--unit", "qk7", "-q", home=home)
    settings = load_settings({"KHO_HOME": str(home)})
    app = create_app(settings)
    app.config["TESTING"] = True
    catalog = Catalog(settings.catalog_url)
    yield {"root": root, "home": home, "app": app, "catalog": catalog}
    catalog.close()


def login(app, name: str):
    return form_login(app, name, PASSWORDS[name])


def token(client, path: str = "/") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


def upload(client, name: str, files: list[tuple[str, bytes]], **fields):
    data = {"csrf": token(client), "name": name, "unit": "qk7", "level": "0", **fields}
    data["files"] = [(io.BytesIO(body), fname) for fname, body in files]
    return client.post("/upload", data=data, content_type="multipart/form-data")


def test_upload_needs_the_form_token_and_the_right(archive):
    clerk, plain = login(archive["app"], "clerk"), login(archive["app"], "plain")
    data = {"name": "no-token", "unit": "qk7", "level": "0", "files": [(io.BytesIO(PNG), "a.png")]}
    assert clerk.post("/upload", data=data, content_type="multipart/form-data").status_code == 400
    assert plain.get("/upload").status_code == 403
    assert upload(plain, "plain-batch", [("a.png", PNG)]).status_code == 403
    for name in ("no-token", "plain-batch"):
        assert archive["catalog"].batch_id(name) is None


def test_unit_or_level_beyond_the_uploader_is_refused(archive):
    clerk = login(archive["app"], "clerk")
    for name, fields in (("other-unit", {"unit": "qk9"}), ("too-high", {"level": "2"}),
                         ("no-unit", {"unit": ""})):  # fmt: skip
        resp = upload(clerk, name, [("a.png", PNG)], **fields)
        assert resp.status_code == 400, name
        assert "vượt quá quyền của bạn" in resp.get_data(as_text=True)
        assert archive["catalog"].batch_id(name) is None  # nothing stored


def test_hostile_file_names_are_refused_and_the_rest_goes_on(archive):
    clerk = login(archive["app"], "clerk")
    files = [("../x.png", PNG), ("/etc/y.png", PNG), ("a\x00b.png", PNG), ("ok/fine.png", PNG),
             ("kho-manifest.csv", b"file,level\nfine.png,3\n")]  # fmt: skip
    resp = upload(clerk, "hostile", files)
    assert resp.status_code == 302
    batch_id = archive["catalog"].batch_id("hostile")
    page = clerk.get(f"/batches/{batch_id}").get_data(as_text=True)
    assert page.count("tên tệp không hợp lệ") == 3, page
    assert "bảng kê quyền không nhận" in page
    assert not (archive["home"] / "uploads" / "x.png").exists()
    assert not (archive["home"] / "x.png").exists()
    counts = archive["catalog"].batch_counts(batch_id)
    assert counts.new == 1  # ok/fine.png, at the batch's own level (the manifest was refused)
    doc = archive["catalog"].get_document(hashlib.sha256(PNG).hexdigest())
    assert (doc.level, doc.unit) == (0, "qk7")


def test_another_principals_batch_is_not_there(archive):
    clerk, boss = login(archive["app"], "clerk"), login(archive["app"], "boss")
    other = archive["catalog"].batch_id("cli-batch")
    for path in (f"/batches/{other}", f"/api/batches/{other}", "/batches/999999"):
        assert clerk.get(path).status_code == 404, path
    t = token(clerk)
    for action in ("retry", "purge"):
        assert clerk.post(f"/batches/{other}/{action}", data={"csrf": t}).status_code == 404
        assert clerk.post(f"/batches/{other}/{action}", data={}).status_code == 400
    assert "cli-batch" not in clerk.get("/batches").get_data(as_text=True)
    assert boss.get(f"/batches/{other}").status_code == 200  # an operator sees every batch
    assert "cli-batch" in boss.get("/batches").get_data(as_text=True)


def test_an_over_size_upload_is_refused_before_its_body_is_read(archive):
    with Server(archive["home"], {}) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(
                b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n"
                b"Content-Length: 50000000\r\n\r\n"
            )  # and not one byte of the body
            started, answer = time.monotonic(), b""
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert time.monotonic() - started < 5
        # under the upload's own limit, a body bigger than every other form's is read
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(
                b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n"
                b"Content-Length: 200000\r\n\r\n" + b"-" * 200000
            )
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]  # no token: not 413


def test_a_decision_kept_across_the_login_needs_its_form_token(archive):
    """A decision posted after the session ended is kept only with the session's own form
    token, and applied only when the principal who sent it logs in again."""
    import sqlite3

    doc_id = hashlib.sha256((REPO / "samples" / "bao-cao-dan-van.jpg").read_bytes()).hexdigest()
    archive["catalog"].set_document(doc_id, review="pending", confidence=0.1)
    boss = login(archive["app"], "boss")
    t = token(boss, "/review")

    def end_sessions():
        with sqlite3.connect(archive["home"] / "catalog.sqlite") as db:
            db.execute("DELETE FROM web_sessions")

    end_sessions()
    forged = boss.post(f"/review/{doc_id}", data={"decision": "accept", "csrf": "forged"})
    assert forged.status_code == 302 and "/login" in forged.headers["Location"]
    assert "chưa được ghi" in boss.get("/login").get_data(as_text=True)
    relogin(boss, "boss")
    boss.get("/review")
    assert archive["catalog"].get_document(doc_id).review == "pending"  # not kept

    t = token(boss, "/review")
    end_sessions()
    kept = boss.post(f"/review/{doc_id}", data={"decision": "accept", "csrf": t})
    assert kept.status_code == 302 and "/login" in kept.headers["Location"]
    assert archive["catalog"].get_document(doc_id).review == "pending"  # not before the login
    assert relogin(boss, "boss").headers["Location"] == "/review"
    page = boss.get("/review").get_data(as_text=True)
    assert "Đã ghi (gửi trước khi đăng nhập lại)" in page
    assert archive["catalog"].get_document(doc_id).review == "accepted"


def relogin(client, name: str):
    page = client.get("/login?next=/review").get_data(as_text=True)
    t = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"name": name, "password": PASSWORDS[name], "csrf": t, "next": "/review"}
    resp = client.post("/login", data=form)
    assert resp.status_code == 302
    return resp


def test_a_file_over_its_own_limit_is_refused(archive):
    clerk = login(archive["app"], "clerk")
    resp = upload(clerk, "big-file", [("a.png", PNG), ("big.png", PNG + b"\0" * 200_000)])
    assert resp.status_code == 413
    assert "quá lớn" in resp.get_data(as_text=True)  # the 413 page, in Vietnamese
    assert archive["catalog"].batch_id("big-file") is None
    assert not any((archive["home"] / "uploads" / ".parts").iterdir())  # nothing left behind


def test_giving_up_one_document_of_ones_own_batch(archive):
    import sqlite3

    clerk, boss = login(archive["app"], "clerk"), login(archive["app"], "boss")
    scan = (REPO / "samples" / "ket-luan-kiem-tra.png").read_bytes()
    assert upload(clerk, "give-up", [("kl.png", scan)]).status_code == 302
    batch_id = archive["catalog"].batch_id("give-up")
    deadline = time.monotonic() + 180
    while not clerk.get(f"/api/batches/{batch_id}").get_json()["finished"]:
        assert time.monotonic() < deadline, "the uploaded batch did not finish"
        time.sleep(1)
    doc_id = hashlib.sha256(scan).hexdigest()
    with sqlite3.connect(archive["home"] / "catalog.sqlite") as db:  # its page failed for good
        db.execute(
            "UPDATE pages SET status = 'failed', failed_at = CURRENT_TIMESTAMP, reason = ? "
            "WHERE doc_id = ?",
            ("took more than 90 s: stopped", doc_id),
        )
    (f,) = clerk.get(f"/api/batches/{batch_id}").get_json()["failures"]
    assert f["doc"] == doc_id and "quá lâu" in f["reason"]
    t = token(clerk)
    hidden = hashlib.sha256((REPO / "samples" / "bao-cao-dan-van.jpg").read_bytes()).hexdigest()
    assert (
        boss.post(f"/batches/{batch_id}/purge", data={"csrf": t, "doc": doc_id}).status_code == 400
    )
    page = clerk.post(f"/batches/{batch_id}/purge", data={"csrf": t, "doc": doc_id},
                      follow_redirects=True).get_data(as_text=True)  # fmt: skip
    assert "Đã bỏ 1 lỗi" in page
    assert clerk.get(f"/api/batches/{batch_id}").get_json()["failures"] == []
    other = archive["catalog"].batch_id("cli-batch")
    assert clerk.post(f"/batches/{other}/purge", data={"csrf": t, "doc": hidden}).status_code == 404
