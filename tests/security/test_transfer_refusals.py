"""Transfer packages that must be refused whole: changed on the way, signed by the wrong
node, from an unknown or revoked peer, replayed, for another node, for units the sender
does not hold, or lowering what is held. Each refusal is one line, audited, and leaves the
receiver's catalog and search exactly as they were."""

from __future__ import annotations

import json
from datetime import datetime

import bagit
import pytest

from ..transfer_nodes import (  # noqa: F401 - fixtures
    QUERY,
    audited,
    chain_fixture,
    chain_template_fixture,
    counts,
    identity,
    kho,
    register,
    repack,
    search,
    set_peer,
)


def export(chain, name: str, *extra: str, src: str = "f9", to: str = "qk7"):
    pkg = chain["out"] / name
    kho(chain[src], "transfer", "export", "--to", to, "--out", str(pkg), *extra)
    return pkg


def refused(home, pkg, expect: str) -> str:
    before = counts(home)
    got = kho(home, "transfer", "import", str(pkg), check=8)
    line = got.stderr.strip()
    assert expect in line, line
    assert len(line.splitlines()) == 1, line
    assert counts(home) == before
    assert expect in audited(home, "transfer-refused")[0]["detail"]["reason"]
    return line


def record_of(folder):
    return next((folder / "data" / "records").iterdir())


def test_a_changed_payload_byte_is_refused(chain):
    pkg = export(chain, "p1.kho")

    def flip(folder):
        page = next(record_of(folder).glob("pagetext/*/page-00001.json"))
        data = bytearray(page.read_bytes())
        data[10] ^= 1
        page.write_bytes(bytes(data))

    bad = repack(pkg, chain["out"] / "bad.kho", flip)
    before = counts(chain["qk7"])
    checked = kho(chain["qk7"], "transfer", "verify", str(bad), check=8)  # verify says so too
    assert "bag does not hold" in checked.stderr and counts(chain["qk7"]) == before
    good = kho(chain["qk7"], "transfer", "verify", str(pkg))
    assert "signatures and checksums hold" in good.stdout
    assert counts(chain["qk7"]) == before  # verify stores nothing
    refused(chain["qk7"], bad, "bag does not hold")


@pytest.mark.parametrize("rebag", [False, True])
def test_a_changed_access_json_is_refused(chain, rebag):
    pkg = export(chain, "p1.kho")

    def lower(folder):
        path = record_of(folder) / "access.json"
        access = json.loads(path.read_bytes())
        for doc in access["documents"].values():
            doc["level"] = 0
        path.write_text(json.dumps(access))
        if rebag:  # the manifests made to agree again: only the signatures can tell
            bagit.Bag(str(folder)).save(manifests=True)

    bad = repack(pkg, chain["out"] / "bad.kho", lower)
    expect = "not the sender's signature" if rebag else "bag does not hold"
    refused(chain["qk7"], bad, expect)


def test_a_swapped_or_missing_signature_is_refused(chain):
    p1 = export(chain, "p1.kho")
    kho(chain["f9"], "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", "title=Khác")
    p2 = export(chain, "p2.kho")
    other = {}
    repack(
        p2,
        chain["out"] / "copy.kho",
        lambda f: other.update(sig=(f / "signature.txt").read_bytes()),
    )
    swapped = repack(p1, chain["out"] / "swapped.kho",
                     lambda f: (f / "signature.txt").write_bytes(other["sig"]))  # fmt: skip
    refused(chain["qk7"], swapped, "not the sender's signature")
    missing = repack(p1, chain["out"] / "missing.kho", lambda f: (f / "signature.txt").unlink())
    refused(chain["qk7"], missing, "no signature.txt")


def test_unknown_and_revoked_senders_are_refused(chain):
    pkg = export(chain, "p1.kho")
    qk7 = chain["qk7"]
    real = identity(chain["f9"]).fingerprint
    set_peer(qk7, "f9", fingerprint="0" * 64)
    refused(qk7, pkg, "no registered peer")
    set_peer(qk7, "f9", fingerprint=real, revoked_at=datetime.now())
    refused(qk7, pkg, "revoked on")


def test_a_replay_is_refused(chain):
    pkg = export(chain, "p1.kho")
    kho(chain["qk7"], "transfer", "import", str(pkg))
    line = refused(chain["qk7"], pkg, "package 1 from f9 was imported on")
    assert line.endswith("nothing imported")


def test_a_package_for_another_node_is_refused(chain):
    top = chain["top"]
    register(top, identity(chain["f9"]), ["qk7"])
    refused(top, export(chain, "p1.kho"), "the package is for another node, not top")
    refused(top, export(chain, "s1.kho", "--encrypt"), "sealed for another node")


def test_units_outside_the_senders_subtrees_are_refused(chain):
    set_peer(chain["qk7"], "f9", units=["qk7/f8"])
    refused(chain["qk7"], export(chain, "p1.kho"), "outside what f9 may send for (qk7/f8)")


def test_lowering_a_level_held_here_is_refused(chain):
    f9, qk7 = chain["f9"], chain["qk7"]
    kho(qk7, "transfer", "import", str(export(chain, "p1.kho")))
    doc = search(qk7, QUERY)[0][0]
    kho(qk7, "doc", "edit", doc, "--set", "level=2")  # qk7 raised it; f9 still says 1
    kho(f9, "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", "title=Sửa")
    p2 = export(chain, "p2.kho", "--since-last")
    refused(qk7, p2, f"lowers document {doc[:12]} from level 2 to 1")


