"""The hierarchy facets never tell what hidden documents hold, on both index backends.

A fonds, dossier, type, issuer or year that only hidden pages carry is no facet value, by
any query or filter; a value both carry counts the visible pages only; filtering by a hidden
value finds nothing and counts nothing, on the index and through the web and CLI doors.
"""

from __future__ import annotations

import json
from collections import Counter

from kho.core.types import Access, PageDoc, can_see
from kho.index.base import SearchQuery

from .. import test_search_hierarchy as doors
from ..conftest import run_kho
from ..test_index_contract import PRINCIPALS

FIELDS = {
    "fonds": lambda p: p.fonds,
    "dossier": lambda p: p.dossier,
    "doc_type": lambda p: p.doc_type,
    "issuer": lambda p: p.issuer,
    "year": lambda p: p.year,
}
archive = doors.archive  # the doors' archive: one hidden document, fonds G77


def corpus() -> list[PageDoc]:
    """Each access gets a fonds, dossier, type, issuer and year of its own, and shares a
    common fonds and dossier with every other access."""
    pages, n = [], 0
    for level in range(4):
        for unit in ["qk7", "qk7/f9", "qk9"]:
            for groups in [(), ("ban_tc",)]:
                n += 1
                own = f"{level}{unit.replace('/', '')}{''.join(groups)}"
                for k, common in enumerate((False, True)):
                    pages.append(
                        PageDoc(f"s{n:02d}{k}", 1, f"hồ sơ lưu trữ {n}",
                                access=Access(level, unit, groups),
                                fonds="CHUNG" if common else f"F-{own}",
                                dossier="000.CHUNG" if common else f"000.{own}-HS",
                                doc_type=f"Loại {own}", issuer=f"Cơ quan {own}",
                                doc_date=f"{1900 + n}-06-01")
                    )  # fmt: skip
    return pages


def test_facets_hold_visible_values_only(search_index):
    pages = corpus()
    search_index.index_pages(pages)
    for who in PRINCIPALS:
        visible = [p for p in pages if can_see(who, p.access)]
        for text in ["", "hồ sơ", "ho so luu tru"]:
            query = SearchQuery(text, limit=0, facets=tuple(FIELDS))
            result = search_index.search(query, who)
            for key, value in FIELDS.items():
                assert dict(result.facets[key]) == Counter(map(value, visible)), (who, key)
        hidden = [p for p in pages if not can_see(who, p.access)]
        for key, value in FIELDS.items():
            only_hidden = {value(p) for p in hidden} - {value(p) for p in visible}
            assert only_hidden or not hidden, (who, key)
            for secret in sorted(only_hidden):
                query = SearchQuery("", filters={key: (secret,)}, facets=tuple(FIELDS))
                result = search_index.search(query, who)
                assert result.total == 0 and result.hits == (), (who, key, secret)
                assert all(counts == [] for counts in result.facets.values()), (who, secret)


def test_doors_show_no_hidden_hierarchy_value(archive):
    hidden = doors.HIDDEN_DOSSIER
    api = doors.web_client(archive).get("/api/search", query_string={"dossier": hidden})
    body = api.get_json()
    assert api.status_code == 200 and body["total"] == 0 and body["hits"] == []
    assert body["facets"] and all(counts == [] for counts in body["facets"].values())
    listing = doors.web_client(archive).get("/api/search", query_string={"q": "hồ sơ"})
    facets = json.dumps(listing.get_json()["facets"], ensure_ascii=False)
    assert "G77" not in facets and hidden not in facets and "Cục Bảo vệ" not in facets
    assert "2020" not in facets and listing.get_json()["total"] == 4
    home, env = archive["home"], archive["env"]
    for args in (["--dossier", hidden], ["--fonds", "G77"], []):
        out = run_kho("search", "hồ sơ", "--facets", *args, home=home, env=env).stdout
        assert "G77" not in out and hidden not in out and "Cục Bảo vệ" not in out, args
