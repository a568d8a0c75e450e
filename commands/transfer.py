"""`kho transfer export|import|receipts|list`: signed transfer packages between unit
archives, on removable media. Operators only (`operator = true` in the config)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kho.commands.common import as_option, context_of
from kho.core.errors import UsageError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _operator(ctx, as_name):
    """(context, node, principal) for an operator of this node."""
    from kho.exchange.identity import load_node

    kctx = context_of(ctx)
    principal = kctx.settings.principal(as_name)
    if principal.name not in kctx.settings.operators:
        raise UsageError(
            f"{principal.name} is not an operator: transfers need a principal with "
            "operator = true in the config (--as NAME)"
        )
    return kctx, load_node(kctx.settings.home), principal


@click.group("transfer")
def transfer_group() -> None:
    """Transfer packages between unit archives: export, import, receipts, list."""


@transfer_group.command("export")
@click.option("--to", "peer", required=True, help="The registered peer it is for.")
@click.option("--dossier", "dossiers", multiple=True, help="A dossier (FileCode or notation).")
@click.option("--since-last", is_flag=True, help="Only what changed since the last package.")
@click.option("--encrypt", is_flag=True, help="Seal the package for the peer.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), required=True)
@as_option
@click.pass_context
def export_cmd(ctx, peer, dossiers, since_last, encrypt, out_path, as_name):
    """Write a signed package of dossiers for PEER (default: every dossier you may see)."""
    from kho.workers.transfer import export_transfer

    kctx, node, principal = _operator(ctx, as_name)
    done = export_transfer(
        kctx, node, peer, list(dossiers), since_last, out_path, principal.name, encrypt
    )
    out.print(
        f"package {done.seq} for {escape(done.peer)}: {done.records} record(s), "
        f"{done.documents} document(s), {done.bytes:,} bytes, written to {escape(str(done.path))}"
    )


@transfer_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--receipt",
    "receipt_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the signed receipt (default: PATH.receipt.json).",
)
@as_option
@click.pass_context
def import_cmd(ctx, path, receipt_path, as_name):
    """Import a package whole, or refuse it whole; write the receipt for its sender."""
    from kho.core.storage import atomic_write_bytes
    from kho.exchange.errors import TransferHeld
    from kho.workers.transfer import import_transfer

    kctx, node, principal = _operator(ctx, as_name)
    done = import_transfer(kctx, node, path, principal.name)
    if done.status == "held":
        raise TransferHeld(done.message)
    target = receipt_path or Path(str(path) + ".receipt.json")
    atomic_write_bytes(target, done.receipt, kctx.storage.policy)
    out.print(f"{escape(done.message)}; receipt {escape(str(target))}")
    for later in done.then:
        if later.status != "imported":
            err.print(f"[red]{escape(later.message)}[/]")
            continue
        later_target = Path(later.path + ".receipt.json")
        atomic_write_bytes(later_target, later.receipt, kctx.storage.policy)
        out.print(f"{escape(later.message)}; receipt {escape(str(later_target))}")


@transfer_group.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@as_option
@click.pass_context
def verify_cmd(ctx, path, as_name):
    """Check a package as an import would (sender, signatures, checksums, units, levels),
    storing nothing: before carrying it, or before importing it."""
    from kho.workers.transfer import verify_transfer

    kctx, node, principal = _operator(ctx, as_name)
    out.print(escape(verify_transfer(kctx, node, path, principal.name).message))


@transfer_group.command("receipts")
@click.argument("receipts", nargs=-1, required=True, type=click.Path(path_type=Path))
@as_option
@click.pass_context
def receipts_cmd(ctx, receipts, as_name):
    """Check receivers' signed receipts and mark their packages delivered."""
    from kho.workers.transfer import apply_receipt

    kctx, node, principal = _operator(ctx, as_name)
    for path in receipts:
        done = apply_receipt(kctx, node, Path(path).read_bytes(), principal.name)
        out.print(
            f"package {done.seq} to {escape(done.peer)}: {done.records} record(s) {done.message}"
        )


@transfer_group.command("list")
@as_option
@click.pass_context
def list_cmd(ctx, as_name):
    """Transfers in and out: peer, seq, status, records, time."""
    kctx, _, _ = _operator(ctx, as_name)
    peers = kctx.catalog.peers_by_id()
    table = Table("direction", "peer", "seq", "status", "records", "created (UTC)", "finished")
    for t in kctx.catalog.transfers():
        peer = peers.get(t.peer_id)
        table.add_row(
            t.direction,
            escape(peer.name if peer else "?"),
            str(t.seq),
            t.status,
            str(len(t.records or [])),
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.finished_at:%Y-%m-%d %H:%M}" if t.finished_at else "",
        )
    out.print(table)
