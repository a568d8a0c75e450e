"""Document hits, their page lists, totals, facets and the loose count never show what the
reader may not see: through the index on both backends, and through the CLI and /api/search."""

from __future__ import annotations

import json
import uuid

import pytest

from kho.core.errors import BadInputError
from kho.core.types import Principal
from kho.index.base import SearchQuery
from kho.synth.pages import write_born_digital_pdf

from ..conftest import es_client, es_env, run_kho
from .test_index_acl import page, web_search

CLERK = Principal("clerk", clearance=0, units=("qk7",))
FACETS = ("unit", "level", "category", "year")


def test_a_document_whose_matching_pages_are_hidden_is_not_counted(search_index):
    search_index.index_pages(
        [
            *[page("open", f"dân vận trang {n}", n, category="bc") for n in (1, 3)],
            page("open", "hậu cần", 2, category="bc"),
            *[page("secret", "dân vận", n, level=2, category="mat") for n in (1, 2, 3)],
            page("away", "dân vận", unit="qk9", category="mat"),
            page("secret-lost", "dan van", level=3, category="mat", doc_date="2019-01-01"),
            page("away-lost", "dan van", unit="qk9/f1", category="mat"),
        ]
    )
    for group in ("document", "page"):
        for marks in ("exact", "ignore"):
            query = SearchQuery("dân vận", group=group, marks=marks, facets=FACETS, limit=100)
            result = search_index.search(query, CLERK)
            assert {h.doc_id for h in result.hits} == {"open"}, (group, marks)
            assert all(h.pages in ((1, 3), (1,), (3,)) for h in result.hits)
            assert result.total == (1 if group == "document" else 2) and result.loose == 0
            for key, counts in result.facets.items():
                assert {v for v, _ in counts} <= {"qk7", "0", "bc"}, key
                assert all(n == result.total for _, n in counts), key
    (hit,) = search_index.search(SearchQuery("dân vận"), CLERK).hits
    assert hit.pages == (1, 3) and hit.page_count == 2
    chief = Principal("chief", clearance=3, units=("*",))
    assert search_index.search(SearchQuery("dân vận"), chief).loose == 2  # they are there
    # access is the document's: no page list can mix visible and hidden pages
    with pytest.raises(BadInputError, match="share its access"):
        search_index.index_pages(
            [page("mixed", "dân vận", 1), page("mixed", "dân vận", 2, level=3)]
        )
    assert search_index.search(SearchQuery("dân vận"), CLERK).total == 1


CONFIG = """
default_principal = "clerk"

[principals.clerk]
clearance = 0
units = ["qk7"]

[principals.chief]
clearance = 3
units = ["*"]
"""


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)])
def archive(request, tmp_path):
    """Born-digital records ingested by the real CLI: public ones of qk7 and TUYỆT MẬT ones."""
    env = {"KHO_CONFIG": str(tmp_path / "kho.toml")}
    if request.param == "elasticsearch":
        env.update(es_env())
        env["KHO_INDEX_NAME"] = f"kho-test-{uuid.uuid4().hex[:10]}"
    (tmp_path / "kho.toml").write_text(CONFIG, encoding="utf-8")
    home = tmp_path / "home"
    for batch, level, records in [
        ("pub", "0", {"cong-khai": ["Công tác dân vận", "Hậu cần", "Dân vận khéo"],
                      "mat-dau": ["cong tac dan van"]}),
        ("tm", "3", {"tuyet-mat": ["Dân vận mật"] * 3, "mat-dau-mat": ["dan van mat"]}),
    ]:  # fmt: skip
        scans = tmp_path / batch
        scans.mkdir()
        for name, texts in records.items():
            write_born_digital_pdf(scans / f"{name}.pdf", texts)
        run_kho("ingest", str(scans), "--batch", batch, "--level", level, "--unit", "qk7", "-q",
                home=home, env=env)  # fmt: skip
    yield {"home": home, "env": env}
    if request.param == "elasticsearch":
        es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


def test_doors_count_visible_documents_only(archive):
    def kho(*args: str):
        return run_kho(*args, home=archive["home"], env=archive["env"])

    printed = kho("search", "dân vận").stdout
    assert "cong-khai.pdf — trang 1, 3 (2 trang khớp)" in printed
    assert "tuyet-mat" not in printed
    assert "1 tài liệu nữa nếu bỏ qua dấu: kho search 'dân vận' --ignore-marks" in printed
    (hit,) = json.loads(kho("search", "dân vận", "--json").stdout)
    assert (hit["filename"], hit["pages"], hit["page_count"]) == ("cong-khai.pdf", [1, 3], 2)
    loosely = json.loads(kho("search", "dân vận", "--json", "--ignore-marks").stdout)
    assert sorted(h["filename"] for h in loosely) == ["cong-khai.pdf", "mat-dau.pdf"]
    assert "nếu bỏ qua dấu" not in kho("search", "dân vận", "--ignore-marks").stdout
    assert len(kho("search", "dân vận", "--pages").stdout.split("trang khớp")) == 1
    api = web_search(archive, "dân vận", "clerk")
    assert (api["total"], api["loose"]) == (1, 1)
    assert [(h["filename"], h["pages"]) for h in api["hits"]] == [("cong-khai.pdf", [1, 3])]
    chief = web_search(archive, "dân vận", "chief")
    assert (chief["total"], chief["loose"]) == (2, 2)
