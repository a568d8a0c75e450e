"""The JSON API's tokens as a door: no token, a wrong, expired or revoked one, a token of
another unit or clearance, a token on the pages (ignored), a principal gone from the
config, an upload without the right; and the token never kept or written in clear."""

from __future__ import annotations

import io
import os
import sqlite3
from dataclasses import replace

import pytest

from kho.core.catalog import Catalog
from kho.core.settings import load_settings
from kho.web.app import ERRORS

from ..apisite import bearer, build_site, login, make_token, serve, stop
from ..conftest import REPO

requests = pytest.importorskip("requests")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = serve(build_site(tmp_path_factory.mktemp("apitokens")))
    site["settings"] = load_settings({"KHO_HOME": str(site["home"]), **site["env"]})
    site["catalog"] = Catalog(site["settings"].catalog_url)
    yield site
    site["catalog"].close()
    stop(site)


def get(site, path: str, headers: dict | None = None, **kw):
    return requests.get(site["base"] + path, headers=headers or {}, timeout=60, **kw)


def refused(resp) -> bool:
    """A 401 of the API: JSON in Vietnamese, with the Bearer challenge."""
    body = resp.json()
    return (
        resp.status_code == 401
        and resp.headers["WWW-Authenticate"].startswith("Bearer")
        and set(body) == {"error", "hint", "code"}
        and body["error"].startswith(("Mã truy cập API", ERRORS[401][0]))
    )


def test_no_wrong_expired_or_revoked_token_is_refused(site):
    assert refused(get(site, "/api/v1/search", params={"q": "dân vận"}))
    good = make_token(site, "officer")
    wrong = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for header in (f"Bearer {wrong}", "Bearer", "Bearer kho_short", f"Basic {good}", good):
        assert refused(get(site, "/api/v1/search", {"Authorization": header})), header
    assert get(site, "/api/v1/search", bearer(good)).status_code == 200

    expired = make_token(site, "officer", "--expires", "1")
    assert get(site, "/api/v1/batches", bearer(expired)).status_code == 200
    expired_id = site["catalog"].tokens()[-1].id
    with site["catalog"].engine.begin() as conn:  # a day and a minute later
        conn.exec_driver_sql(
            "UPDATE api_tokens SET expires_at = created_at WHERE id = ?", (expired_id,)
        )
    resp = get(site, "/api/v1/batches", bearer(expired))
    assert refused(resp) and resp.json()["error"] == "Mã truy cập API đã hết hạn."

    revoked = make_token(site, "officer")
    revoked_id = site["catalog"].tokens()[-1].id
    site["catalog"].revoke_token(revoked_id, "boss", {"via": "cli"})
    resp = get(site, f"/api/v1/documents/{site['ids']['qk7-plan.pdf']}", bearer(revoked))
    assert refused(resp) and resp.json()["error"] == "Mã truy cập API đã bị thu hồi."
    rows = site["catalog"].audit_log(50, "", "token-refused", None)
    assert {(r.detail["token_id"], r.detail["reason"]) for r in rows} >= {
        (expired_id, "expired"),
        (revoked_id, "revoked"),
        (None, "unknown"),
    }


def test_a_session_cookie_does_not_rescue_a_bad_token(site):
    http = login(site["base"], "officer")
    assert http.get(site["base"] + "/api/v1/batches", timeout=30).status_code == 200
    resp = http.get(site["base"] + "/api/v1/batches", headers=bearer("kho_" + "A" * 43))
    assert refused(resp)


def test_a_token_of_another_unit_or_a_lower_clearance_sees_nothing_more(site):
    ids, outsider = site["ids"], make_token(site, "outsider")
    for doc in ("qk7-plan.pdf", "qk7-secret.pdf", "report.pdf"):
        for tail in ("", "/pdf", "/pages/1/text"):
            resp = get(site, f"/api/v1/documents/{ids[doc]}{tail}", bearer(outsider))
            assert resp.status_code == 404 and resp.json()["error"] == ERRORS[404][0], doc + tail
            made_up = get(site, f"/api/v1/documents/{'ab' * 32}{tail}", bearer(outsider))
            assert (made_up.status_code, made_up.content) == (404, resp.content)  # the same
    found = get(site, "/api/v1/search", bearer(outsider), params={"q": "dân vận"}).json()
    assert [h["doc_id"] for h in found["hits"]] == [ids["qk9-plan.pdf"]]
    assert get(site, f"/api/v1/documents/{ids['qk9-plan.pdf']}", bearer(outsider)).ok

    officer, boss = make_token(site, "officer"), make_token(site, "boss")
    secret = f"/api/v1/documents/{ids['qk7-secret.pdf']}"
    assert get(site, secret, bearer(officer)).status_code == 404  # clearance 1 < level 2
    assert get(site, secret, bearer(boss)).json()["level"] == 2
    batch = get(site, "/api/v1/batches", bearer(boss)).json()["batches"][0]["id"]
    assert get(site, f"/api/v1/batches/{batch}", bearer(outsider)).status_code == 404
    denied = site["catalog"].audit_log(100, "outsider", "denied", None)
    assert any(r.detail.get("doc_id") == ids["qk7-plan.pdf"] for r in denied)


