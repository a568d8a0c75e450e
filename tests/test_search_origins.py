"""Search across the interconnected archive: the node and unit a record came from, as a
filter, a facet and on every hit and document page, through the real CLI and a real
`kho web serve`, on both index backends.

The bundled samples are ingested by folder as dossiers of fonds G09; three of the dossiers
are then marked as received from other units' nodes (`set_record_origin`, as the importer
writes it, inside a catalog session) and the archive is indexed again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from kho.core.catalog import Catalog
from kho.core.settings import load_settings

from .conftest import REPO, es_client, es_env, run_kho, serve_web

SAMPLES = REPO / "samples"
CONFIG = """
default_principal = "chief"

[principals.chief]
clearance = 3
units = ["*"]

[principals.clerk]
clearance = 1
units = ["qk7"]
"""
DOSSIERS = {  # folder (dossier notation) -> its samples
    "01-LOCAL": ["nghi-quyet-chi-bo.png"],
    "02-F9": ["bao-cao-dan-van.jpg", "ket-luan-kiem-tra.png"],
    "03-F8": ["quyet-dinh-chinh-sach.pdf"],
    "04-SECRET": ["thong-bao-tuyen-truyen.pdf"],  # level 3 by its manifest
}
ORIGINS = {  # dossier -> (origin node, its unit, the nodes the record passed)
    "02-F9": ("f9-e1", "qk7/f9/e1", ["f9-e1", "f9"]),
    "03-F8": ("f8", "qk7/f8", ["f8"]),
    "04-SECRET": ("f9-e2", "qk7/f9/e2", ["f9-e2", "f9"]),
}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hop(name: str, unit: str) -> dict:
    return {"node": {"name": name, "unit": unit}, "at": "2026-11-30T08:00:00Z", "signature": "x"}


def receive(home: Path, env: dict, notation: str, node: str, unit: str, chain: list[str]):
    """Mark dossier `notation` of G09 as received from `node` (as the importer does)."""
    settings = load_settings({"KHO_HOME": str(home), **env})
    catalog = Catalog(settings.catalog_url)
    try:
        dossier = catalog.dossier(notation, "G09")
        with catalog.session(write=True) as s:
            catalog.set_record_origin(
                s, dossier.id, f"{'ab' * 8}-{dossier.id}", node, "ab" * 32, unit,
                [hop(n, unit) for n in chain], 1, "cd" * 64, None,
            )  # fmt: skip
    finally:
        catalog.close()


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("origins")
    (root / "kho.toml").write_text(CONFIG, encoding="utf-8")
    env = {"KHO_CONFIG": str(root / "kho.toml")}
    home = root / "home"
    docs: dict[str, str] = {}
    for notation, names in DOSSIERS.items():
        folder = root / "scans" / notation
        folder.mkdir(parents=True)
        for name in names:
            shutil.copy(SAMPLES / name, folder / name)
            docs[name] = sha(folder / name)
    manifest = "file,level,unit,groups\nthong-bao-tuyen-truyen.pdf,3,qk7,\n"
    (root / "scans" / "04-SECRET" / "kho-manifest.csv").write_text(manifest, encoding="utf-8")
    run_kho("fonds", "create", "G09", "--set", "name=Phông Cục Chính trị", home=home, env=env)
    run_kho("ingest", str(root / "scans"), "--fonds", "G09", "--folder-dossiers",
            "--unit", "qk7", "-q", "-j", "2", home=home, env=env)  # fmt: skip
    for notation, (node, unit, chain) in ORIGINS.items():
        receive(home, env, notation, node, unit, chain)
    run_kho("reindex", home=home, env=env)  # the importer indexes what it filed
    return {"root": root, "home": home, "env": env, "docs": docs}


@pytest.fixture(
    scope="module", params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.services)]
)
def archive(request, ingested) -> dict:
    if request.param == "embedded":
        yield ingested
        return
    env = {**ingested["env"], **es_env(), "KHO_INDEX_NAME": f"kho-test-{uuid.uuid4().hex[:10]}"}
    run_kho("reindex", home=ingested["home"], env=env)
    yield {**ingested, "env": env}
    es_client(env["KHO_ELASTICSEARCH_URL"]).indices.delete(index=f"{env['KHO_INDEX_NAME']}-v*")


def kho(a: dict, *args: str, check: int = 0, as_name: str | None = None):
    extra = ("--as", as_name) if as_name else ()
    return run_kho(*args, *extra, home=a["home"], env=a["env"], check=check)


def found(a: dict, *args: str, as_name: str | None = None) -> set[str]:
    """The file names of the documents `kho search --json` finds with `args`."""
    hits = json.loads(kho(a, "search", "--json", "--limit", "100", *args, as_name=as_name).stdout)
    return {h["filename"] for h in hits}


def files_of(*notations: str) -> set[str]:
    return {name for n in notations for name in DOSSIERS[n]}


def test_search_filters_by_origin_node_and_unit_subtree(archive):
    everything = files_of(*DOSSIERS)
    assert found(archive) == everything
    assert found(archive, "--origin", "f9-e1") == files_of("02-F9")
    assert found(archive, "--origin", "f9-e1", "--origin", "f8") == files_of("02-F9", "03-F8")
    assert found(archive, "--origin", "f9") == set()  # a node name matches exactly
    assert found(archive, "--origin-unit", "qk7/f9") == files_of("02-F9", "04-SECRET")
    assert found(archive, "--origin-unit", "QK7/F9/E1/") == files_of("02-F9")
    assert found(archive, "--origin-unit", "qk7") == files_of("02-F9", "03-F8", "04-SECRET")
    assert found(archive, "--origin-unit", "qk7/f") == set()  # a path, not a text prefix
    assert found(archive, "--origin-unit", "qk7/f9", "--origin", "f9-e2") == files_of("04-SECRET")
    bad = kho(archive, "search", "--origin-unit", "qk7//f9", check=2)
    assert "origin_unit filter" in bad.stderr and "qk7/f9/e1" in bad.stderr
    hits = json.loads(kho(archive, "search", "--json", "--origin", "f8").stdout)
    assert {(h["origin_node"], h["origin_unit"]) for h in hits} == {("f8", "qk7/f8")}
    local = json.loads(kho(archive, "search", "--json", "--dossier", "01-LOCAL").stdout)
    assert local and {(h["origin_node"], h["origin_unit"]) for h in local} == {("", "")}


def facet(stdout: str, key: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"{key}: "))


def page_counts(a: dict, notations) -> dict[str, int]:
    """Pages per document, from the documents' own search hits (all visible to chief)."""
    hits = json.loads(kho(a, "search", "--json", "--limit", "100").stdout)
    names = files_of(*notations)
    return {h["filename"]: sum(1 for x in hits if x["doc_id"] == h["doc_id"]) for h in hits
            if h["filename"] in names}  # fmt: skip


