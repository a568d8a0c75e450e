"""kho transfer export|import|receipts|list between unit archives, through the real CLI on
real ingested pages: f9 sends its dossier up to qk7, which relays it to top."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from .transfer_nodes import (  # noqa: F401 - fixtures
    QUERY,
    audited,
    chain_fixture,
    chain_template_fixture,
    counts,
    doc_ids,
    grow,
    identity,
    kho,
    search,
    transfer_statuses,
)


def send(chain, src: str, dst: str, name: str, *extra: str):
    """Export from `src` to `dst`, then import at `dst`; returns the package path."""
    pkg = chain["out"] / name
    kho(chain[src], "transfer", "export", "--to", dst, "--out", str(pkg), *extra)
    return pkg


def test_export_import_search_keeps_access_and_the_receipt_comes_back(chain):
    f9, qk7 = chain["f9"], chain["qk7"]
    here = search(f9, QUERY)
    assert here and all(level == 1 and unit == "qk7/f9" for _, _, level, unit in here)
    assert search(qk7, QUERY) == []
    pkg = chain["out"] / "p1.kho"
    done = kho(f9, "transfer", "export", "--to", "qk7", "--encrypt", "--out", str(pkg))
    assert "package 1 for qk7: 1 record(s), 2 document(s)" in done.stdout
    assert not pkg.read_bytes().startswith(b"transfer/")  # sealed: no tar header in the clear
    exported = audited(f9, "transfer-export")[0]["detail"]
    assert (exported["peer"], exported["seq"], exported["documents"]) == ("qk7", 1, 2)

    got = kho(qk7, "transfer", "import", str(pkg))
    assert "package 1 from f9: 1 record(s), 2 document(s) imported" in got.stdout
    # the receiver finds the same pages, at the same level and unit, without OCR
    assert search(qk7, QUERY) == here
    assert search(qk7, QUERY, "clerk") == []  # level 1: clerk's clearance 0 does not see it
    shown = json.loads(kho(qk7, "dossier", "show", "01-TCCB", "--fonds", "F09", "--json").stdout)
    assert shown["fields"]["unit"] == "qk7/f9"
    doc = here[0][0]
    text = kho(qk7, "show", doc, "--text").stdout
    assert "đảng" in text.lower()
    assert audited(qk7, "transfer-import")[0]["detail"]["seq"] == 1

    receipt = pkg.with_name(pkg.name + ".receipt.json")
    assert json.loads(receipt.read_bytes())["receipt"]["receiver"] == identity(qk7).fingerprint
    listed = kho(f9, "transfer", "list").stdout
    assert "sent" in listed and "delivered" not in listed
    done = kho(f9, "transfer", "receipts", str(receipt))
    assert "package 1 to qk7: 1 record(s) delivered" in done.stdout
    assert "delivered" in kho(f9, "transfer", "list").stdout
    assert audited(f9, "transfer-receipt")

    # a receipt changed after signing is refused in one line; the transfer stays delivered
    body = json.loads(receipt.read_bytes())
    body["receipt"]["seq"] = 2
    forged = chain["out"] / "forged.json"
    forged.write_text(json.dumps(body))
    bad = kho(f9, "transfer", "receipts", str(forged), check=8)
    assert "signature is not qk7's" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "signature is not qk7's" in audited(f9, "transfer-refused")[0]["detail"]["reason"]
    assert kho(f9, "transfer", "list").stdout.count("delivered") == 1


def test_since_last_sends_edits_and_raised_levels_only(chain):
    f9, qk7 = chain["f9"], chain["qk7"]
    p1 = send(chain, "f9", "qk7", "p1.kho")
    kho(qk7, "transfer", "import", str(p1))
    nothing = kho(f9, "transfer", "export", "--to", "qk7", "--since-last",
                  "--out", str(chain["out"] / "p2.kho"), check=2)  # fmt: skip
    assert "nothing to send to qk7" in nothing.stderr
    assert not (chain["out"] / "p2.kho").exists()

    kho(f9, "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", "title=Hồ sơ tổ chức 2024")
    doc = search(f9, QUERY)[0][0]
    kho(f9, "doc", "edit", doc, "--set", "level=2")
    p2 = send(chain, "f9", "qk7", "p2.kho", "--since-last")
    got = kho(qk7, "transfer", "import", str(p2))
    assert "package 2 from f9: 1 record(s)" in got.stdout
    shown = json.loads(kho(qk7, "dossier", "show", "01-TCCB", "--fonds", "F09", "--json").stdout)
    assert shown["fields"]["title"] == "Hồ sơ tổ chức 2024"
    levels = {d: lv for d, _, lv, _ in search(qk7, QUERY)}
    assert levels[doc] == 2
    record = json.loads(p2.with_name("p2.kho.receipt.json").read_bytes())["receipt"]["records"]
    assert [r["version"] for r in record] == [2]


def test_gap_is_held_then_completed_in_order(chain):
    f9, qk7 = chain["f9"], chain["qk7"]
    p1 = send(chain, "f9", "qk7", "p1.kho")
    kho(f9, "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", "title=Phiên bản hai")
    p2 = send(chain, "f9", "qk7", "p2.kho", "--since-last")
    before = counts(qk7)
    held = kho(qk7, "transfer", "import", str(p2), check=9)
    assert "package 2 from f9 is held: package 1 has not arrived" in held.stderr
    assert {**counts(qk7), "transfers": 0} == {**before, "transfers": 0}
    assert "held" in kho(qk7, "transfer", "list").stdout
    assert audited(qk7, "transfer-held")[0]["detail"]["seq"] == 2
    assert list((qk7 / "transfers" / "held").glob("*-2.pkg"))
    done = kho(qk7, "transfer", "import", str(p1))
    assert "package 1 from f9" in done.stdout and "package 2 from f9" in done.stdout
    shown = json.loads(kho(qk7, "dossier", "show", "01-TCCB", "--fonds", "F09", "--json").stdout)
    assert shown["fields"]["title"] == "Phiên bản hai"
    assert kho(qk7, "transfer", "list").stdout.count("imported") == 2


def test_relay_keeps_the_origin_signature_to_the_top(chain):
    from kho.exchange.identity import unb64
    from kho.exchange.records import record_digest

    f9, qk7, top = chain["f9"], chain["qk7"], chain["top"]
    here = search(f9, QUERY)
    kho(qk7, "transfer", "import", str(send(chain, "f9", "qk7", "p1.kho")))
    kho(top, "transfer", "import", str(send(chain, "qk7", "top", "up1.kho")))
    assert search(top, QUERY) == here
    kept = list((top / "transfers" / "records").glob("*/v1"))
    assert len(kept) == 1
    folder = kept[0]
    origin, middle = identity(f9), identity(qk7)
    assert folder.parent.name.startswith(origin.fingerprint[:16] + "-")
    # the origin's own signature still holds over the very bytes f9 made
    sig = unb64((folder / "origin.sig").read_text().strip(), "origin.sig", 64)
    origin.verify("record", record_digest(folder).encode(), sig)
    chain_json = json.loads((folder / "chain.json").read_bytes())
    assert [h["node"]["name"] for h in chain_json] == ["qk7"]
    assert chain_json[0]["node"]["sign_key"] == middle.sign_key
    f9_kept = qk7 / "transfers" / "records" / folder.parent.name / "v1"
    for path in f9_kept.rglob("*"):
        if path.is_file() and path.name != "chain.json":
            assert (folder / path.relative_to(f9_kept)).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("point", ["staging", "kept"])
def test_kill_mid_import_leaves_nothing_and_a_rerun_completes(chain, point):
    f9, qk7 = chain["f9"], chain["qk7"]
    here = search(f9, QUERY)
    pkg = send(chain, "f9", "qk7", "p1.kho")
    before = counts(qk7)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env["KHO_HOME"] = str(qk7)
    proc = subprocess.Popen([sys.executable, "-m", "kho", "transfer", "import", str(pkg)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    watch = {"staging": qk7 / "transfers" / "staging", "kept": qk7 / "transfers" / "records"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if watch[point].is_dir() and any(watch[point].iterdir()):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the import ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert counts(qk7)["hits"] == [] and counts(qk7)["documents"] == before["documents"]
    done = kho(qk7, "transfer", "import", str(pkg))
    assert "package 1 from f9: 1 record(s), 2 document(s) imported" in done.stdout
    assert search(qk7, QUERY) == here
    assert not list((qk7 / "originals").rglob("*.transfer-staged"))
    assert not any((qk7 / "transfers" / "staging").iterdir())


def test_a_dossier_withdrawn_at_its_origin_travels_up_as_a_tombstone(chain):
    import tarfile

    f9, qk7, top = chain["f9"], chain["qk7"], chain["top"]
    here = search(f9, QUERY)
    kho(qk7, "transfer", "import", str(send(chain, "f9", "qk7", "p1.kho")))
    kho(top, "transfer", "import", str(send(chain, "qk7", "top", "up1.kho")))
    assert search(top, QUERY) == here
    ref = ("01-TCCB", "--fonds", "F09")
    # clerk (clearance 0) may not edit the level-1 dossier: nor withdraw it
    denied = kho(f9, "dossier", "withdraw", *ref, "--reason", "x", "--as", "clerk", check=3)
    assert "no dossier" in denied.stderr.lower() and search(f9, QUERY) == here
    done = kho(f9, "dossier", "withdraw", *ref, "--reason", "Lập trùng hồ sơ 01-TCCB")
    assert "2 document(s) out of search" in done.stderr
    assert search(f9, QUERY) == []  # at once; rows and files stay
    assert counts(f9)["statuses"] == ["withdrawn", "withdrawn"]
    assert all(p.exists() for p in (f9 / "originals").rglob("*") if p.is_file())
    shown = json.loads(kho(f9, "dossier", "show", *ref, "--json").stdout)
    assert shown["withdrawn"]["by"] == "chief"
    assert shown["withdrawn"]["reason"] == "Lập trùng hồ sơ 01-TCCB"
    assert "withdrawn:" in kho(f9, "dossier", "show", *ref).stdout
    assert audited(f9, "archive-withdraw")[0]["detail"]["reason"] == "Lập trùng hồ sơ 01-TCCB"
    edit = kho(f9, "dossier", "edit", *ref, "--set", "title=Khác", check=2)
    assert "was withdrawn on" in edit.stderr and "cannot be changed" in edit.stderr
    kho(f9, "reindex")
    assert search(f9, QUERY) == []
    named = kho(f9, "transfer", "export", "--to", "qk7", "--dossier", "01-TCCB",
                "--out", str(chain["out"] / "named.kho"), check=2)  # fmt: skip
    assert "is not sent again" in named.stderr

    p2 = send(chain, "f9", "qk7", "p2.kho", "--since-last")
    with tarfile.open(p2) as tar:  # its withdrawal, never its content
        names = tar.getnames()
    assert not [n for n in names if "/pagetext/" in n or "/images/" in n or "/package/" in n]
    kho(qk7, "transfer", "import", str(p2))
    assert search(qk7, QUERY) == []  # out of the index; the rows stay for the record
    assert counts(qk7)["statuses"] == ["withdrawn", "withdrawn"]
    kho(qk7, "reindex")
    assert search(qk7, QUERY) == []
    up2 = send(chain, "qk7", "top", "up2.kho", "--since-last")
    done = kho(top, "transfer", "import", str(up2))
    assert "package 2 from qk7: 1 record(s), 0 document(s)" in done.stdout
    assert search(top, QUERY) == []
    # nothing more to say about it, at either node
    for home, to in ((f9, "qk7"), (qk7, "top")):
        kho(home, "transfer", "export", "--to", to, "--since-last",
            "--out", str(chain["out"] / f"{to}-3.kho"), check=2)  # fmt: skip


def test_export_takes_named_dossiers_for_live_peers_from_operators_only(chain):
    from datetime import datetime

    from .transfer_nodes import set_peer

    f9, out = chain["f9"], chain["out"]

    def export(*args, check=0):
        return kho(f9, "transfer", "export", "--out", str(out / "p.kho"), *args, check=check)

    assert "1 record(s), 2 document(s)" in export("--to", "qk7", "--dossier", "01-TCCB").stdout
    (out / "p.kho").unlink()
    assert "no dossier" in export("--to", "qk7", "--dossier", "99-NONE", check=3).stderr.lower()
    assert "no peer 'nowhere'" in export("--to", "nowhere", check=3).stderr
    clerk = export("--to", "qk7", "--as", "clerk", check=2)
    assert "clerk is not an operator" in clerk.stderr
    set_peer(f9, "qk7", revoked_at=datetime.now())
    assert "peer qk7 was revoked" in export("--to", "qk7", check=8).stderr
    assert not (out / "p.kho").exists()
    assert kho(f9, "transfer", "list").stdout.count("sent") == 1


def start_import(home, pkg) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHO_")}
    env["KHO_HOME"] = str(home)
    return subprocess.Popen([sys.executable, "-m", "kho", "transfer", "import", str(pkg)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_a_kill_after_the_catalog_commit_is_completed_by_the_same_package_only(chain, tmp_path):
    f9, qk7 = chain["f9"], chain["qk7"]
    grow(f9, 500)  # the files' renames and the pages' indexing take a while after the commit
    twin = tmp_path / "f9-twin"  # the same node, another history: its own package 1
    shutil.copytree(f9, twin)
    pkg = send(chain, "f9", "qk7", "p1.kho")
    here = search(f9, QUERY)
    kho(twin, "dossier", "edit", "01-TCCB", "--fonds", "F09", "--set", "title=Khác")
    other = chain["out"] / "other1.kho"
    kho(twin, "transfer", "export", "--to", "qk7", "--out", str(other))
    proc = start_import(qk7, pkg)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if transfer_statuses(qk7) == ["staged"]:  # every row committed, nothing finished
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the import ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert transfer_statuses(qk7) == ["staged"]
    assert search(qk7, QUERY) == []
    got = kho(qk7, "transfer", "import", str(other), check=8)
    line = got.stderr.strip()
    assert "package 1 from f9 is not the package 1 whose import was cut short" in line
    assert len(line.splitlines()) == 1
    assert search(qk7, QUERY) == [] and transfer_statuses(qk7) == ["staged"]
    done = kho(qk7, "transfer", "import", str(pkg))
    assert "package 1 from f9: 1 record(s), 2 document(s) imported" in done.stdout
    assert search(qk7, QUERY) == here
    shown = json.loads(kho(qk7, "dossier", "show", "01-TCCB", "--fonds", "F09", "--json").stdout)
    assert shown["fields"]["title"] != "Khác"
    assert (
        "not the package 1 imported before"
        in kho(qk7, "transfer", "import", str(other), check=8).stderr
    )


def leave_dossier(home, doc_id: str) -> None:
    """Take a document out of its dossier at the origin (kho has no command for it): the
    dossier's next version no longer holds it."""
    from sqlalchemy import update

    from kho.core.catalog import Catalog
    from kho.core.models import Document

    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        with catalog.session(write=True) as s:
            s.execute(update(Document).where(Document.id == doc_id)
                      .values(dossier_id=None, doc_ordinal=None))  # fmt: skip
    finally:
        catalog.close()


