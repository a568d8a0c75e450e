"""The JSON API (/api/v1) on a real `kho web serve`: tokens made, listed and revoked by the
real CLI; every route with a token and with a browser's session; pages of search hits; an
upload; the OpenAPI description against the routes Flask registers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from .apisite import bearer, build_site, login, make_token, serve, stop
from .conftest import REPO, run_kho

requests = pytest.importorskip("requests")
PNG = (REPO / "samples" / "nghi-quyet-chi-bo.png").read_bytes()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = serve(build_site(tmp_path_factory.mktemp("api")))
    site["officer"] = make_token(site, "officer", "--label", "báo cáo tuần")
    yield site
    stop(site)


def kho(site, *args, check=0):
    return run_kho(*args, home=site["home"], env=site["env"], check=check)


def get(site, path, token=None, http=None, **params):
    http = http or requests
    headers = bearer(token) if token else {}
    return http.get(site["base"] + path, headers=headers, params=params, timeout=60)


def audit_rows(site, action: str) -> list[dict]:
    import json

    out = kho(site, "audit", "--action", action, "--json", "--limit", "1000", "--as", "boss").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def tokens(site) -> list:
    """The catalog's token rows."""
    from kho.core.catalog import Catalog
    from kho.core.settings import load_settings

    catalog = Catalog(load_settings({"KHO_HOME": str(site["home"]), **site["env"]}).catalog_url)
    try:
        return catalog.tokens()
    finally:
        catalog.close()


def test_tokens_are_made_listed_and_revoked_by_operators(site):
    made = kho(site, "web", "token", "create", "--user", "plain", "--expires", "7", "--as", "boss")
    token = made.stdout.strip()
    assert re.fullmatch(r"kho_[A-Za-z0-9_-]{43}", token), made.stdout  # stdout: the token alone
    assert "not shown again" in made.stderr
    listed = kho(site, "web", "token", "list", "--as", "boss").stdout
    assert "plain" in listed and "báo cáo tuần" in listed and token not in listed
    token_id = re.search(r"token (\d+) for plain", made.stderr)[1]
    assert get(site, "/api/v1/search", token, q="dân vận").status_code == 200

    refused = kho(site, "web", "token", "create", "--user", "plain", "--as", "officer", check=2)
    assert "for operators" in refused.stderr
    unknown = kho(site, "web", "token", "create", "--user", "ghost", "--as", "boss", check=2)
    assert "no principal" in unknown.stderr and "kho_" not in unknown.stdout
    assert kho(site, "web", "token", "list", "--as", "plain", check=2).stdout.count("kho_") == 0

    kho(site, "web", "token", "revoke", token_id, "--as", "boss")
    assert get(site, "/api/v1/search", token, q="dân vận").status_code == 401
    again = kho(site, "web", "token", "revoke", token_id, "--as", "boss", check=2)
    assert "revoked already" in again.stderr
    revoked = {t.id: t for t in tokens(site)}[int(token_id)]
    assert revoked.revoked_at is not None and revoked.revoked_by == "boss"
    assert revoked.expires_at - revoked.created_at == timedelta(days=7)
    revokes = audit_rows(site, "token-revoke")
    assert [r["detail"]["token_id"] for r in revokes] == [int(token_id)]
    assert all(token not in str(r) for r in audit_rows(site, "token-create"))


@pytest.mark.parametrize("how", ["token", "session"])
def test_every_route_answers_for_a_token_and_for_a_session(site, how):
    token, http = (
        (site["officer"], None) if how == "token" else (None, login(site["base"], "officer"))
    )
    ids = site["ids"]
    found = get(site, "/api/v1/search", token, http, q="dân vận").json()
    assert {h["doc_id"] for h in found["hits"]} == {ids["qk7-plan.pdf"]}  # not qk9, not level 2
    assert found["total"] == 1 and found["offset"] == 0

    doc = get(site, f"/api/v1/documents/{ids['qk7-plan.pdf'][:12]}", token, http).json()
    assert doc["id"] == ids["qk7-plan.pdf"] and doc["unit"] == "qk7" and doc["level"] == 0
    assert doc["fields"]["page_amount"] == 1 and doc["pages"][0]["page"] == 1

    text = get(site, f"/api/v1/documents/{ids['report.pdf']}/pages/3/text", token, http).json()
    assert text["text"] == "Báo cáo huấn luyện, trang 3." and text["page"] == 3

    pdf = get(site, f"/api/v1/documents/{ids['qk7-plan.pdf']}/pdf", token, http)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["Content-Type"] == "application/pdf"

    spec = get(site, "/api/v1/openapi.json", token, http).json()
    assert spec["openapi"].startswith("3.1")
    assert get(site, "/api/v1/batches", token, http).json() == {"batches": []}  # boss's batch
    hidden = get(site, "/api/v1/documents/" + ids["qk7-secret.pdf"], token, http)
    assert hidden.status_code == 404 and hidden.json()["error"].startswith("Không tìm thấy")


def test_the_operators_token_sees_every_batch(site):
    boss = make_token(site, "boss")
    listed = get(site, "/api/v1/batches", boss).json()["batches"]
    assert [b["name"] for b in listed] == ["api-2024"] and listed[0]["docs_total"] == 4
    one = get(site, f"/api/v1/batches/{listed[0]['id']}", boss).json()
    assert one["name"] == "api-2024" and "line" in one
    assert get(site, f"/api/v1/batches/{listed[0]['id']}", site["officer"]).status_code == 404