@pytest.mark.parametrize(
    ("field", "expect"),
    [("level=2", "lowers dossier 01-TCCB from level 2 to 1"),
     ("unit=qk7/f9/d1", "widens dossier 01-TCCB from unit qk7/f9/d1 to qk7/f9")],
)  # fmt: skip
def test_lowering_or_widening_a_dossier_held_here_is_refused(chain, field, expect):
    f9, qk7 = chain["f9"], chain["qk7"]
    kho(qk7, "transfer", "import", str(export(chain, "p1.kho")))
    held = search(qk7, QUERY)
    kho(qk7, "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", field)
    assert search(qk7, QUERY) == held  # the documents keep their own access here
    kho(f9, "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", "title=Sửa")
    refused(qk7, export(chain, "p2.kho", "--since-last"), expect)
    shown = kho(qk7, "dossier", "show", "01-TCCB", "--fonds", "F09", "--json").stdout
    assert json.loads(shown)["fields"]["title"] != "Sửa"


def test_a_relay_that_changes_a_record_breaks_its_origin_signature(chain):
    qk7, top = chain["qk7"], chain["top"]
    kho(qk7, "transfer", "import", str(export(chain, "p1.kho")))
    kept = next((qk7 / "transfers" / "records").glob("*/v1"))
    access = json.loads((kept / "access.json").read_bytes())
    for doc in access["documents"].values():
        doc["level"] = 0
    (kept / "access.json").write_text(json.dumps(access))
    up = export(chain, "up1.kho", src="qk7", to="top")  # signed by qk7, a registered peer
    refused(top, up, "a signature does not hold")


def test_a_fonds_held_here_for_another_organ_is_refused(chain):
    qk7 = chain["qk7"]
    kho(qk7, "fonds", "create", "F09", "--set", "organ_id=000.00.00.X01")
    refused(qk7, export(chain, "p1.kho"), "fonds F09 is held here for organ 000.00.00.X01")


def test_a_package_over_the_limits_is_refused(chain):
    qk7 = chain["qk7"]
    config = qk7 / "kho.toml"
    config.write_text(config.read_text() + "\n[transfer]\nmax_files = 5\n")
    refused(qk7, export(chain, "p1.kho"), "more than 5 members, over [transfer] max_files")


@pytest.mark.parametrize("kind", ["dotdot", "symlink", "outside"])
def test_hostile_tar_members_are_refused(chain, kind):
    import io
    import tarfile

    pkg = export(chain, "p1.kho")
    bad = chain["out"] / f"{kind}.kho"
    with tarfile.open(pkg) as src, tarfile.open(bad, "w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        extra = tarfile.TarInfo(
            {
                "dotdot": "transfer/../../evil",
                "symlink": "transfer/data/link",
                "outside": "elsewhere/evil",
            }[kind]  # fmt: skip
        )
        if kind == "symlink":
            extra.type, extra.linkname = tarfile.SYMTYPE, "/etc/passwd"
            dst.addfile(extra)
        else:
            extra.size = 4
            dst.addfile(extra, io.BytesIO(b"evil"))
    expect = {"dotdot": "goes up with '..'", "symlink": "link",
              "outside": "not under transfer/"}[kind]  # fmt: skip
    refused(chain["qk7"], bad, expect)
    assert not (chain["qk7"].parent / "evil").exists()


def test_a_document_held_here_outside_the_record_is_not_taken_over(chain, tmp_path):
    """The same bytes ingested here first (its own, more secret document): a peer's record
    naming that document may neither move it into its dossier, nor set its access, nor
    later withdraw it."""
    import shutil

    from ..conftest import REPO

    qk7 = chain["qk7"]
    scans = tmp_path / "own"
    scans.mkdir()
    shutil.copy(REPO / "samples" / "nghi-quyet-chi-bo.png", scans)
    kho(qk7, "ingest", str(scans), "--unit", "qk7", "--level", "3", "--jobs", "1")
    own = search(qk7, QUERY)
    assert own and all(level == 3 and unit == "qk7" for _, _, level, unit in own)
    line = refused(qk7, export(chain, "p1.kho"), "is held here in another dossier")
    assert own[0][0][:12] in line
    assert search(qk7, QUERY) == own  # its access and place unchanged


def test_a_record_is_relayed_only_by_someone_who_sees_all_of_it(chain):
    """A middle node's operator who sees the dossier but not one of its documents (moved
    here to another unit) may not send the record on: as for a record made here."""
    qk7 = chain["qk7"]
    kho(qk7, "transfer", "import", str(export(chain, "p1.kho")))
    from sqlalchemy import update

    from kho.core.catalog import Catalog
    from kho.core.models import Document

    doc = search(qk7, QUERY)[0][0]
    catalog = Catalog(f"sqlite:///{qk7 / 'catalog.sqlite'}")  # no command moves a unit
    with catalog.session(write=True) as s:
        s.execute(update(Document).where(Document.id == doc).values(unit="qk7/f8"))
    catalog.close()
    config = qk7 / "kho.toml"
    config.write_text(config.read_text() + '\n[principals.f9-ops]\nclearance = 3\n'
                      'units = ["qk7/f9"]\noperator = true\n')  # fmt: skip
    out = chain["out"] / "up.kho"
    got = kho(qk7, "transfer", "export", "--to", "top", "--out", str(out), "--as", "f9-ops",
              check=3)  # fmt: skip
    assert "holds documents you may not see" in got.stderr and not out.exists()
    kho(qk7, "transfer", "export", "--to", "top", "--out", str(out))  # chief sees it all
