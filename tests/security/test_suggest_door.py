"""The search page's suggestion door (/api/suggest) and its facets, on both index backends:
another unit's words and a higher level's words are never suggested, an anonymous reader is
refused, every answer is audited with its (capped) prefix, and the batch facet never names
a batch of documents the reader may not see."""

from __future__ import annotations

import json
import uuid

import pytest

from kho.core.catalog import Catalog
from kho.core.settings import load_settings
from kho.synth.pages import write_born_digital_pdf
from kho.web.app import create_app
from kho.web.auth import hash_password

from ..conftest import es_env, form_login, run_kho

PASSWORDS = {"officer": "officer-pw-1", "outsider": "outsider-pw-1"}
CONFIG = """[web]
auth = "password"
[principals.officer]
clearance = 1
units = ["qk7"]
password = "{officer}"
[principals.outsider]
clearance = 3
units = ["qk9"]
password = "{outsider}"
"""
BATCHES = {  # batch: {file: (text, level, unit)}
    "kiem-ke-qk7": {
        "kiem-ke.pdf": ("Biên bản kiểm kê thao trường Bàu Bàng", 0, "qk7"),
        "thao-dien.pdf": ("Kế hoạch thao diễn ở Xẻo Rô", 0, "qk9"),
    },
    "tuyet-mat-ham-luong": {"dien-tap.pdf": ("Kế hoạch diễn tập Hàm Luông", 2, "qk7")},
}
HIDDEN_BATCH = "tuyet-mat-ham-luong"


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)]
)
def archive(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("suggestdoor")
    home = root / "home"
    home.mkdir()
    hashes = {k: hash_password(v) for k, v in PASSWORDS.items()}
    (home / "kho.toml").write_text(CONFIG.format(**hashes), encoding="utf-8")
    env = {}
    if request.param == "elasticsearch":
        env.update(es_env())
        env["KHO_INDEX_NAME"] = f"kho-suggest-{uuid.uuid4().hex[:10]}"
    for batch, files in BATCHES.items():
        scans = root / batch
        scans.mkdir()
        rows = ["file,level,unit"]
        for name, (text, level, unit) in files.items():
            write_born_digital_pdf(scans / name, [text])
            rows.append(f"{name},{level},{unit}")
        (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        run_kho("ingest", str(scans), "--batch", batch, "-q", home=home, env=env)
    settings = load_settings({"KHO_HOME": str(home), **env})
    app = create_app(settings)
    app.config["TESTING"] = True
    catalog = Catalog(settings.catalog_url)
    yield {"app": app, "home": home, "env": env, "catalog": catalog}
    catalog.close()
    if request.param == "elasticsearch":
        from ..conftest import es_client

        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(
            index=f"{env['KHO_INDEX_NAME']}*", ignore_unavailable=True
        )


def login(app, name: str):
    return form_login(app, name, PASSWORDS[name])


def suggested(client, prefix: str) -> list[str]:
    resp = client.get("/api/suggest", query_string={"q": prefix})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [s.lower() for s in resp.get_json()["suggestions"]]


def test_no_word_of_another_unit_or_a_higher_level(archive):
    officer, outsider = login(archive["app"], "officer"), login(archive["app"], "outsider")
    assert any("bàu bàng" in s for s in suggested(officer, "bàu b"))
    assert any("bàu bàng" in s for s in suggested(officer, "bau ba"))
    assert suggested(officer, "hàm l") == suggested(officer, "ham lu") == []  # level 2
    assert suggested(officer, "xẻo r") == []  # qk9's
    assert any("xẻo rô" in s for s in suggested(outsider, "xẻo r"))
    qk7 = ("bàu", "bàng", "biên bản", "kiểm kê", "thao trường", "hàm", "luông", "diễn tập")
    for prefix in ("bàu b", "bau ba", "Biên bản", "hàm l", "kiểm k", "thao t", "diễn t"):
        offered = suggested(outsider, prefix)  # qk7's words, asked by qk9
        assert not [s for s in offered if any(word in s for word in qk7)], (prefix, offered)


def test_anonymous_is_refused(archive):
    anonymous = archive["app"].test_client()
    resp = anonymous.get("/api/suggest", query_string={"q": "bàu b"})
    assert resp.status_code == 401 and "suggestions" not in resp.get_json()
    assert "bàu" not in resp.get_data(as_text=True).lower()
    page = anonymous.get("/", query_string={"q": "bàu"})
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    officer = login(archive["app"], "officer")
    assert suggested(officer, "bàu b")  # the door is there, for GET only
    assert officer.post("/api/suggest", data={"q": "bàu b"}).status_code == 400  # no token


def test_each_answer_is_audited_with_a_capped_prefix(archive):
    officer = login(archive["app"], "officer")
    long = "bàu " + "b" * 5000
    resp = officer.get("/api/suggest", query_string={"q": long})
    assert resp.status_code == 200 and len(resp.get_json()["q"]) <= 100
    assert suggested(officer, "b") == []  # one letter: nothing asked of the index
    out = run_kho(
        "audit", "--actor", "officer", "--action", "suggest", "--json", "--limit", "5",
        home=archive["home"], env=archive["env"],
    ).stdout  # fmt: skip
    rows = sorted((json.loads(line) for line in out.splitlines()), key=lambda r: -r["id"])
    assert rows and all(len(r["detail"]["query"]) <= 100 for r in rows)
    assert rows[0]["detail"]["query"] == long[:100] and rows[0]["detail"]["via"] == "web"
    assert all(r["detail"]["query"] != "b" for r in rows)


def test_batch_facet_names_visible_batches_only(archive):
    officer = login(archive["app"], "officer")
    page = officer.get("/", query_string={"q": "kế hoạch"}).get_data(as_text=True)
    assert "<h3>Lô quét</h3>" not in page  # the officer sees no plan: no batch facet
    page = officer.get("/", query_string={"q": "biên bản"}).get_data(as_text=True)
    assert "<h3>Lô quét</h3>" in page and "kiem-ke-qk7" in page and HIDDEN_BATCH not in page
    hidden = archive["catalog"].batch_id(HIDDEN_BATCH)
    page = officer.get("/", query_string={"q": "", "batch": str(hidden)})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and HIDDEN_BATCH not in body and "Hàm Luông" not in body
    assert f"Lô quét:</span> {hidden}" in body  # the chip says only the id it was given


def test_api_search_takes_an_offset(archive):
    officer = login(archive["app"], "officer")
    first = officer.get("/api/search", query_string={"q": "biên bản"}).get_json()
    assert first["total"] == 1 and len(first["hits"]) == 1 and first["offset"] == 0
    on = officer.get("/api/search", query_string={"q": "biên bản", "offset": "1"}).get_json()
    assert on["total"] == 1 and on["hits"] == [] and on["offset"] == 1
    deep = officer.get("/api/search", query_string={"q": "biên bản", "offset": "99999"})
    assert deep.status_code == 400 and "error" in deep.get_json()
