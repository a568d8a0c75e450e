"""Node identity and trust between unit archives through the real CLI, one storage root per
node: `kho node init` and `show`, `kho peers add`, `list` and `revoke`; an identity file that
is not one (tampered, not JSON, another format) is refused in one line with nothing
registered; only operators may run any of it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kho.core.catalog import Catalog
from kho.exchange.identity import Identity, show_fingerprint

from .conftest import run_kho

CONFIG = """
[principals.ops]
operator = true

[principals.clerk]
clearance = 3
units = ["*"]
"""
OPS = ("--as", "ops")


def node_home(root: Path, name: str) -> Path:
    """A storage root with an operator `ops` and a non-operator `clerk` (no node yet)."""
    home = root / name
    home.mkdir(mode=0o700)
    (home / "kho.toml").write_text(CONFIG, "utf-8")
    (home / "kho.toml").chmod(0o600)
    return home


def init(home: Path, name: str, unit: str, organ: str = "000.00.00.G09") -> str:
    """`kho node init` as the operator; the public identity file it leads to."""
    args = ("node", "init", "--organ-id", organ, "--unit", unit, "--name", name, *OPS)
    run_kho(*args, home=home)
    pub = home.parent / f"{name}-{home.name}.pub"
    pub.write_text(run_kho("node", "show", "--public", *OPS, home=home).stdout, "utf-8")
    return str(pub)


def refused(*args: str, home: Path, code: int = 2) -> str:
    """The one line kho refuses `args` with."""
    proc = run_kho(*args, home=home, check=code)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def audit_rows(home: Path, action: str) -> list[dict]:
    proc = run_kho("audit", "--json", "--action", action, *OPS, home=home)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def catalog_of(home: Path) -> Catalog:
    return Catalog(f"sqlite:///{home / 'catalog.sqlite'}")


def test_init_show_and_the_public_file(tmp_path):
    home = node_home(tmp_path, "f9")
    args = ("node", "init", "--organ-id", "000.00.00.G09", "--unit", "QK7/F9/", "--name", "f9")
    made = run_kho(*args, *OPS, home=home).stdout
    shown = run_kho("node", "show", *OPS, home=home).stdout
    public = run_kho("node", "show", "--public", *OPS, home=home).stdout
    ident = Identity.from_json(public.encode("utf-8"), "stdout")
    assert (ident.name, ident.unit, ident.organ_id) == ("f9", "qk7/f9", "000.00.00.G09")
    assert json.loads(public)["format"] == "kho-node-identity"  # the file alone, nothing else
    assert public.encode("utf-8") == (home / "node" / "identity.json").read_bytes()
    fp = ident.fingerprint
    assert show_fingerprint(fp) in made and "qk7/f9" in made
    assert "kho node show --public > f9.pub" in made
    assert fp in shown and show_fingerprint(fp) in shown
    for value in ("000.00.00.G09", "qk7/f9", ident.sign_key, ident.seal_key):
        assert value in shown
    assert str(home / "node") in shown
    (row,) = audit_rows(home, "node-init")
    assert (row["actor"], row["detail"]["fingerprint"]) == ("ops", fp)

    again = refused(*args, *OPS, home=home)
    assert "already has an identity" in again and "kho node show" in again
    assert Identity.from_json((home / "node" / "identity.json").read_bytes()).fingerprint == fp


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("--name", "F9 E1", "node name"),
        ("--unit", "qk7//f9", "--unit"),
        ("--organ-id", "000.00.00.G09.X", "--organ-id"),
        ("--organ-id", "", "--organ-id"),
    ],
)
def test_init_refuses_a_bad_name_unit_or_organ(tmp_path, option, value, says):
    home = node_home(tmp_path, "f9")
    given = {"--name": "f9", "--unit": "qk7/f9", "--organ-id": "000.00.00.G09", option: value}
    args = [a for kv in given.items() for a in kv]
    assert says in refused("node", "init", *args, *OPS, home=home)
    assert not (home / "node" / "identity.json").exists()
    assert "run kho node init" in refused("node", "show", *OPS, home=home, code=3)


def test_peers_add_list_revoke(tmp_path):
    f9_home, qk7_home = node_home(tmp_path, "f9"), node_home(tmp_path, "qk7")
    f9_pub = init(f9_home, "f9", "qk7/f9")
    init(qk7_home, "qk7", "qk7")
    fp = Identity.from_json(Path(f9_pub).read_bytes()).fingerprint

    added = run_kho("peers", "add", f9_pub, "--units", "QK7/F9", *OPS, home=qk7_home).stdout
    assert "f9" in added and show_fingerprint(fp) in added and "phone" in added
    units = ("--units", "qk7/f9", "--units", "qk7/f9/e1/", "--units", "qk7/f10")
    run_kho("peers", "add", f9_pub, *units, *OPS, home=qk7_home)
    with_catalog = catalog_of(qk7_home)
    try:
        assert with_catalog.trusted_peer(fp).units == ["qk7/f9", "qk7/f9/e1", "qk7/f10"]
    finally:
        with_catalog.close()
    first, second = reversed(audit_rows(qk7_home, "peer-add"))
    assert first["detail"]["units"] == ["qk7/f9"] and "before" not in first["detail"]
    assert second["detail"]["before"] == {"units": ["qk7/f9"]}

    listed = run_kho("peers", "list", *OPS, home=qk7_home).stdout
    row = next(line for line in listed.splitlines() if " f9 " in line)
    assert "sender" in row and "qk7/f10" in row and fp[:16] in row and "ops" in row

    receiver_pub = init(node_home(tmp_path, "central"), "central", "bqp")
    run_kho("peers", "add", receiver_pub, *OPS, home=qk7_home)
    listed = run_kho("peers", "list", *OPS, home=qk7_home).stdout
    assert "receiver" in next(line for line in listed.splitlines() if " central " in line)

    done = run_kho("peers", "revoke", "f9", *OPS, home=qk7_home).stdout
    assert "revoked" in done
    listed = run_kho("peers", "list", *OPS, home=qk7_home).stdout
    row = next(line for line in listed.splitlines() if " f9 " in line)
    assert row.count("ops") == 2  # added by, revoked by
    (revoke,) = audit_rows(qk7_home, "peer-revoke")
    assert revoke["detail"]["fingerprint"] == fp
    assert "revoked already" in refused("peers", "revoke", "f9", *OPS, home=qk7_home)
    assert "no peer nobody" in refused("peers", "revoke", "nobody", *OPS, home=qk7_home, code=3)


def test_a_revoked_key_is_never_trusted_again(tmp_path):
    qk7_home = node_home(tmp_path, "qk7")
    f9_pub = init(node_home(tmp_path, "f9"), "f9", "qk7/f9")
    fp = Identity.from_json(Path(f9_pub).read_bytes()).fingerprint
    run_kho("peers", "add", f9_pub, "--units", "qk7/f9", *OPS, home=qk7_home)
    catalog = catalog_of(qk7_home)
    try:
        assert catalog.trusted_peer(fp).name == "f9"
        run_kho("peers", "revoke", "f9", *OPS, home=qk7_home)
        assert catalog.trusted_peer(fp) is None
        assert catalog.peer("f9").revoked_at is not None
        line = refused("peers", "add", f9_pub, "--units", "qk7/f9", *OPS, home=qk7_home)
        assert "revoked" in line and "never trusted again" in line
        assert catalog.trusted_peer(fp) is None
        assert catalog.trusted_peer("0" * 64) is None
    finally:
        catalog.close()


def test_a_name_held_by_another_key_is_refused_until_revoked(tmp_path):
    qk7_home = node_home(tmp_path, "qk7")
    old_pub = init(node_home(tmp_path, "f9-old"), "f9", "qk7/f9")
    new_pub = init(node_home(tmp_path, "f9-new"), "f9", "qk7/f9")
    old_fp = Identity.from_json(Path(old_pub).read_bytes()).fingerprint
    new_fp = Identity.from_json(Path(new_pub).read_bytes()).fingerprint
    run_kho("peers", "add", old_pub, "--units", "qk7/f9", *OPS, home=qk7_home)

    line = refused("peers", "add", new_pub, "--units", "qk7/f9", *OPS, home=qk7_home)
    assert "another key" in line and "kho peers revoke f9" in line
    catalog = catalog_of(qk7_home)
    try:
        assert catalog.peer("f9").fingerprint == old_fp
        assert catalog.trusted_peer(new_fp) is None
        run_kho("peers", "revoke", "f9", *OPS, home=qk7_home)
        run_kho("peers", "add", new_pub, "--units", "qk7/f9", *OPS, home=qk7_home)
        assert catalog.peer("f9").fingerprint == new_fp
        assert catalog.trusted_peer(new_fp).name == "f9"
        assert catalog.trusted_peer(old_fp) is None  # the old key kept its row, revoked
        (old,) = [p for p in catalog.peers() if p.fingerprint == old_fp]
        assert old.revoked_at is not None and old.name == f"f9#{old_fp[:16]}"
        assert [p.name for p in catalog.peers(include_revoked=False)] == ["f9"]
    finally:
        catalog.close()


def _edit(pub: Path, **changes) -> bytes:
    body = json.loads(pub.read_bytes())
    body.update(changes)
    return json.dumps(body).encode("utf-8")


def _flipped(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode("ascii")


TAMPERED = {
    "seal key replaced": (lambda pub, other: _edit(pub, seal_key=other["seal_key"]), "bound"),
    "sign key replaced": (lambda pub, other: _edit(pub, sign_key=other["sign_key"]), "bound"),
    "unit changed": (lambda pub, other: _edit(pub, unit="qk7"), "bound"),
    "binding broken": (
        lambda pub, other: _edit(pub, binding=_flipped(json.loads(pub.read_bytes())["binding"])),
        "bound",
    ),
    "not JSON": (lambda pub, other: pub.read_bytes()[:-20], "not JSON"),
    "wrong format": (lambda pub, other: _edit(pub, format="kho-transfer"), "no format"),
    "no binding": (lambda pub, other: _edit(pub, binding=""), "binding is 0 bytes"),
    "bad seal key": (lambda pub, other: _edit(pub, seal_key="@@"), "seal_key is not base64"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_identity_file_is_refused(tmp_path, case):
    qk7_home = node_home(tmp_path, "qk7")
    pub = Path(init(node_home(tmp_path, "f9"), "f9", "qk7/f9"))
    other = json.loads(Path(init(node_home(tmp_path, "x"), "x", "qk7/x")).read_bytes())
    make, says = TAMPERED[case]
    bad = tmp_path / "bad.pub"
    bad.write_bytes(make(pub, other))
    line = refused("peers", "add", str(bad), "--units", "qk7/f9", *OPS, home=qk7_home)
    assert str(bad) in line and says in line
    assert "no peers yet" in run_kho("peers", "list", *OPS, home=qk7_home).stdout
    (denied,) = audit_rows(qk7_home, "denied")
    assert denied["detail"]["command"] == "peers add" and says in denied["detail"]["reason"]
    assert audit_rows(qk7_home, "peer-add") == []


@pytest.mark.parametrize("who", [(), ("--as", "clerk")])
def test_without_the_operator_role_nothing_is_done(tmp_path, who):
    qk7_home = node_home(tmp_path, "qk7")
    f9_pub = init(node_home(tmp_path, "f9"), "f9", "qk7/f9")
    init(qk7_home, "qk7", "qk7")
    run_kho("peers", "add", f9_pub, "--units", "qk7/f9", *OPS, home=qk7_home)
    name = who[1] if who else "local"
    commands = [
        ("peers", "add", f9_pub, "--units", "qk7"),
        ("peers", "list"),
        ("peers", "revoke", "f9"),
        ("node", "show"),
        ("node", "show", "--public"),
    ]
    for args in commands:
        line = refused(*args, *who, home=qk7_home)
        assert f"kho {args[0]} {args[1]} is for operators and {name} is not one" in line
        assert "--as NAME" in line
    denied = audit_rows(qk7_home, "denied")
    assert [(d["actor"], d["detail"]["command"]) for d in reversed(denied)] == [
        (name, f"{a[0]} {a[1]}") for a in commands
    ]
    catalog = catalog_of(qk7_home)
    try:
        (peer,) = catalog.peers()
        assert (peer.units, peer.revoked_at) == (["qk7/f9"], None)
    finally:
        catalog.close()

    fresh = node_home(tmp_path, "fresh")
    line = refused(
        "node", "init", "--organ-id", "G09", "--unit", "u", "--name", "n", *who, home=fresh
    )
    assert "is for operators" in line
    assert not (fresh / "node").exists()
