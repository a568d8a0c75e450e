"""`kho node` (this node's identity) and `kho peers` (the nodes it trusts): the operators'
doors to interconnection. A node is made once (`kho node init`); its public identity file
(`kho node show --public`) goes to the other archive, whose operator registers it with
`kho peers add` and compares its fingerprint with this side's by phone."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from kho.commands.common import as_option, audit_cli, cli_door, operator_of
from kho.core.errors import UsageError

out = Console(highlight=False, soft_wrap=True)
IDENTITY_MAX_BYTES = 64 * 1024  # an identity file is well under 1 KiB


@click.group("node")
def node_group():
    """This node's identity: make it once (init), show it or its public file (show)."""


@node_group.command("init")
@click.option("--organ-id", required=True, help="The organ's code, e.g. 000.00.00.G09.")
@click.option("--unit", required=True, help="This node's unit path, e.g. qk7/f9.")
@click.option("--name", required=True, help="This node's name, e.g. f9 (lower case).")
@as_option
@click.pass_context
def node_init(ctx, organ_id, unit, name, as_name):
    """Make this node's keys and identity (once: its peers trust these keys)."""
    from kho.exchange.identity import init_node, show_fingerprint

    kctx, principal = operator_of(ctx, as_name, "node init")
    node = init_node(kctx.settings.home, name, organ_id, unit)
    ident = node.identity
    detail = {"node": ident.name, "organ_id": ident.organ_id, "unit": ident.unit}
    audit_cli(kctx, principal, "node-init", **detail, fingerprint=node.fingerprint)
    out.print(f"node {escape(ident.name)} (unit {escape(ident.unit or '-')})")
    out.print(f"fingerprint {show_fingerprint(node.fingerprint)}")
    out.print(
        f"next: kho node show --public > {escape(ident.name)}.pub, and give that file to the "
        "archive that receives from this one (it registers it with kho peers add)"
    )


@node_group.command("show")
@click.option("--public", is_flag=True, help="Only the public identity file, on stdout.")
@as_option
@click.pass_context
def node_show(ctx, public, as_name):
    """This node's name, organ, unit, fingerprint and public keys; never its private keys."""
    from kho.exchange.identity import load_identity, node_dir, show_fingerprint

    kctx, principal = operator_of(ctx, as_name, "node show")
    ident = load_identity(kctx.settings.home)
    audit_cli(kctx, principal, "node-show", node=ident.name, public=public)
    if public:
        sys.stdout.buffer.write(ident.to_json())
        sys.stdout.flush()
        return
    folder = node_dir(kctx.settings.home)
    out.print(f"node         {escape(ident.name)}")
    out.print(f"organ        {escape(ident.organ_id)}")
    out.print(f"unit         {escape(ident.unit or '-')}")
    out.print(f"fingerprint  {show_fingerprint(ident.fingerprint)}")
    out.print(f"             {ident.fingerprint}")
    out.print(f"sign key     {ident.sign_key} (Ed25519, public)")
    out.print(f"seal key     {ident.seal_key} (X25519, public)")
    out.print(
        f"keys in      {escape(str(folder))} (sign.key, seal.key: private, mode 0600; "
        "identity.json: public)"
    )


@click.group("peers")
def peers_group():
    """The nodes this one trusts: add one from its identity file, list, revoke."""


def read_identity(path: Path):
    """The checked identity in the file `path` (IdentityError or UsageError if not one)."""
    from kho.exchange.identity import Identity

    try:
        with open(path, "rb") as f:
            data = f.read(IDENTITY_MAX_BYTES + 1)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from err
    if len(data) > IDENTITY_MAX_BYTES:
        raise UsageError(f"{path} is not a kho node identity (larger than {IDENTITY_MAX_BYTES})")
    return Identity.from_json(data, str(path))


def own_fingerprint(home: Path) -> str:
    """This node's fingerprint, or "" while it has no identity."""
    from kho.core.errors import NotFoundError
    from kho.exchange.identity import load_identity

    try:
        return load_identity(home).fingerprint
    except NotFoundError:
        return ""


@peers_group.command("add")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--units",
    "units",
    multiple=True,
    metavar="PATH",
    help="A unit subtree this peer may send records for (repeatable); none: a receiver "
    "this node sends to.",
)
@as_option
@click.pass_context
def peers_add(ctx, file, units, as_name):
    """Trust the node of the identity FILE (its `kho node show --public`)."""
    from kho.core.errors import KhoError
    from kho.exchange.identity import show_fingerprint

    kctx, principal = operator_of(ctx, as_name, "peers add")
    try:
        ident = read_identity(file)
        if ident.fingerprint == own_fingerprint(kctx.settings.home):
            raise UsageError(f"{file} is this node's own identity: add the other node's file")
        peer = kctx.catalog.add_peer(ident, units, principal.name, cli_door())
    except KhoError as err:
        audit_cli(kctx, principal, "denied", command="peers add", file=str(file), reason=str(err))
        raise
    role = f"sender for {', '.join(peer.units)}" if peer.units else "receiver"
    out.print(f"peer {escape(peer.name)} (unit {escape(peer.unit or '-')}): {escape(role)}")
    out.print(f"fingerprint {show_fingerprint(peer.fingerprint)}")
    out.print(
        f"now phone {escape(peer.name)}'s operator and compare this fingerprint with what "
        "their kho node show prints; if it differs, run kho peers revoke "
        f"{escape(peer.name)}"
    )


@peers_group.command("list")
@as_option
@click.pass_context
def peers_list(ctx, as_name):
    """Every peer: name, unit, role, units, fingerprint, when added and revoked."""
    from kho.core.peers import peer_role

    kctx, principal = operator_of(ctx, as_name, "peers list")
    peers = kctx.catalog.peers()
    audit_cli(kctx, principal, "peers-list", shown=[p.name for p in peers])
    table = Table(
        Column("name", no_wrap=True),
        "unit",
        "role",
        "units",
        Column("fingerprint", no_wrap=True),
        "added",
        "revoked",
    )
    for p in peers:
        table.add_row(
            escape(p.name),
            escape(p.unit or "-"),
            peer_role(p),
            escape(", ".join(p.units) or "-"),
            p.fingerprint[:16],
            f"{p.added_at:%Y-%m-%d %H:%M} {escape(p.added_by)}",
            f"{p.revoked_at:%Y-%m-%d %H:%M} {escape(p.revoked_by)}" if p.revoked_at else "",
        )
    out.print(table)
    if not peers:
        out.print("no peers yet: kho peers add FILE [--units PATH ...]")


@peers_group.command("revoke")
@click.argument("name")
@as_option
@click.pass_context
def peers_revoke(ctx, name, as_name):
    """Stop trusting peer NAME's key, for good (it stays listed, as revoked)."""
    kctx, principal = operator_of(ctx, as_name, "peers revoke")
    peer = kctx.catalog.revoke_peer(name, principal.name, cli_door())
    out.print(
        f"peer {escape(peer.name)} revoked: its key {peer.fingerprint[:16]} is never accepted again"
    )