def test_a_token_on_the_pages_is_ignored(site):
    token, doc = make_token(site, "boss"), site["ids"]["qk7-plan.pdf"]
    for path in ("/", f"/doc/{doc}", f"/doc/{doc}/pdf", "/batches", "/status", "/audit"):
        resp = get(site, path, bearer(token), allow_redirects=False)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], path
    assert get(site, "/api/search", bearer(token), params={"q": "dân"}).status_code == 401
    form = {"name": "x", "unit": "qk7", "level": "0"}
    resp = requests.post(site["base"] + "/upload", headers=bearer(token), data=form,
                         files={"files": ("a.png", b"x")}, allow_redirects=False)  # fmt: skip
    assert resp.status_code == 400  # no form token: a page's POST is checked as ever
    assert site["catalog"].batch_id("x") is None


def test_a_principal_gone_from_the_config_has_no_token(site):
    from kho.web.app import create_app

    token = make_token(site, "plain")
    s = site["settings"]
    gone = replace(s, principals={k: v for k, v in s.principals.items() if k != "plain"})
    client = create_app(gone).test_client()
    resp = client.get("/api/v1/batches", headers=bearer(token))
    assert resp.status_code == 401 and "không còn trong cấu hình" in resp.get_json()["error"]
    assert (
        create_app(s).test_client().get("/api/v1/batches", headers=bearer(token)).status_code == 200
    )


def test_an_upload_needs_an_uploader_token(site):
    plain = make_token(site, "plain")
    png = (REPO / "samples" / "nghi-quyet-chi-bo.png").read_bytes()
    form = {"name": "plain-upload", "unit": "qk7", "level": "0"}
    resp = requests.post(site["base"] + "/api/v1/batches", headers=bearer(plain), data=form,
                         files={"files": ("a.png", io.BytesIO(png))}, timeout=60)  # fmt: skip
    assert resp.status_code == 403 and resp.json()["error"] == ERRORS[403][0]
    assert site["catalog"].batch_id("plain-upload") is None
    denied = site["catalog"].audit_log(20, "plain", "denied", None)
    assert (
        denied and denied[0].detail["reason"] == "may not upload" and "token_id" in denied[0].detail
    )


def test_the_token_is_kept_only_as_its_hash(site):
    from kho.core.tokens import token_digest

    token = make_token(site, "officer", "--label", "kept")
    path = site["settings"].catalog_url.removeprefix("sqlite:///")
    raw = b""
    for name in (path, path + "-wal"):  # the database and what it has not checkpointed yet
        if os.path.exists(name):
            with open(name, "rb") as f:
                raw += f.read()
    assert token.encode() not in raw and token[4:].encode() not in raw
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = "\n".join(str(row) for t in tables for row in db.execute(f'SELECT * FROM "{t}"'))
        hashes = [r[0] for r in db.execute("SELECT token_hash FROM api_tokens")]
    assert token not in dump and token[4:] not in dump
    assert token_digest(token) in hashes


def test_no_token_reaches_the_logs(site):
    from kho.core.secrets import redact_text

    token = make_token(site, "officer")
    server = serve(site)  # its own server, to read all it printed
    base = server["base"]
    for path in ("/api/v1/search?q=dân", "/api/v1/documents/zz", "/api/v1/nothing",
                 f"/api/v1/documents/{site['ids']['qk9-plan.pdf']}/pdf"):  # fmt: skip
        requests.get(base + path, headers=bearer(token), timeout=60)
        requests.get(base + path, headers=bearer(token[:-1] + "x"), timeout=60)
    output = stop(server)
    log = (site["home"] / "logs" / "kho.log").read_text(encoding="utf-8", errors="replace")
    audit = "\n".join(str(r.detail) for r in site["catalog"].audit_log(500, "", "", None))
    for text in (output, log, audit):
        assert token[4:] not in text and token[4:-1] not in text
    assert token not in redact_text(f"a line quoting Authorization: Bearer {token} by mistake")