def stored_files(home, doc_id: str) -> list:
    """The document's files in storage (the kept record folders under transfers/ aside)."""
    return [p for p in home.rglob("*") if p.is_file() and doc_id in p.as_posix()
            and p.relative_to(home).parts[0] != "transfers"]  # fmt: skip


def test_a_document_a_new_version_drops_leaves_with_its_files(chain):
    f9, qk7 = chain["f9"], chain["qk7"]
    kho(qk7, "transfer", "import", str(send(chain, "f9", "qk7", "p1.kho")))
    dropped, kept = doc_ids(qk7)
    assert stored_files(qk7, dropped)
    kept_files = stored_files(qk7, kept)
    leave_dossier(f9, dropped)
    done = kho(qk7, "transfer", "import", str(send(chain, "f9", "qk7", "p2.kho", "--since-last")))
    assert "1 record(s), 1 document(s) imported" in done.stdout
    assert stored_files(qk7, dropped) == []
    assert stored_files(qk7, kept) == kept_files
    assert {h[0] for h in search(qk7, QUERY)} <= {kept}
    assert counts(qk7)["documents"] == 1


def test_a_killed_import_never_run_again_leaves_no_staged_copy(chain):
    f9, qk7 = chain["f9"], chain["qk7"]
    grow(f9, 500)
    pkg = send(chain, "f9", "qk7", "p1.kho")
    proc = start_import(qk7, pkg)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (qk7 / "docs").is_dir() and next((qk7 / "docs").rglob("*.transfer-staged"), None):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the import ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert transfer_statuses(qk7) == []  # killed before its commit
    assert list(qk7.rglob("*.transfer-staged"))
    junk = chain["out"] / "junk.kho"
    junk.write_text("not a package")
    kho(qk7, "transfer", "import", str(junk), check=8)  # any import sweeps first
    assert list(qk7.rglob("*.transfer-staged")) == []
    assert counts(qk7)["hits"] == [] and counts(qk7)["documents"] == 0
