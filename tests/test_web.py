"""The web pages through Flask's test client on a real archive (ingested by the real CLI):
who may log in, what each principal sees on every door, operators' pages, the audit trail."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from kho.core.errors import ConfigError
from kho.core.settings import load_settings
from kho.synth.pages import render_page, write_born_digital_pdf, write_png
from kho.web.app import create_app
from kho.web.auth import check_bind, hash_password, verify_password

from .conftest import es_client, es_env, run_kho

DOCS = {  # file: (text, level, unit)
    "public.pdf": ("Kế hoạch công tác dân vận năm 2024 của Sư đoàn 9.", 0, "qk7/f9"),
    "other-region.pdf": ("Kế hoạch công tác dân vận năm 2024 của Quân khu 9.", 0, "qk9"),
    "secret.png": ("MẬT\nCông tác dân vận và bảo vệ nội bộ Quân khu 7.", 2, "qk7"),
}
PASSWORDS = {"chief": "chief-pw-1", "clerk": "clerk-pw-1"}


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)]
)
def archive(request, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("web")
    scans = root / "scans"
    scans.mkdir()
    rows = ["file,level,unit"]
    for name, (text, level, unit) in DOCS.items():
        if name.endswith(".pdf"):
            write_born_digital_pdf(scans / name, [text])
        else:
            page = render_page(text, height_in=3)
            write_png(scans / name, page.image, page.dpi)
        rows.append(f"{name},{level},{unit}")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = root / "kho.toml"
    config.write_text(
        f"""
[principals.chief]
clearance = 2
units = ["qk7"]
operator = true
password = "{hash_password(PASSWORDS["chief"])}"

