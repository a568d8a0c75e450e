"""Attacks on a real `kho web serve` over HTTP, on both index backends, in the three auth
modes: forged proxy headers, token-less and cross-site forms, lockouts driven from elsewhere,
DNS rebinding, hidden documents on operators' pages, replayed and forged sessions, open
redirects, unaudited views, leaking error messages, a busy port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest

from kho.synth.pages import render_page, write_born_digital_pdf, write_png
from kho.web.auth import hash_password

from ..conftest import es_client, es_env, run_kho
from .webdoor import Server, free_port, kho_env

DOCS = {  # file: (text, level, unit)
    "public.pdf": ("Kế hoạch công tác dân vận năm 2024 của Sư đoàn 9.", 0, "qk7/f9"),
    "secret.png": ("MẬT\nCông tác bảo vệ nội bộ Quân khu 7.", 2, "qk7"),
}
BROKEN = "bao-cao-tuyet-mat-so-7.png"  # fails to read; level 2, so its name is a secret too
PASSWORDS = {"chief": "chief-pw-1", "clerk": "clerk-pw-1", "watch": "watch-pw-1"}
HIDDEN = "(tài liệu ẩn)"


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)]
)
def archive(request, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("webdoor")
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
    (scans / BROKEN).write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    rows.append(f"{BROKEN},2,qk7")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    home = root / "home"
    env = {}
    if request.param == "elasticsearch":
        env.update(es_env())  # the URL and how to log in
        env["KHO_INDEX_NAME"] = f"kho-webdoor-{uuid.uuid4().hex[:10]}"
    hashes = {name: hash_password(pw) for name, pw in PASSWORDS.items()}
    arch = {"root": root, "home": home, "env": env, "hashes": hashes}
    arch["base_env"] = write_config(arch, "base")
    run_kho("ingest", str(scans), "--batch", "door", "-q", home=home, env=arch["base_env"], check=1)
    out = run_kho("search", "công tác", "--json", "--as", "chief", home=home, env=arch["base_env"])
    arch["ids"] = {h["filename"]: h["doc_id"] for h in json.loads(out.stdout)}
    assert set(arch["ids"]) == set(DOCS)
    yield arch
    if request.param == "elasticsearch":
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


def write_config(archive: dict, name: str, web: str = "", top: str = "", hashes=None) -> dict:
    """A config of its own (KHO_CONFIG) over the same archive; returns the server's env."""
    hashes = {**archive["hashes"], **(hashes or {})}
    path = archive["root"] / f"kho-{name}.toml"
    path.write_text(
        f"""{top}
[principals.chief]
clearance = 2
units = ["qk7"]
operator = true
reviewer = true
password = "{hashes["chief"]}"

[principals.clerk]
clearance = 0
units = ["qk7/f9"]
reviewer = true
password = "{hashes["clerk"]}"

[principals.watch]
clearance = 0
units = ["qk7/f9"]
operator = true
password = "{hashes["watch"]}"

[web]
{web}
""",
        encoding="utf-8",
    )
    return {**archive["env"], "KHO_CONFIG": str(path)}


def serve(archive: dict, name: str, *args: str, web: str = "", top: str = "", **kw) -> Server:
    return Server(archive["home"], write_config(archive, name, web, top), *args, **kw)


def audit_rows(archive: dict, *args: str) -> list[dict]:
    out = run_kho("audit", "--json", "--limit", "1000", *args, home=archive["home"])
    return [json.loads(line) for line in out.stdout.splitlines()]


def catalog_of(archive):
    from kho.core.catalog import Catalog

    return Catalog(f"sqlite:///{archive['home'] / 'catalog.sqlite'}")


