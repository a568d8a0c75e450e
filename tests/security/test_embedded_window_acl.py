"""The embedded index's window and access tokens: an estimate counts no hidden page, and
the FTS5 access condition admits exactly the pages acl_sql does (it only narrows the scan)."""

from __future__ import annotations

import random
import sqlite3

from kho.index.base import group_pages
from kho.index.embedded import EmbeddedIndex, acl_sql
from kho.index.fts import acl_match

from ..test_embedded_window import ADMIN, READER, corpus, keys, paged, search
from ..test_index_contract import GROUPS, SCOPES, page, random_principal


def documents(pages: list) -> list[list]:
    return list(group_pages(pages).values())


def test_an_estimate_counts_no_hidden_page(tmp_path):
    visible = corpus(300)
    hidden = corpus(300, seed=9, prefix="h", level=3) + corpus(
        200, seed=11, prefix="o", level=0, unit="qk9", groups=()
    )  # above the reader's clearance; of another unit, shared with no one
    alone, mixed = tmp_path / "alone.sqlite", tmp_path / "mixed.sqlite"
    with EmbeddedIndex(alone) as index:
        index.index_pages(visible)
    with EmbeddedIndex(mixed) as index:  # the same pages, hidden documents in between
        shown, kept = documents(visible), documents(hidden)
        for i in range(0, len(shown), 3):
            index.index_pages([p for doc in shown[i : i + 3] for p in doc])
            index.index_pages([p for doc in kept[i : i + 5] for p in doc])
    a, b = EmbeddedIndex(alone, window=40), EmbeddedIndex(mixed, window=40)
    for group in ("document", "page"):
        ra, rb = search(a, READER, group=group), search(b, READER, group=group)
        assert ra.estimated and rb.estimated
        assert (ra.total, ra.facets, ra.loose) == (rb.total, rb.facets, rb.loose)
        everything = paged(b, READER, group)
        assert sorted(everything) == sorted(paged(a, READER, group))
        assert not any(doc_id[0] in "ho" for doc_id, _ in everything)
    assert not any(h.doc_id[0] in "ho" for h in search(b, READER, limit=100).hits)
    assert keys(search(b, READER, limit=3))  # something found
    a.close()
    b.close()
    # the hidden documents include some that match only with marks ignored: the equal
    # `loose` above is no accident of there being none to leak
    with EmbeddedIndex(alone) as a, EmbeddedIndex(mixed) as b:
        assert search(b, ADMIN).loose > search(a, ADMIN).loose


def test_the_access_tokens_admit_what_acl_sql_admits(tmp_path):
    rng = random.Random(5)
    units = ["qk7", "qk7/f9", "qk7/f9/e1", "qk7/f9-e1", "qk7/f9.e1", "qk70", "q%7", "q_7", ""]
    groups = [g for g in GROUPS if "|" not in g] + ["a b", "ban-tc", "OR", '"x"']
    pages = [
        page(f"a{i}", "x", level=rng.randint(0, 3), unit=rng.choice(units),
             groups=tuple(rng.sample(groups, rng.randint(0, 2))))
        for i in range(400)
    ]  # fmt: skip
    with EmbeddedIndex(tmp_path / "acl.sqlite") as index:
        index.index_pages(pages)
    db = sqlite3.connect(tmp_path / "acl.sqlite")
    for _ in range(300):
        who = random_principal(rng, SCOPES + units, GROUPS + groups)
        sql, params = acl_sql(who)
        want = {r[0] for r in db.execute(f"SELECT id FROM pages p WHERE {sql}", params)}
        match = acl_match(who)
        if not match:  # every unit: only the level decides
            assert want == {r[0] for r in db.execute("SELECT id FROM pages WHERE level <= ?",
                                                     [who.clearance])}, who  # fmt: skip
            continue
        tokens = {r[0] for r in db.execute(
            "SELECT p.id FROM pages_fts f JOIN pages p ON p.id = f.rowid"
            " WHERE pages_fts MATCH ? AND p.level <= ?", [match, who.clearance])}  # fmt: skip
        assert tokens == want, who
    db.close()