def test_origin_facets_count_visible_pages_only(archive):
    pages = page_counts(archive, DOSSIERS)
    f9 = sum(pages[n] for n in files_of("02-F9"))
    f8, secret = pages["quyet-dinh-chinh-sach.pdf"], pages["thong-bao-tuyen-truyen.pdf"]
    chief = kho(archive, "search", "--facets").stdout
    node_counts = {f"f9-e1 ({f9})", f"f8 ({f8})", f"f9-e2 ({secret})"}
    assert set(facet(chief, "origin_node").removeprefix("origin_node: ").split(", ")) == (
        node_counts
    )
    assert f"qk7/f9/e2 ({secret})" in facet(chief, "origin_unit")
    clerk = kho(archive, "search", "--facets", as_name="clerk").stdout
    assert "f9-e2" not in facet(clerk, "origin_node") and "f9-e1" in facet(clerk, "origin_node")
    assert "qk7/f9/e2" not in facet(clerk, "origin_unit")
    # the received secret document is neither found nor counted for a reader without clearance
    assert found(archive, "--origin", "f9-e2", as_name="clerk") == set()
    assert found(archive, "--origin-unit", "qk7/f9", as_name="clerk") == files_of("02-F9")
    assert found(archive, "--origin", "f9-e2", as_name="chief") == files_of("04-SECRET")