# 2: the proxy's header is believed only from the proxy ------------------------------------
def test_header_from_an_untrusted_peer_names_nobody(archive):
    secret = archive["ids"]["secret.png"]
    as_chief = {"X-Remote-User": "chief"}
    web = 'auth = "header"\ntrusted_proxies = ["192.0.2.7"]'
    with serve(archive, "hdr-other", web=web, host="0.0.0.0") as srv:
        reply = srv.get(f"/doc/{secret}", headers=as_chief)
        assert reply.status == 401 and "Công tác bảo vệ" not in reply.body
        assert srv.get("/api/search?q=dan+van", headers=as_chief).status == 401
    web = 'auth = "header"\ntrusted_proxies = ["127.0.0.0/8"]'
    with serve(archive, "hdr-trusted", web=web, host="0.0.0.0") as srv:
        forwarded = {**as_chief, "X-Forwarded-For": "198.51.100.23"}
        reply = srv.get(f"/doc/{secret}", headers=forwarded)
        assert reply.status == 200 and "Công tác bảo vệ" in reply.body
    row = audit_rows(archive, "--actor", "chief", "--action", "view")[0]
    assert row["detail"]["client"] == "198.51.100.23"  # who the trusted proxy served


def test_header_mode_past_loopback_needs_trusted_proxies(archive):
    env = kho_env(archive["home"], write_config(archive, "hdr-open", 'auth = "header"'))
    cmd = [sys.executable, "-m", "kho", "web", "serve", "--host", "0.0.0.0"]
    try:
        proc = subprocess.run(
            [*cmd, "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError("served a header-trusting door on every address") from err
    assert proc.returncode == 5 and "trusted_proxies" in proc.stderr


def test_header_mode_on_a_unix_socket_trusts_whoever_may_open_it(archive, tmp_path):
    import http.client
    import stat

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(path))

    path = tmp_path / "kho.sock"
    secret = archive["ids"]["secret.png"]
    env = kho_env(archive["home"], write_config(archive, "hdr-unix", 'auth = "header"'))
    cmd = [sys.executable, "-m", "kho", "web", "serve", "--unix-socket", str(path)]
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 5 and '"unix"' in refused.stderr  # not without saying so
    web = 'auth = "header"\ntrusted_proxies = ["unix"]'
    env = kho_env(archive["home"], write_config(archive, "hdr-unix-ok", web))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660  # the proxy's group, nobody else
        conn = UnixConnection("localhost")
        conn.request("GET", f"/doc/{secret}", headers={"X-Remote-User": "chief"})
        reply = conn.getresponse()
        assert reply.status == 200 and "Công tác bảo vệ" in reply.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# 5: forms need the session's token and this site's origin --------------------------------
def pending(archive, doc_id: str) -> None:
    catalog = catalog_of(archive)
    catalog.set_document(doc_id, review="pending", category="hanh_chinh", confidence=0.2)
    catalog.close()


def review_state(archive, doc_id: str) -> tuple[str, str]:
    catalog = catalog_of(archive)
    doc = catalog.get_document(doc_id)
    catalog.close()
    return doc.category, doc.review


def test_token_less_forms_change_nothing(archive):
    public = archive["ids"]["public.pdf"]
    pending(archive, public)
    relabel = {"decision": "relabel", "category": "dan_van"}
    none = {"web": 'auth = "none"', "top": 'default_principal = "clerk"'}
    with serve(archive, "none-clerk", **none) as srv:
        assert srv.post(f"/review/{public}", relabel).status == 400
        assert srv.post(f"/review/{public}", {**relabel, "csrf": ""}).status == 400
    assert review_state(archive, public) == ("hanh_chinh", "pending")
    with serve(archive, "pw-tokenless") as srv:
        for _ in range(6):  # no cookie, no token: not even counted as a failed login
            reply = srv.post("/login", {"name": "chief", "password": "wrong"})
            assert reply.status == 400
        reply = srv.post("/login", {"name": "chief", "password": PASSWORDS["chief"]})
        assert reply.status == 400
        assert srv.get("/api/search?q=dan", cookies=reply.cookies).status == 401  # no session
        reply = srv.browser().login("chief", PASSWORDS["chief"])
        assert reply.status == 302 and reply.headers["Location"] == "/"


def test_cross_site_forms_are_refused(archive):
    public = archive["ids"]["public.pdf"]
    pending(archive, public)
    with serve(archive, "pw-origin") as srv:
        clerk = srv.browser()
        assert clerk.login("clerk", PASSWORDS["clerk"]).status == 302
        token = clerk.get("/review").csrf()
        form = {"decision": "relabel", "category": "dan_van", "csrf": token}
        for hostile in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            assert clerk.post(f"/review/{public}", form, headers=hostile).status == 403, hostile
        assert review_state(archive, public) == ("hanh_chinh", "pending")
        own = {"Origin": f"http://127.0.0.1:{srv.port}", "Sec-Fetch-Site": "same-origin"}
        assert clerk.post(f"/review/{public}", form, headers=own).status == 302
    assert review_state(archive, public) == ("dan_van", "relabeled")


def test_failed_logins_elsewhere_lock_nobody_out(archive):
    with serve(archive, "pw-lockout") as srv:
        attacker = srv.browser(source="127.0.0.2")
        for _ in range(5):
            assert attacker.login("chief", "guess").status == 200
        assert attacker.login("chief", PASSWORDS["chief"]).status == 429  # that address is held
        reply = srv.browser(source="127.0.0.1").login("chief", PASSWORDS["chief"])
        assert reply.status == 302  # the real chief, elsewhere, is not locked out
        sprayer = srv.browser(source="127.0.0.3")
        for i in range(20):  # a different name each time: limited per address all the same
            assert sprayer.login(f"user{i}", "guess").status == 200
        assert sprayer.login("clerk", PASSWORDS["clerk"]).status == 429


# 6: no auth: this machine's names only, and no operator's or reviewer's rights -----------
def test_no_auth_answers_only_to_loopback_names(archive):
    with serve(archive, "none", web='auth = "none"') as srv:  # everyone: the default principal
        port = srv.port
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "[::2]"):
            reply = srv.get("/?q=dan+van", headers={"Host": host})
            assert reply.status == 400 and "dân vận" not in reply.body, host
        for host in ("localhost", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
            assert srv.get("/?q=dan+van", headers={"Host": host}).status == 200, host
        for path in ("/status", "/api/status", "/audit", "/review"):
            assert srv.get(path, headers={"Host": "localhost"}).status == 403, path


# 10: operators see only what they may see ------------------------------------------------
def test_operators_pages_hide_what_the_operator_may_not_see(archive):
    secret = archive["ids"]["secret.png"]
    with serve(archive, "pw-operators") as srv:
        chief, watch = srv.browser(), srv.browser()
        assert chief.login("chief", PASSWORDS["chief"]).status == 302
        assert chief.get("/?" + urlencode({"q": "bảo vệ nội bộ"})).status == 200  # the secret
        assert chief.get(f"/doc/{secret}").status == 200
        assert watch.login("watch", PASSWORDS["watch"]).status == 302  # an operator, level 0
        st = json.loads(watch.get("/api/status").body)
        failures = json.dumps(st["failures"], ensure_ascii=False)
        assert st["failures"] and BROKEN not in failures and HIDDEN in failures
        for body in (watch.get("/status").body, watch.get("/audit").body):
            assert BROKEN not in body and secret[:12] not in body
            assert "bảo vệ nội bộ" not in body and "b%E1%BA%A3o" not in body
        assert HIDDEN in watch.get("/audit?actor=chief").body
        # who may see them still does
        assert BROKEN in json.dumps(json.loads(chief.get("/api/status").body)["failures"])
        assert secret in chief.get("/audit?actor=chief").body


# 12: every view is audited, files once they were sent ------------------------------------
def test_every_view_is_audited_and_files_only_once_sent(archive):
    secret = archive["ids"]["secret.png"]
    with serve(archive, "pw-audit") as srv:
        chief = srv.browser()
        assert chief.login("chief", PASSWORDS["chief"]).status == 302
        for path in ("/review", "/status", "/api/status", "/audit"):
            assert chief.get(path).status == 200, path
        token = chief.get("/").csrf()
        assert chief.post("/logout", {"csrf": token}).status == 302
        actions = [r["action"] for r in audit_rows(archive, "--actor", "chief")[:6]]
        assert actions == ["logout", "audit", "status", "status", "review-list", "login"]
        chief = srv.browser()
        assert chief.login("chief", PASSWORDS["chief"]).status == 302
        image = catalog_storage_image(archive, secret)
        saved = image.with_suffix(".saved")
        image.rename(saved)
        image.mkdir()  # unreadable now: what is sent fails
        try:
            assert chief.get(f"/doc/{secret}/page/1.jpg").status in (404, 500)
        finally:
            image.rmdir()
            saved.rename(image)
        actions = [r["action"] for r in audit_rows(archive, "--actor", "chief")[:2]]
        assert actions == ["page-failed", "login"]
        reply = chief.get(f"/doc/{secret}/page/1.jpg")
        assert reply.status == 200 and reply.headers["Content-Type"] == "image/jpeg"
        assert audit_rows(archive, "--actor", "chief")[0]["action"] == "page"


def catalog_storage_image(archive, doc_id: str) -> Path:
    return archive["home"] / "docs" / doc_id / "page-00001.jpg"


# 14: sessions live in the catalog --------------------------------------------------------
def test_sessions_end_on_logout_and_on_a_new_password(archive):
    with serve(archive, "pw-sessions") as srv:
        chief = srv.browser()
        assert chief.login("chief", PASSWORDS["chief"]).status == 302
        kept = dict(chief.cookies)
        assert chief.get("/api/search?q=dan").status == 200
        assert chief.post("/logout", {"csrf": chief.get("/").csrf()}).status == 302
        replay = srv.get("/api/search?q=dan", cookies=kept)  # the cookie from before logout
        assert replay.status == 401
        clerk = srv.browser()
        assert clerk.login("clerk", PASSWORDS["clerk"]).status == 302
        kept = dict(clerk.cookies)
    new_hash = {"clerk": hash_password("clerk-pw-2")}
    env = write_config(archive, "pw-sessions-2", hashes=new_hash)
    with Server(archive["home"], env) as srv:
        assert srv.get("/api/search?q=dan", cookies=kept).status == 401


def test_a_known_secret_key_forges_no_session(archive):
    from flask import Flask

    key = "this-key-is-in-a-world-readable-config"
    forger = Flask("forger")
    forger.secret_key = key
    signer = forger.session_interface.get_signing_serializer(forger)
    value = {"user": "chief", "since": time.time(), "csrf": "x", "sid": "made-up"}
    cookie = {"kho_session": signer.dumps(value)}
    with serve(archive, "pw-known-key", web=f'secret_key = "{key}"') as srv:
        reply = srv.get(f"/doc/{archive['ids']['secret.png']}", cookies=cookie)
        assert reply.status == 302 and "/login" in reply.headers["Location"]
        assert srv.get("/api/search?q=bao+ve", cookies=cookie).status == 401


# 17: redirects, cookies, names in the log, error pages, a busy port ----------------------
def test_login_sends_only_back_into_the_site(archive):
    with serve(archive, "pw-next") as srv:
        for target in (
            "/\t/evil.example/",
            "/\n/evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "\\\\evil.example/",
            "https://evil.example/",
            "https:evil.example",
            "javascript:alert(1)",
        ):
            reply = srv.browser().login("clerk", PASSWORDS["clerk"], next_=target)
            assert reply.status == 302 and reply.headers["Location"] == "/", target
        reply = srv.browser().login("clerk", PASSWORDS["clerk"], next_="/?q=dan+van")
        assert reply.headers["Location"] == "/?q=dan+van"


def test_session_cookie_is_secure_past_loopback(archive):
    with serve(archive, "pw-public", host="0.0.0.0") as srv:
        cookie = srv.get("/login").headers["Set-Cookie"]
        assert cookie.startswith("kho_session=") and "Secure" in cookie
    with serve(archive, "pw-plain", host="0.0.0.0", web="secure_cookies = false") as srv:
        assert "Secure" not in srv.get("/login").headers["Set-Cookie"]


def test_a_password_typed_as_the_name_is_not_logged(archive):
    typed = "Mật-khẩu-của-tôi-42!"
    with serve(archive, "pw-names") as srv:
        assert srv.browser().login(typed, "anything").status == 200
    rows = audit_rows(archive, "--action", "login-failed")
    assert rows and typed not in json.dumps(rows, ensure_ascii=False)


def test_error_pages_show_no_paths_nor_service_messages(archive, tmp_path):
    dead = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**write_config(archive, "none-dead-es", 'auth = "none"'), "KHO_ELASTICSEARCH_URL": dead}
    with Server(archive["home"], env) as srv:
        reply = srv.get("/?q=dan+van", headers={"Host": "localhost"})
        assert reply.status == 503 and "thử lại sau" in reply.body
        assert dead.split("//")[1] not in reply.body and "Elasticsearch" not in reply.body
    broken = tmp_path / "catalog"
    (broken / "catalog.sqlite").mkdir(parents=True)  # a catalog that cannot be opened
    env = {
        **write_config(archive, "none-dead-db", 'auth = "none"'),
        "KHO_DATABASE_URL": f"sqlite:///{broken / 'catalog.sqlite'}",
    }
    with Server(archive["home"], env) as srv:
        reply = srv.get("/?q=dan+van", headers={"Host": "localhost"})
        assert reply.status == 503 and "thử lại sau" in reply.body
        assert str(tmp_path) not in reply.body and "sqlite" not in reply.body


