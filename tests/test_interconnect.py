"""One interconnected archive through the real CLI: a grassroots unit (e1) and its division
(f9) on embedded storage, the central archive on PostgreSQL and Elasticsearch; identities
made and exchanged with `kho node` / `kho peers`, dossiers carried up on media (sealed) and
over HTTP (`kho transfer push` to the central's `kho web serve`), relayed by the division,
searched at the centre by principals of different clearances and units, receipts sent back
down, and an update (a raised level) travelling up with --since-last."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from kho.synth.scratch import scratch_pg_database

from .conftest import REPO, es_client, es_env, need_service, run_kho, serve_web

pytestmark = [pytest.mark.services, pytest.mark.slow]
CONFIG = """
default_principal = "chief"

[principals.chief]
clearance = 3
units = ["*"]
operator = true

[principals.e1-officer]
clearance = 0
units = ["qk7/f9/e1"]

[principals.f9-officer]
clearance = 1
units = ["qk7/f9"]

[principals.f8-officer]
clearance = 3
units = ["qk7/f8"]
"""
ORGANS = {"e1": "000.00.00.E01", "f9": "000.00.00.F09", "hq": "000.00.00.G09"}
UNITS = {"e1": "qk7/f9/e1", "f9": "qk7/f9", "hq": "qk7"}


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    root = tmp_path_factory.mktemp("interconnect")
    env = {"hq": {**es_env(), "KHO_INDEX_NAME": f"kho-test-{uuid.uuid4().hex[:10]}"}}
    with scratch_pg_database(need_service("PostgreSQL", "KHO_DATABASE_URL")) as url:
        env["hq"]["KHO_DATABASE_URL"] = url
        homes = {}
        for name in ("e1", "f9", "hq"):
            homes[name] = root / name
            homes[name].mkdir(mode=0o700)
            (homes[name] / "kho.toml").write_text(CONFIG, encoding="utf-8")
        net = {"root": root, "homes": homes, "env": env}
        yield net
        client = es_client(env["hq"]["KHO_ELASTICSEARCH_URL"])
        client.indices.delete(index=f"{env['hq']['KHO_INDEX_NAME']}-v*")


def kho(net, node: str, *args: str, check: int | None = 0):
    return run_kho(*args, home=net["homes"][node], env=net["env"].get(node), check=check)


def hits(net, node: str, as_name: str, *args: str) -> list[dict]:
    got = kho(net, node, "search", "--json", "--as", as_name, *args)
    return json.loads(got.stdout)


def docs(found: list[dict]) -> set[str]:
    return {h["filename"] for h in found}


def serve(net, node: str):
    return serve_web(net["homes"][node], net["env"].get(node))


def ingest(net, node: str, fonds: str, folders: dict[str, tuple[list[str], int]]) -> None:
    kho(net, node, "fonds", "create", fonds, "--set", f"organ_id={ORGANS[node]}")
    for notation, (files, level) in folders.items():
        scans = net["root"] / f"scans-{node}-{notation}"
        (scans / notation).mkdir(parents=True)
        for name in files:
            shutil.copy(REPO / "samples" / name, scans / notation / name)
        kho(net, node, "ingest", str(scans), "--fonds", fonds, "--folder-dossiers",
            "--unit", UNITS[node], "--level", str(level), "--jobs", "1")  # fmt: skip


def test_records_travel_up_the_chain_and_are_searched_at_the_centre(net):
    root = net["root"]
    # identities, exchanged as files; each side registers the other
    for name in ("e1", "f9", "hq"):
        made = kho(net, name, "node", "init", "--organ-id", ORGANS[name], "--unit", UNITS[name],
                   "--name", name)  # fmt: skip
        assert name in made.stdout
        pub = kho(net, name, "node", "show", "--public").stdout
        (root / f"{name}.pub").write_text(pub, encoding="utf-8")
    kho(net, "e1", "peers", "add", str(root / "f9.pub"))
    kho(net, "f9", "peers", "add", str(root / "e1.pub"), "--units", "qk7/f9/e1")
    kho(net, "f9", "peers", "add", str(root / "hq.pub"))
    kho(net, "hq", "peers", "add", str(root / "f9.pub"), "--units", "qk7/f9")

    ingest(net, "e1", "E01", {"01-DV": (["bao-cao-dan-van.jpg"], 0),
                              "02-MAT": (["nghi-quyet-chi-bo.png"], 2)})  # fmt: skip
    ingest(net, "f9", "F09", {"01-KT": (["ket-luan-kiem-tra.png"], 1)})

    # e1 -> f9 on removable media, sealed for f9
    media = root / "media"
    media.mkdir()
    p1 = media / "e1-0001.kho"
    kho(net, "e1", "transfer", "export", "--to", "f9", "--encrypt", "--out", str(p1))
    got = kho(net, "f9", "transfer", "import", str(p1))
    assert "2 record(s)" in got.stdout
    kho(net, "e1", "transfer", "receipts", str(p1) + ".receipt.json")
    assert "delivered" in kho(net, "e1", "transfer", "list").stdout

    # f9 -> hq over HTTP: its own dossier and the two it relays from e1
    p2 = media / "f9-0001.kho"
    kho(net, "f9", "transfer", "export", "--to", "hq", "--out", str(p2))
    proc, base = serve(net, "hq")
    try:
        pushed = kho(net, "f9", "transfer", "push", base, str(p2))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (media / "f9-0001.kho.receipt.json").is_file(), pushed.stdout
    kho(net, "f9", "transfer", "receipts", str(p2) + ".receipt.json")

    # at the centre, each principal sees exactly what the access rule allows
    every = {"bao-cao-dan-van.jpg", "nghi-quyet-chi-bo.png", "ket-luan-kiem-tra.png"}
    assert docs(hits(net, "hq", "chief", "")) >= every
    assert docs(hits(net, "hq", "f9-officer", "")) == {"bao-cao-dan-van.jpg",
                                                      "ket-luan-kiem-tra.png"}  # fmt: skip
    assert docs(hits(net, "hq", "e1-officer", "")) == {"bao-cao-dan-van.jpg"}
    assert hits(net, "hq", "f8-officer", "") == []
    by_origin = hits(net, "hq", "chief", "", "--origin", "e1")
    assert docs(by_origin) == {"bao-cao-dan-van.jpg", "nghi-quyet-chi-bo.png"}
    assert {(h["origin_node"], h["origin_unit"]) for h in by_origin} == {("e1", "qk7/f9/e1")}
    assert docs(hits(net, "hq", "chief", "", "--origin-unit", "qk7/f9/e1")) == docs(by_origin)
    assert docs(hits(net, "hq", "chief", "", "--origin", "f9")) == {"ket-luan-kiem-tra.png"}
    dv = next(h for h in by_origin if h["filename"] == "bao-cao-dan-van.jpg")
    shown = kho(net, "hq", "doc", "show", dv["doc_id"]).stdout
    assert "e1" in shown and "f9" in shown  # the chain of nodes it passed
    for node, action in (("hq", "transfer-import"), ("f9", "transfer-export"),
                         ("e1", "transfer-receipt")):  # fmt: skip
        assert kho(net, node, "audit", "--action", action, "--json").stdout.strip()

    # an update at the grassroots: the dossier's document raised to level 1 travels up
    kho(net, "e1", "doc", "edit", dv["doc_id"], "--set", "level=1")
    p3, p4 = media / "e1-0002.kho", media / "f9-0002.kho"
    kho(net, "e1", "transfer", "export", "--to", "f9", "--since-last", "--out", str(p3))
    kho(net, "f9", "transfer", "import", str(p3))
    kho(net, "f9", "transfer", "export", "--to", "hq", "--since-last", "--out", str(p4))
    assert "1 record(s)" in kho(net, "hq", "transfer", "import", str(p4)).stdout
    assert hits(net, "hq", "e1-officer", "") == []  # clearance 0 no longer sees it
    assert docs(hits(net, "hq", "f9-officer", "")) == {"bao-cao-dan-van.jpg",
                                                      "ket-luan-kiem-tra.png"}  # fmt: skip
    # a replay of the first package at the centre changes nothing
    before = hits(net, "hq", "chief", "")
    replay = kho(net, "hq", "transfer", "import", str(p2), check=8)
    assert "imported on" in replay.stderr
    assert hits(net, "hq", "chief", "") == before