[principals.clerk]
clearance = 0
units = ["qk7/f9"]
reviewer = true
password = "{hash_password(PASSWORDS["clerk"])}"
""",
        encoding="utf-8",
    )
    home = root / "home"
    env = {"KHO_CONFIG": str(config)}
    if request.param == "elasticsearch":
        env.update(es_env())
        env["KHO_INDEX_NAME"] = f"kho-web-{uuid.uuid4().hex[:10]}"
    run_kho("ingest", str(scans), "--batch", "web-batch", "-q", home=home, env=env)
    out = run_kho("search", "dân vận", "--json", "--as", "chief", home=home, env=env).stdout
    ids = {h["filename"]: h["doc_id"] for h in json.loads(out)}
    assert set(ids) == {"public.pdf", "secret.png"}  # chief: qk7 and below, clearance 2
    out = run_kho("search", "Quân khu 9", "--json", home=home, env=env).stdout
    ids["other-region.pdf"] = json.loads(out)[0]["doc_id"]  # the default principal: local
    yield {"home": home, "env": env, "ids": ids, "config": config}
    if request.param == "elasticsearch":
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


def settings_for(archive, **web) -> object:
    env = {"KHO_HOME": str(archive["home"]), **archive["env"]}
    s = load_settings(env)
    if web:
        from dataclasses import replace

        s = replace(s, web=replace(s.web, **web))
    return s


@pytest.fixture(scope="module")
def app(archive):
    app = create_app(settings_for(archive))
    app.config["TESTING"] = True
    return app


def csrf_of(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def login(app, name: str, password: str | None = None):
    client = app.test_client()
    token = csrf_of(client)
    resp = client.post(
        "/login",
        data={"name": name, "password": password or PASSWORDS[name], "csrf": token, "next": "/"},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/", resp.get_data(as_text=True)
    return client


def hits(client, query: str) -> set[str]:
    resp = client.get("/api/search", query_string={"q": query})
    assert resp.status_code == 200
    return {h["filename"] for h in resp.get_json()["hits"]}


def test_nothing_is_served_before_login(app, archive):
    client = app.test_client()
    resp = client.get("/?q=dan+van")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    doc = archive["ids"]["public.pdf"]
    for path in ("/api/search?q=dan", "/api/status"):
        assert client.get(path).status_code == 401
    for path in (f"/doc/{doc}", f"/doc/{doc}/pdf", "/status", "/audit"):
        assert client.get(path).status_code == 302
    assert client.get("/health").get_json() == {"ok": True}


def test_wrong_password_is_refused_and_recorded(app, archive):
    client = app.test_client()
    token = csrf_of(client)
    resp = client.post("/login", data={"name": "clerk", "password": "nope", "csrf": token})
    assert resp.status_code == 200 and "Sai tên đăng nhập" in resp.get_data(as_text=True)
    resp = client.post("/login", data={"name": "ghost", "password": "x", "csrf": token})
    assert "Sai tên đăng nhập" in resp.get_data(as_text=True)
    assert client.get("/?q=dan").status_code == 302  # still not logged in
    no_csrf = client.post("/login", data={"name": "clerk", "password": PASSWORDS["clerk"]})
    assert no_csrf.status_code == 400
    out = run_kho("audit", "--action", "login-failed", "--json", home=archive["home"])
    actors = [json.loads(line)["actor"] for line in out.stdout.splitlines()]
    assert "clerk" in actors and "ghost" not in actors  # an unknown name is not kept as typed
    assert any(a.startswith("?") for a in actors)


def test_repeated_failed_logins_lock_the_name(archive):
    s = settings_for(archive)
    from dataclasses import replace

    app = create_app(replace(s, web=replace(s.web, max_failed_logins=3)))  # counts of its own
    client = app.test_client()
    token = csrf_of(client)
    for _ in range(3):
        resp = client.post("/login", data={"name": "chief", "password": "x", "csrf": token})
        assert resp.status_code == 200 and "Sai tên" in resp.get_data(as_text=True)
    form = {"name": "chief", "password": PASSWORDS["chief"], "csrf": token}
    locked = client.post("/login", data=form)  # the right password: refused before checking
    assert locked.status_code == 429 and "15 phút" in locked.get_data(as_text=True)
    assert login(app, "clerk").get("/?q=dan").status_code == 200  # other names are not locked
    out = run_kho(
        "audit",
        "--actor",
        "chief",
        "--limit",
        "4",
        "--json",
        home=archive["home"],
        env=archive["env"],
    )
    actions = [json.loads(line)["action"] for line in out.stdout.splitlines()]
    assert actions == ["login-locked", "login-failed", "login-failed", "login-failed"]


def test_each_principal_sees_only_its_documents_on_every_door(app, archive):
    ids = archive["ids"]
    clerk, chief = login(app, "clerk"), login(app, "chief")
    assert hits(clerk, "dan van") == {"public.pdf"}  # typed without diacritics
    assert hits(chief, "dân vận") == {"public.pdf", "secret.png"}
    page = clerk.get("/", query_string={"q": "dân vận"}).get_data(as_text=True)
    assert "1 tài liệu phù hợp" in page and "<mark>" in page
    assert "Tối mật" not in page and "qk9" not in page  # nothing hidden leaks via facets
    facets = clerk.get("/api/search", query_string={"q": "dân vận"}).get_json()["facets"]
    assert dict(facets["level"]) == {"0": 1}
    secret, other = ids["secret.png"], ids["other-region.pdf"]
    for path in (
        f"/doc/{secret}",
        f"/doc/{secret}/page/1.jpg",
        f"/doc/{secret}/pdf",
        f"/doc/{secret[:12]}",
        f"/doc/{other}",
        "/doc/0000000000000000",
    ):
        resp = clerk.get(path)
        assert resp.status_code == 404, path
        assert secret not in resp.get_data(as_text=True)
    doc = chief.get(f"/doc/{secret[:12]}")
    assert doc.status_code == 200
    text = doc.get_data(as_text=True)
    assert "Tối mật" in text and "Công tác dân vận" in text
    image = chief.get(f"/doc/{secret}/page/1.jpg")
    assert image.status_code == 200 and image.data[:3] == b"\xff\xd8\xff"
    pdf = chief.get(f"/doc/{secret}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert chief.get(f"/doc/{other}").status_code == 404  # qk9 is not under qk7


def test_operators_pages_and_the_audit_trail(app, archive):
    clerk, chief = login(app, "clerk"), login(app, "chief")
    secret = archive["ids"]["secret.png"]
    assert clerk.get("/", query_string={"q": "dân vận"}).status_code == 200  # its own search
    clerk.get(f"/doc/{secret}")  # refused, and recorded
    for path in ("/status", "/api/status", "/audit"):
        assert clerk.get(path).status_code == 403
    status = chief.get("/status")
    assert status.status_code == 200
    body = status.get_data(as_text=True)
    assert "web-batch" in body and "<progress" in body
    st = chief.get("/api/status").get_json()
    (batch,) = [b for b in st["batches"] if b["name"] == "web-batch"]
    assert batch["finished"] and batch["pages_done"] == 3 and batch["docs_indexed"] == 3
    audit = chief.get("/audit", query_string={"actor": "clerk", "action": "denied"})
    assert secret[:16] in audit.get_data(as_text=True)
    out = run_kho("audit", "--actor", "clerk", "--json", "--limit", "500", home=archive["home"])
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    denied = [r for r in rows if r["action"] == "denied"]
    assert any(r["detail"]["doc_id"] == secret and r["detail"]["via"] == "web" for r in denied)
    assert all(r["detail"].get("client") == "127.0.0.1" for r in rows)
    searches = [r for r in rows if r["action"] == "search"]
    assert searches and all(secret not in r["detail"]["shown"] for r in searches)


def test_session_expires_and_logout_needs_the_form_token(app):
    client = login(app, "clerk")
    assert client.post("/logout").status_code == 400  # no token: a forged form
    assert client.get("/?q=dan").status_code == 200
    with client.session_transaction() as s:
        s["since"] = time.time() - 9 * 3600  # past session_hours (8)
    assert client.get("/?q=dan").status_code == 302
    client = login(app, "clerk")
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf": token}).status_code == 302
    assert client.get("/?q=dan").status_code == 302


def test_pages_carry_security_headers(app):
    resp = login(app, "clerk").get("/?q=dan")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    client = app.test_client()
    token = csrf_of(client)
    form = {"name": "clerk", "password": PASSWORDS["clerk"], "csrf": token}
    cookie = client.post("/login", data=form).headers["Set-Cookie"]  # the session it opens
    assert cookie.startswith("kho_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_query_text_is_escaped(app):
    page = login(app, "clerk").get("/", query_string={"q": "<script>alert(1)</script> dân"})
    body = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_document_page_flags_pages_read_with_low_confidence(archive):
    from dataclasses import replace

    secret = archive["ids"]["secret.png"]
    headers = {"X-Remote-User": "chief"}
    s = settings_for(archive, auth="header")
    for below, flagged in ((0.0, False), (100.0, True)):
        app = create_app(replace(s, ocr=replace(s.ocr, review_confidence=below)))
        page = app.test_client().get(f"/doc/{secret}", headers=headers).get_data(as_text=True)
        assert ("độ tin cậy thấp" in page) is flagged
    public = archive["ids"]["public.pdf"]
    page = app.test_client().get(f"/doc/{public}", headers=headers).get_data(as_text=True)
    assert "lớp văn bản của PDF" in page and "độ tin cậy thấp" not in page


def test_reviewers_settle_the_classifications_they_may_see(app, archive):
    from kho.core.catalog import Catalog

    ids = archive["ids"]
    public, secret = ids["public.pdf"], ids["secret.png"]
    catalog = Catalog(settings_for(archive).catalog_url)
    for doc_id in (public, secret):  # the classifier was unsure of both
        catalog.set_document(doc_id, review="pending", category="hanh_chinh", confidence=0.2)
    clerk, chief = login(app, "clerk"), login(app, "chief")
    assert chief.get("/review").status_code == 403  # an operator, not a reviewer
    page = clerk.get("/review").get_data(as_text=True)
    assert public in page and secret not in page  # the queue shows only what clerk may see
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"decision": "relabel", "category": "dan_van", "csrf": token}
    assert clerk.post(f"/review/{secret}", data=form).status_code == 404
    assert clerk.post(f"/review/{public}", data={**form, "csrf": ""}).status_code == 400
    resp = clerk.post(f"/review/{public}", data=form)
    assert resp.status_code == 302
    doc = catalog.get_document(public)
    assert (doc.category, doc.review) == ("dan_van", "relabeled")
    assert doc.meta["predicted"]["category"] == "hanh_chinh"
    found = clerk.get("/api/search", query_string={"q": "dân vận", "category": "dan_van"})
    assert [h["doc_id"] for h in found.get_json()["hits"]] == [public]  # the index follows
    assert public not in clerk.get("/review").get_data(as_text=True)
    assert catalog.get_document(secret).review == "pending"  # untouched
    out = run_kho("audit", "--action", "review", "--json", home=archive["home"]).stdout
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["actor"] == "clerk" and row["detail"]["doc_id"] == public
    catalog.close()


def test_header_mode_takes_the_proxys_principal(archive):
    app = create_app(settings_for(archive, auth="header"))
    client = app.test_client()
    assert client.get("/api/search?q=dan+van").status_code == 401
    assert client.get("/api/search?q=dan", headers={"X-Remote-User": "nobody"}).status_code == 401
    resp = client.get("/api/search?q=dan+van", headers={"X-Remote-User": "clerk"})
    assert {h["filename"] for h in resp.get_json()["hits"]} == {"public.pdf"}
    assert client.get("/status", headers={"X-Remote-User": "clerk"}).status_code == 403
    assert client.get("/status", headers={"X-Remote-User": "chief"}).status_code == 200


def test_no_auth_only_on_loopback(archive, tmp_path):
    s = load_settings({"KHO_HOME": str(tmp_path)})  # no principals, no passwords
    check_bind(s, "127.0.0.1")
    check_bind(s, "::1")
    with pytest.raises(ConfigError, match="needs \\[web\\] auth"):
        check_bind(s, "0.0.0.0")
    check_bind(settings_for(archive), "0.0.0.0")  # passwords configured: allowed


def test_password_hashes(tmp_path):
    stored = hash_password("mật khẩu")
    assert stored.startswith("scrypt$") and "mật" not in stored
    assert verify_password("mật khẩu", stored) and not verify_password("mat khau", stored)
    assert not verify_password("x", "garbage") and hash_password("a") != hash_password("a")
    out = subprocess.run(
        [sys.executable, "-m", "kho", "web", "passwd", "clerk", "--password-stdin"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KHO_HOME": str(tmp_path / "home")},  # not the account's own
    ).stdout
    line = out.splitlines()[-1]
    assert line.startswith('password = "scrypt$')
    assert verify_password("s3cret", line.split('"')[1])


@pytest.mark.slow
def test_kho_web_serve_answers_over_http(archive):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"KHO_HOME": str(archive["home"]), **archive["env"]}
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "kho", "web", "serve", "--port", str(port)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("KHO_")}, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.load(r) == {"ok": True}
                break
            except OSError as err:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        proc.stdout.read().decode() if proc.poll() else "slow"
                    ) from err
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
            assert "Đăng nhập" in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    refused = subprocess.run(
        [sys.executable, "-m", "kho", "web", "serve", "--host", "0.0.0.0", "--port", str(port)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("KHO_")},
            "KHO_HOME": str(Path(archive["home"]).parent / "empty-home"),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 5 and "needs [web] auth" in refused.stderr


ENGLISH = ("Not Found", "Method Not Allowed", "Bad Request", "Forbidden", "Internal Server Error",
           "Unauthorized", "Request Entity Too Large", "Too Many Requests")  # fmt: skip


def test_every_refusal_is_a_vietnamese_page_or_json_under_api(archive):
    """Each HTTP code Flask or werkzeug can raise says what happened and what to do next in
    Vietnamese, with a way back; under /api/ it is JSON."""
    from flask import abort

    from kho.web.app import ERRORS

    app = create_app(settings_for(archive))
    for rule in ("/boom/<int:code>", "/api/boom/<int:code>"):  # any code, through identify
        app.add_url_rule(rule, rule, lambda code: abort(code) if code != 500 else 1 / 0)
    clerk = login(app, "clerk")
    seen = {
        400: clerk.post("/logout"),  # no form token
        403: clerk.get("/status"),
        404: clerk.get("/no/such/page"),
        405: clerk.get("/logout"),  # POST only
        413: clerk.post("/logout", data={"csrf": "x" * 70_000}),
        **{code: clerk.get(f"/boom/{code}") for code in (401, 408, 414, 429, 500, 503)},
    }
    assert set(seen) == set(ERRORS)
    for code, resp in seen.items():
        body = resp.get_data(as_text=True)
        title, then = ERRORS[code]
        assert resp.status_code == code and resp.mimetype == "text/html", (code, body[:300])
        assert '<html lang="vi">' in body and title in body and then in body, (code, body)
        assert "<h1" in body and 'href="/"' in body, code  # one heading, the way back
        assert not any(word in body for word in ENGLISH), (code, body)
    assert seen[405].headers["Allow"] and "POST" in seen[405].headers["Allow"]
    for code in (401, 404, 405, 408, 429, 500, 503):
        resp = (
            clerk.get(f"/api/boom/{code}")
            if code not in (404, 405)
            else (clerk.get("/api/nothing-here") if code == 404 else clerk.put("/api/search"))
        )
        data = resp.get_json()
        assert resp.status_code == code and data["code"] == code, (code, resp.data[:200])
        assert data["error"] == ERRORS[code][0] and data["next"] == ERRORS[code][1]
    anonymous = app.test_client().get("/api/search?q=dan")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == ERRORS[401][0]


def local_today():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()


def test_the_audit_page_reads_in_words_and_filters_by_date(app, archive):
    from datetime import datetime, timedelta

    from kho.web.format import vn_datetime

    clerk, chief = login(app, "clerk"), login(app, "chief")
    assert clerk.get("/", query_string={"q": "kế hoạch"}).status_code == 200
    run_kho("audit", "--limit", "2", home=archive["home"], env=archive["env"])  # shown: a count
    every = chief.get("/audit")
    assert every.status_code == 200 and "xem nhật ký" in every.get_data(as_text=True)
    assert chief.get("/audit.csv").status_code == 200
    today = local_today()
    page = chief.get("/audit", query_string={"actor": "clerk", "action": "search",
                                             "from": today.strftime("%d/%m/%Y"),
                                             "to": today.isoformat()})  # fmt: skip
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "tìm kiếm" in body and "kế hoạch" in body
    assert "Từ khóa" in body and "trang web" in body  # labelled fields, words for codes
    assert "{'" not in body and "&#39;" not in body and '{"' not in body  # no repr, no JSON
    out = run_kho("audit", "--actor", "clerk", "--action", "search", "--json", "--limit", "1",
                  home=archive["home"], env=archive["env"]).stdout  # fmt: skip
    newest = json.loads(out)
    at = datetime.fromisoformat(newest["at"].replace("Z", ""))
    shown = re.sub(r"<[^>]*>", " ", body)  # what the screen says (links carry ?to=ISO)
    assert vn_datetime(at) in shown and at.strftime("%Y-%m-%d") not in shown
    assert f'value="{today.isoformat()}"' not in body  # the day field shows dd/mm/yyyy
    later = (today + timedelta(days=1)).strftime("%d/%m/%Y")
    empty = chief.get("/audit", query_string={"actor": "clerk", "from": later})
    assert empty.status_code == 200 and "Không có dòng nào" in empty.get_data(as_text=True)
    refused = (({"from": "31/02/2026"}, "dd/mm/yyyy"), ({"from": "hôm qua"}, "dd/mm/yyyy"),
               ({"from": "02/12/2026", "to": "01/12/2026"}, "phải trước"),
               ({"action": "<x>"}, "chọn một thao tác"), ({"before": "abc"}, "Trang"))  # fmt: skip
    for bad, says in refused:
        resp = chief.get("/audit", query_string=bad)
        assert resp.status_code == 400 and says in resp.get_data(as_text=True), bad
        assert chief.get("/audit.csv", query_string=bad).status_code == 400, bad


def test_the_audit_csv_has_the_filtered_rows_for_a_spreadsheet(app, archive):
    import csv
    import io

    clerk, chief = login(app, "clerk"), login(app, "chief")
    assert clerk.get("/", query_string={"q": "=1+2"}).status_code == 200
    assert clerk.get("/audit.csv").status_code == 403  # operators only
    resp = chief.get("/audit.csv", query_string={"actor": "clerk", "action": "search"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.data.startswith(b"\xef\xbb\xbf")  # Excel reads the diacritics
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[0] == ["Số", "Lúc", "Người dùng", "Thao tác", "Mã thao tác", "Chi tiết"]
    assert len(rows) > 1 and all(r[2] == "clerk" and r[3] == "tìm kiếm" for r in rows[1:])
    assert any("Từ khóa: =1+2" in r[5] for r in rows[1:])
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", r[1]) for r in rows[1:])
    out = run_kho("audit", "--actor", "chief", "--action", "export", "--json", "--limit", "1",
                  home=archive["home"], env=archive["env"]).stdout  # fmt: skip
    detail = json.loads(out)["detail"]
    assert detail["format"] == "csv" and detail["rows"] == len(rows) - 1
    assert detail["filters"]["actor"] == "clerk"


def test_a_cell_a_spreadsheet_would_run_is_neutralised():
    from kho.web.auditlog import safe_cell

    for hostile in ('=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(hostile) == "'" + hostile
    assert safe_cell("clerk") == "clerk" and safe_cell("01/12/2026 08:00") == "01/12/2026 08:00"


def test_the_audit_page_pages_newest_first(app):
    clerk, chief = login(app, "clerk"), login(app, "chief")
    for n in range(105):  # more than a page of the clerk's searches
        assert clerk.get("/api/search", query_string={"q": f"dân {n}"}).status_code == 200
    first = chief.get("/audit", query_string={"actor": "clerk", "action": "search"})
    body = first.get_data(as_text=True)
    ids = [int(x) for x in re.findall(r'data-label="Số">(\d+)<', body)]
    assert len(ids) == 100 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="([^"]+)">Cũ hơn', body).group(1).replace("&amp;", "&")
    assert f"before={ids[-1]}" in older and "actor=clerk" in older and "Mới nhất" not in body
    body = chief.get(older).get_data(as_text=True)
    more = [int(x) for x in re.findall(r'data-label="Số">(\d+)<', body)]
    assert more and max(more) < ids[-1] and "Mới nhất" in body


def test_the_status_page_speaks_vietnamese_in_local_time(app):
    body = login(app, "chief").get("/status").get_data(as_text=True)
    assert "web-batch" in body and "xong" in body and ("một máy" in body or "nhiều máy" in body)
    assert "UTC" not in body and not re.search(r"\d{4}-\d\d-\d\d", body)
    assert 'http-equiv="refresh"' not in body and "status.js" in body
