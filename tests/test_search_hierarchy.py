"""Search by the archive hierarchy through the doors, on both index backends: `kho search`
--fonds/--dossier/--type/--issuer/--year and its --json, the web search page and /api/search.

The pages are written into the archive's own index (as `kho ingest` would, with the fonds
and dossier the catalog will give them), then searched by the real CLI and the web app.
"""

from __future__ import annotations

import json
import uuid

import pytest

from kho.core.settings import load_settings
from kho.core.types import Access, PageDoc
from kho.web.app import create_app
from kho.workers.context import open_index

from .conftest import es_client, es_env, run_kho

TCCB = "000.00.00.G09.2024.01-TCCB"
VP = "000.00.00.G09.2024.01"  # a prefix of TCCB: another dossier
HIDDEN_DOSSIER = "000.00.00.G77.2020.03-MAT"
PAGES = [  # doc_id, filename, fonds, dossier, doc_type, issuer, doc_date, level
    ("a1" * 6, "qd-khen-thuong.pdf", "G09", TCCB, "Quyết định", "Đảng ủy QK7", "2024-03-15", 0),
    ("b2" * 6, "bc-quy-i.pdf", "G09", VP, "Báo cáo", "Ban Tổ chức", "2024-04-02", 0),
    ("c3" * 6, "kh-2023.pdf", "G10", "000.00.00.G10.2023.07-VP", "Kế hoạch", "Ban Tổ chức",
     "2023-11-20", 1),
    ("d4" * 6, "chua-xep.pdf", "", "", "Công văn", "", "", 0),
    ("e5" * 6, "mat.pdf", "G77", HIDDEN_DOSSIER, "Báo cáo", "Cục Bảo vệ", "2020-05-05", 3),
]  # fmt: skip
CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 1
units = ["qk7"]
"""


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)]
)
def archive(request, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("hierarchy")
    (root / "kho.toml").write_text(CONFIG, encoding="utf-8")
    home = root / "home"
    env = {"KHO_CONFIG": str(root / "kho.toml")}
    if request.param == "elasticsearch":
        env.update(es_env())
        env["KHO_INDEX_NAME"] = f"kho-test-{uuid.uuid4().hex[:10]}"
    run_kho("search", "khởi tạo", home=home, env=env)  # makes the storage root and index
    index = open_index(load_settings({"KHO_HOME": str(home), **env}))
    index.index_pages(
        [
            PageDoc(doc_id, 1, f"hồ sơ lưu trữ {name}", filename=name, fonds=fonds,
                    dossier=dossier, doc_type=kind, issuer=issuer, doc_date=day,
                    access=Access(level, "qk7"))
            for doc_id, name, fonds, dossier, kind, issuer, day, level in PAGES
        ]
    )  # fmt: skip
    index.refresh()
    index.close()
    yield {"home": home, "env": env}
    if request.param == "elasticsearch":
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


def search(archive, *args: str, check: int = 0):
    return run_kho("search", "hồ sơ", *args, home=archive["home"], env=archive["env"], check=check)


def files(archive, *args: str) -> set[str]:
    return {h["filename"] for h in json.loads(search(archive, "--json", *args).stdout)}


def test_cli_filters_by_the_hierarchy(archive):
    assert files(archive, "--fonds", "G09") == {"qd-khen-thuong.pdf", "bc-quy-i.pdf"}
    assert files(archive, "--fonds", "G09", "--fonds", "G10") == {
        "qd-khen-thuong.pdf", "bc-quy-i.pdf", "kh-2023.pdf"
    }  # fmt: skip
    assert files(archive, "--dossier", TCCB) == {"qd-khen-thuong.pdf"}
    assert files(archive, "--dossier", VP) == {"bc-quy-i.pdf"}  # exact: not a prefix of TCCB
    assert files(archive, "--type", "Báo cáo") == {"bc-quy-i.pdf"}  # mat.pdf is hidden
    assert files(archive, "--issuer", "Ban Tổ chức") == {"bc-quy-i.pdf", "kh-2023.pdf"}
    assert files(archive, "--year", "2023") == {"kh-2023.pdf"}
    assert files(archive, "--year", "2024", "--issuer", "Ban Tổ chức") == {"bc-quy-i.pdf"}
    (hit,) = json.loads(search(archive, "--json", "--dossier", TCCB).stdout)
    assert (hit["fonds"], hit["dossier"], hit["year"]) == ("G09", TCCB, "2024")
    bad = search(archive, "--year", "24", check=2)
    assert "year filter must be a 4-digit year such as 2024, got '24'" in bad.stderr
    faceted = search(archive, "--facets").stdout
    assert "fonds: G09 (2), G10 (1)" in faceted
    assert "year: 2024 (2), 2023 (1)" in faceted
    assert f"{TCCB} (1)" in faceted and "G77" not in faceted


def web_client(archive):
    app = create_app(load_settings({"KHO_HOME": str(archive["home"]), **archive["env"]}))
    app.config["TESTING"] = True
    return app.test_client()  # loopback, no passwords: the default principal reads


def test_web_search_filters_and_shows_the_hierarchy_facets(archive):
    client = web_client(archive)
    resp = client.get("/api/search", query_string={"q": "hồ sơ", "fonds": "G09", "year": "2024"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert {h["filename"] for h in body["hits"]} == {"qd-khen-thuong.pdf", "bc-quy-i.pdf"}
    assert {h["dossier"] for h in body["hits"]} == {TCCB, VP}
    assert body["facets"]["dossier"] == [[VP, 1], [TCCB, 1]]
    assert body["facets"]["year"] == [["2024", 2]]
    only = client.get("/api/search", query_string={"dossier": VP, "issuer": "Ban Tổ chức"})
    assert [h["filename"] for h in only.get_json()["hits"]] == ["bc-quy-i.pdf"]
    bad = client.get("/api/search", query_string={"q": "hồ sơ", "year": "hai nghìn"})
    assert bad.status_code == 400 and "4-digit year" in bad.get_json()["error"]
    page = client.get("/", query_string={"q": "hồ sơ", "doc_type": "Kế hoạch"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "kh-2023.pdf" in html and "bc-quy-i.pdf" not in html
    everything = client.get("/", query_string={"q": "hồ sơ"}).get_data(as_text=True)
    for label in ("Phông", "Hồ sơ", "Loại văn bản", "Cơ quan ban hành", "Năm"):
        assert f"<h3>{label}</h3>" in everything, label
    assert "?q=h%E1%BB%93+s%C6%A1&amp;fonds=G10" in everything  # a facet value narrows
    assert "G77" not in everything and HIDDEN_DOSSIER not in everything