def test_hit_lines_say_where_a_received_record_came_from(archive):
    lines = kho(archive, "search", "--limit", "100").stdout.splitlines()
    for name in files_of("02-F9"):
        (line,) = [x for x in lines if name in x]
        assert line.endswith("từ f9-e1 (qk7/f9/e1)"), line
    (local,) = [x for x in lines if "nghi-quyet-chi-bo.png" in x]
    assert " từ " not in local


def test_doc_show_names_the_origin_chain_and_receipt(archive):
    doc = archive["docs"]["bao-cao-dan-van.jpg"]
    shown = kho(archive, "doc", "show", doc[:12]).stdout
    assert "origin: f9-e1 (qk7/f9/e1)" in shown
    assert "chain: f9-e1 → f9" in shown
    assert "received: 20" in shown
    body = json.loads(kho(archive, "doc", "show", doc[:12], "--json").stdout)
    assert body["origin"]["node"] == "f9-e1" and body["origin"]["chain"] == ["f9-e1", "f9"]
    assert body["origin"]["local"] is False and body["origin"]["received_at"]
    local = kho(archive, "doc", "show", archive["docs"]["nghi-quyet-chi-bo.png"][:12]).stdout
    assert "origin: this archive" in local and "chain:" not in local


def serve(a: dict, config: str):
    """A real `kho web serve` on a free loopback port, as the config's default principal."""
    (a["root"] / "web.toml").write_text(config, encoding="utf-8")
    return serve_web(a["home"], {**a["env"], "KHO_CONFIG": str(a["root"] / "web.toml")})


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def test_web_search_and_document_page_show_the_origin(archive):
    proc, base = serve(archive, CONFIG.replace('"chief"', '"clerk"', 1))
    try:
        api = json.loads(
            get(f"{base}/api/search?" + urllib.parse.urlencode({"origin_unit": "qk7/f9"}))
        )
        assert {h["filename"] for h in api["hits"]} == files_of("02-F9")
        assert {(h["origin_node"], h["origin_unit"]) for h in api["hits"]} == {
            ("f9-e1", "qk7/f9/e1")
        }
        everything = json.loads(get(f"{base}/api/search?q=&origin_unit=qk7"))
        assert [v for v, _ in everything["facets"]["origin_node"]] in (
            ["f9-e1", "f8"], ["f8", "f9-e1"],
        )  # fmt: skip
        assert "f9-e2" not in json.dumps(everything)  # hidden from the clerk: not counted
        page = get(f"{base}/?" + urllib.parse.urlencode({"origin_unit": "qk7"}))
        assert "<h3>Kho nguồn</h3>" in page and "<h3>Đơn vị nguồn</h3>" in page
        assert "?origin_unit=qk7&amp;origin_node=f8" in page  # a facet value narrows
        assert '<span class="origin">từ f9-e1 (qk7/f9/e1)</span>' in page
        narrowed = get(f"{base}/?origin_node=f8")
        docs = archive["docs"]
        assert docs["quyet-dinh-chinh-sach.pdf"] in narrowed
        assert docs["bao-cao-dan-van.jpg"] not in narrowed
        doc = get(f"{base}/doc/{archive['docs']['ket-luan-kiem-tra.png']}")
        assert '<td class="origin">f9-e1 (qk7/f9/e1)</td>' in doc
        assert '<td class="chain">f9-e1 → f9</td>' in doc
        local = get(f"{base}/doc/{archive['docs']['nghi-quyet-chi-bo.png']}")
        assert '<td class="origin">Kho lưu trữ này' in local  # (its name once it has one)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def copy_home(ingested: dict, tmp_path: Path) -> dict:
    home = tmp_path / "home"
    shutil.copytree(ingested["home"], home, symlinks=True)
    return {**ingested, "home": home}


V2_COLUMNS = (  # the embedded index's pages before origins (schema version 2)
    "doc_id, page, category, doc_type, issuer, unit, level, groups, batch, lang, doc_date,"
    " ingested_at, filename, title, title_folded, confidence, text, folded, fonds, dossier"
)