def test_search_pages_by_offset_and_by_cursor(site):
    token = site["officer"]
    first = get(site, "/api/v1/search", token, q="huấn luyện", group="page").json()
    rest = get(site, "/api/v1/search", token, q="huấn luyện", group="page", offset=20).json()
    assert first["total"] == rest["total"] == 25
    assert len(first["hits"]) == 20 and len(rest["hits"]) == 5 and rest["offset"] == 20
    pages = [h["page"] for h in first["hits"] + rest["hits"]]
    assert sorted(pages) == list(range(1, 26))
    cursor = get(site, "/api/v1/search", token, q="huấn luyện", group="page",
                 after=first["next"]).json()  # fmt: skip
    assert [h["page"] for h in cursor["hits"]] == [h["page"] for h in rest["hits"]]
    for params in ({"offset": "-1"}, {"offset": "x"}, {"offset": "20", "after": first["next"]},
                   {"sort": "nonsense"}):  # fmt: skip
        bad = get(site, "/api/v1/search", token, q="huấn luyện", **params)
        assert bad.status_code == 400, params
        assert set(bad.json()) >= {"error", "hint", "code"} and "openapi" in bad.json()["hint"]


def test_an_upload_through_the_api_is_a_batch_of_its_uploader(site):
    token = site["officer"]
    files = [("files", ("a/nghi-quyet.png", PNG, "image/png")), ("files", ("../x.png", PNG))]
    form = {"name": "api-upload", "unit": "qk7", "level": "1"}
    resp = requests.post(site["base"] + "/api/v1/batches", headers=bearer(token), data=form,
                         files=files, timeout=120)  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["batch"]["name"] == "api-upload" and body["batch"]["operator"] == "officer"
    assert body["counts"]["new"] == 1 and body["counts"]["refused"] == 1
    assert any("tên tệp không hợp lệ" in line for line in body["refused"])
    assert resp.headers["Location"].endswith(f"/api/v1/batches/{body['batch']['id']}")
    mine = get(site, "/api/v1/batches", token).json()["batches"]
    assert [b["name"] for b in mine] == ["api-upload"]

    beyond = requests.post(site["base"] + "/api/v1/batches", headers=bearer(token),
                           data={**form, "name": "too-high", "level": "2"},
                           files=files[:1], timeout=60)  # fmt: skip
    assert beyond.status_code == 400 and "vượt quá quyền" in beyond.json()["problems"][0]
    big = requests.post(site["base"] + "/api/v1/batches", headers=bearer(token),
                        data={**form, "name": "too-big"},
                        files=[("files", ("big.png", b"\0" * (2 << 20)))], timeout=60)  # fmt: skip
    assert big.status_code == 413 and big.json()["error"] == "Dữ liệu gửi lên quá lớn."

    http = login(site["base"], "officer")  # a session posts with its form token, as the page
    data = {**form, "name": "api-session"}
    assert http.post(site["base"] + "/api/v1/batches", data=data, files=files[:1],
                     timeout=60).status_code == 400  # fmt: skip
    ok = http.post(site["base"] + "/api/v1/batches", data={**data, "csrf": http.csrf},
                   files=files[:1], timeout=120)  # fmt: skip
    assert ok.status_code == 201, ok.text
    names = {b["name"] for b in get(site, "/api/v1/batches", token).json()["batches"]}
    assert names == {"api-upload", "api-session"}


def test_token_requests_are_audited_with_the_token_id(site):
    token = make_token(site, "officer", "--label", "audit")
    token_id = max(r["detail"]["token_id"] for r in audit_rows(site, "token-create"))
    get(site, f"/api/v1/documents/{site['ids']['qk7-plan.pdf']}", token)
    views = [r for r in audit_rows(site, "view") if r["detail"].get("token_id") == token_id]
    assert len(views) == 1 and views[0]["actor"] == "officer"
    assert views[0]["detail"]["doc_id"] == site["ids"]["qk7-plan.pdf"]
    used = {t.id: t.last_used_at for t in tokens(site)}
    assert used[token_id] is not None  # its last use is noted (kho web token list shows it)


def test_every_failure_is_json_in_vietnamese(site):
    from kho.web.app import ERRORS

    token = site["officer"]
    for path, method, code in (("/api/v1/nothing", "GET", 404), ("/api/v1/search", "PUT", 405),
                               ("/api/v1/documents/zz", "GET", 404),
                               ("/api/v1/batches/99999999999999999999", "GET", 404)):  # fmt: skip
        resp = requests.request(method, site["base"] + path, headers=bearer(token), timeout=30)
        assert resp.status_code == code, path
        assert resp.json() == {"error": ERRORS[code][0], "hint": ERRORS[code][1], "code": code}
    anonymous = requests.get(site["base"] + "/api/v1/search", timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == ERRORS[401][0]
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_description_has_exactly_the_registered_routes(site):
    from kho.core.settings import load_settings
    from kho.web.app import create_app

    app = create_app(load_settings({"KHO_HOME": str(site["home"]), **site["env"]}))
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    spec = get(site, "/api/v1/openapi.json", site["officer"]).json()
    described = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert described == routes
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"
    }  # fmt: skip
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert {"400", "401", "403", "404"} <= set(op["responses"]), path
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), path