def test_a_busy_port_is_one_line(archive):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "kho", "web", "serve", "--port", str(port)],
            env={**kho_env(archive["home"], archive["base_env"]), "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0] and "Traceback" not in proc.stderr


# 13: the audit log's CSV -----------------------------------------------------------------
def test_the_audit_csv_is_for_operators_and_hides_what_they_may_not_see(archive):
    import csv
    import io

    secret = archive["ids"]["secret.png"]
    hostile = '[principals."=HYPERLINK(1)"]\nclearance = 0\nunits = ["qk7/f9"]\n'
    hostile += f'password = "{archive["hashes"]["clerk"]}"\n'
    with serve(archive, "pw-audit-csv", top=hostile) as srv:
        anonymous, clerk, watch, chief = (srv.browser() for _ in range(4))
        assert anonymous.get("/audit.csv").status == 302  # to the login form
        assert clerk.login("clerk", PASSWORDS["clerk"]).status == 302
        assert clerk.get("/audit.csv").status == 403  # a reviewer, not an operator
        assert "Mã lỗi 403" in clerk.get("/audit.csv?actor=chief").body
        formula = srv.browser()
        assert formula.login("=HYPERLINK(1)", PASSWORDS["clerk"]).status == 302
        assert formula.get("/?q=dan").status == 200
        assert chief.login("chief", PASSWORDS["chief"]).status == 302
        assert chief.get("/?" + urlencode({"q": "bảo vệ nội bộ"})).status == 200
        assert chief.get(f"/doc/{secret}").status == 200
        assert watch.login("watch", PASSWORDS["watch"]).status == 302  # an operator, level 0
        mine = watch.get("/audit.csv")
        assert mine.status == 200 and mine.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(mine.body.lstrip("\ufeff"))))
        text = json.dumps(rows, ensure_ascii=False)
        assert secret[:12] not in text and "bảo vệ nội bộ" not in text and HIDDEN in text
        assert any(r[2] == "'=HYPERLINK(1)" for r in rows[1:])  # never a formula
        assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
        assert secret in chief.get("/audit.csv?actor=chief").body  # who may see it still does
    exports = audit_rows(archive, "--actor", "watch", "--action", "export")
    assert exports and exports[0]["detail"]["format"] == "csv"
    assert exports[0]["detail"]["client"] == "127.0.0.1"