def test_an_embedded_index_made_before_origins_is_upgraded_in_place(ingested, tmp_path):
    from kho.index.embedded import _SCHEMA, _UPGRADES, SCHEMA_VERSION

    a = copy_home(ingested, tmp_path)
    path = a["home"] / "index.sqlite"
    db = sqlite3.connect(path)
    rows = db.execute(f"SELECT {V2_COLUMNS} FROM pages").fetchall()
    db.close()
    for leftover in a["home"].glob("index.sqlite*"):
        leftover.unlink()
    db = sqlite3.connect(path, isolation_level=None)
    for statement in (*_SCHEMA, *_UPGRADES[1]):  # version 2, as kho made it before origins
        db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    marks = ", ".join("?" * len(V2_COLUMNS.split(",")))
    db.executemany(f"INSERT INTO pages ({V2_COLUMNS}) VALUES ({marks})", rows)
    db.close()
    assert found(a) == files_of(*DOSSIERS)  # opened and upgraded: every page still there
    assert found(a, "--origin", "f9-e1") == found(a, "--origin-unit", "qk7") == set()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT COUNT(*) FROM pages").fetchone()[0] == len(rows)
    db.close()
    kho(a, "reindex")
    assert found(a, "--origin", "f9-e1") == files_of("02-F9")
    assert found(a, "--origin-unit", "qk7") == files_of("02-F9", "03-F8", "04-SECRET")


def test_a_local_record_takes_this_nodes_identity(ingested, tmp_path):
    from kho.exchange.identity import init_node

    a = copy_home(ingested, tmp_path)
    assert found(a, "--origin", "qk7-hq") == set()
    init_node(a["home"], "qk7-hq", "000.00.00.G09", "qk7")
    kho(a, "reindex")
    assert found(a, "--origin", "qk7-hq") == files_of("01-LOCAL")
    assert found(a, "--origin-unit", "qk7") == files_of(*DOSSIERS)
    assert found(a, "--origin-unit", "qk7/f9") == files_of("02-F9", "04-SECRET")
    (hit,) = json.loads(kho(a, "search", "--json", "--dossier", "01-LOCAL").stdout)
    assert (hit["origin_node"], hit["origin_unit"]) == ("qk7-hq", "qk7")
    lines = kho(a, "search", "--limit", "100").stdout.splitlines()
    (local,) = [x for x in lines if "nghi-quyet-chi-bo.png" in x]
    assert " từ " not in local  # this node's own record names no origin
    shown = kho(a, "doc", "show", a["docs"]["nghi-quyet-chi-bo.png"][:12]).stdout
    assert "origin: this archive (qk7-hq, qk7)" in shown


def test_origins_of_many_documents_and_a_new_version_received(ingested, tmp_path):
    a = copy_home(ingested, tmp_path)
    docs = a["docs"]
    catalog = Catalog(load_settings({"KHO_HOME": str(a["home"]), **a["env"]}).catalog_url)
    try:
        origins = catalog.origins_of([*docs.values(), docs["bao-cao-dan-van.jpg"]])
        assert set(origins) == {docs[n] for n in files_of("02-F9", "03-F8", "04-SECRET")}
        assert {(o.node, o.unit) for o in origins.values()} == {
            (node, unit) for node, unit, _ in ORIGINS.values()
        }
        first = origins[docs["quyet-dinh-chinh-sach.pdf"]]
        assert first.hops == ["f8"] and first.received_at is not None
        assert catalog.origin_of(catalog.document(docs["nghi-quyet-chi-bo.png"])) is None
    finally:
        catalog.close()
    receive(a["home"], a["env"], "03-F8", "f8", "qk7/f8", ["f8", "f9", "qk7"])  # version 2
    catalog = Catalog(load_settings({"KHO_HOME": str(a["home"]), **a["env"]}).catalog_url)
    try:
        again = catalog.origin_of(catalog.document(docs["quyet-dinh-chinh-sach.pdf"]))
        assert again.record == first.record and again.hops == ["f8", "f9", "qk7"]
        assert again.received_at >= first.received_at
        assert len(catalog.origins_of(docs.values())) == len(origins)  # updated, not added
    finally:
        catalog.close()
