"""Transfer packages between unit archives: export to a peer, import from one (all or
nothing), receipts back. The doors (`kho transfer`, the HTTP endpoint) call these three.

Export: every dossier the operator may see (or those named), each as a record folder
(`exchange.records`); a record received from below is relayed as it came, with this node's
hop added. Import: the package is checked whole before anything is stored (bag, signatures,
sender, sequence, units, access), then written as `core.transfers` describes: staged,
indexed, imported. Each record folder received is kept verbatim under
`<home>/transfers/records/<record>/v<version>/` (what a relay sends on).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kho.archive.package import check_whole
from kho.archive.provenance import tool_provenance
from kho.archive.records import members
from kho.core.errors import NotFoundError, UsageError
from kho.core.models import Peer
from kho.core.permissions import PRIVATE
from kho.core.types import can_see
from kho.exchange.bundle import write_tar
from kho.exchange.errors import TransferRefused
from kho.exchange.identity import IdentityError, Node, SignatureError
from kho.exchange.package import (
    build_package_folder,
    canonical,
    read_receipt,
)
from kho.exchange.records import Written, add_hop, record_id, write_record, write_tombstone
from kho.exchange.seal import seal
from kho.workers.context import Context
from kho.workers.transfer_import import (  # noqa: F401 - import_transfer: one door for all three
    import_transfer,
    kept_record,
    peer_identity,
    verify_transfer,
)


@dataclass(frozen=True)
class Exported:
    path: Path
    peer: str
    seq: int
    digest: str
    records: int
    documents: int
    bytes: int


@dataclass(frozen=True)
class Delivered:
    peer: str
    seq: int
    records: int
    message: str


def live_peer(ctx: Context, name: str) -> Peer:
    peer = ctx.catalog.peer(name)
    if peer is None:
        raise NotFoundError(f"no peer {name!r}: register it with kho peers add")
    if peer.revoked_at is not None:
        raise TransferRefused(
            f"peer {name} was revoked on {peer.revoked_at:%Y-%m-%d}; nothing is sent to it"
        )
    return peer


# export ------------------------------------------------------------------------------------
def export_transfer(
    ctx: Context,
    node: Node,
    peer_name: str,
    dossiers: list[str],
    since_last: bool,
    out: Path,
    operator: str,
    encrypt: bool,
) -> Exported:
    """Write the package of `dossiers` (none: every dossier the operator may see) for the
    peer to `out`; `since_last`: only what changed since the last package to it."""
    principal = ctx.settings.principal(operator)
    peer = live_peer(ctx, peer_name)
    out = Path(out)
    if out.exists():
        raise UsageError(f"{out} exists: give a new --out")
    PRIVATE.make_dirs(out.parent)
    chosen = _chosen_dossiers(ctx, principal, dossiers)
    sent = ctx.catalog.sent_records(peer.id)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part"))
    try:
        bag = work / "transfer"
        folder = bag / "records"
        folder.mkdir(parents=True)
        records, docs = _gather(ctx, node, principal, chosen, folder, sent, since_last)
        if since_last and not dossiers:
            records += _tombstones(ctx, node, folder, sent, records)
        if not records:
            raise UsageError(
                f"nothing to send to {peer.name}: no record changed since the last package"
            )
        last = ctx.catalog.last_transfer("out", peer.id)
        seq, prev = (last.seq + 1, last.digest) if last else (1, "")
        listed = [{k: r[k] for k in ("record", "version", "kind", "digest")} for r in records]
        digest = build_package_folder(
            bag, node, peer.fingerprint, seq, prev, principal.name, listed
        )
        size = _write_package(bag, work, out, peer, encrypt)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fields = {
        "peer_id": peer.id,
        "seq": seq,
        "digest": digest,
        "prev_digest": prev,
        "records": listed,
        "path": str(out),
    }
    detail = {
        "peer": peer.name,
        "records": [r["record"] for r in listed],
        "documents": docs,
        "bytes": size,
        "path": str(out),
        "encrypted": encrypt,
    }
    ctx.catalog.record_export(fields, records, principal.name, detail)
    return Exported(out, peer.name, seq, digest, len(records), docs, size)


def _gather(ctx, node, principal, chosen, folder: Path, sent: dict, since_last: bool):
    """The record folders of the chosen dossiers (`since_last`: those that changed since
    the last one sent to the peer) and how many documents they hold."""
    records, docs = [], 0
    provenance = tool_provenance(principal.name)
    for d in chosen:
        r = _export_record(ctx, node, d, principal, folder, provenance, sent)
        before = sent.get(r["record"])
        if since_last and before is not None and before.digest == r["state"]:
            shutil.rmtree(folder / r["record"])
            continue
        records.append(r)
        docs += r.pop("documents")
    return records, docs


def _write_package(bag: Path, work: Path, out: Path, peer: Peer, encrypt: bool) -> int:
    """The bag as a tar (sealed for the peer if asked) at `out`, whole or not at all."""
    tar_path = work / "package.tar"
    with open(tar_path, "wb") as f:
        write_tar(bag, f)
    part = work / "package.out"
    if encrypt:
        with open(part, "wb") as f:
            seal(tar_path, f, peer_identity(peer))
    else:
        os.rename(tar_path, part)
    size = part.stat().st_size
    os.rename(part, out)
    return size


def _chosen_dossiers(ctx: Context, principal, refs: list[str]):
    """The dossiers named (or all the principal may see); one withdrawn here is never sent
    as a record again (its tombstone goes with --since-last)."""
    if refs:
        may_see = lambda d: can_see(principal, d.access)  # noqa: E731
        named = [ctx.catalog.dossier(ref, "", may_see) for ref in refs]
        for d in named:
            if d.withdrawn_at is not None:
                raise UsageError(
                    f"dossier {d.file_notation} was withdrawn on {d.withdrawn_at:%Y-%m-%d}: "
                    "it is not sent again (--since-last sends its withdrawal)"
                )
        return named
    return [
        d
        for d, _ in ctx.catalog.dossiers()
        if d.withdrawn_at is None and can_see(principal, d.access)
    ]


def _export_record(ctx, node, dossier, principal, folder: Path, provenance, sent) -> dict:
    """One record folder under `folder`: relayed as received, or made here."""
    origin = ctx.catalog.origin_of_dossier(dossier.id)
    if origin is not None:  # sent on whole, as for a record made here
        check_whole(ctx.catalog, dossier, len(members(ctx.catalog, dossier, principal)),
                    dossier.file_notation)  # fmt: skip
        src = kept_record(ctx, origin.record, origin.version)
        if not src.is_dir():
            raise NotFoundError(
                f"record {origin.record} v{origin.version}: its folder {src} "
                "is missing; it cannot be relayed"
            )
        shutil.copytree(src, folder / origin.record)
        digest = add_hop(node, folder / origin.record)
        kind = "tombstone" if origin.withdrawn_at else "dossier"
        ndocs = len(json.loads((src / "record.json").read_bytes()).get("documents", []))
        return {
            "record": origin.record,
            "version": origin.version,
            "kind": kind,
            "digest": digest,
            "state": origin.digest,
            "documents": ndocs,
        }

    def version_for(record: str, state: str) -> int:
        before = sent.get(record)
        return 1 if before is None else before.version + (before.digest != state)

    made = write_record(
        ctx.catalog,
        ctx.storage,
        dossier,
        principal,
        folder / record_id(node.fingerprint, dossier.id),
        provenance,
        node,
        version_for,
    )
    return _listed(made, "dossier")


def _listed(made: Written, kind: str) -> dict:
    return {
        "record": made.record,
        "version": made.version,
        "kind": kind,
        "digest": made.digest,
        "state": made.state,
        "documents": made.documents,
    }


def _tombstones(ctx, node, folder: Path, sent: dict, records: list) -> list:
    """Tombstones for the dossiers made here, sent to the peer before, that were withdrawn
    or no longer exist (a record withdrawn at its origin below is relayed as its tombstone
    came)."""
    out, listed = [], {r["record"] for r in records}
    mine = node.fingerprint[:16] + "-"
    existing = {d.id for d, _ in ctx.catalog.dossiers() if d.withdrawn_at is None}
    for record, row in sent.items():
        if row.withdrawn or record in listed or not record.startswith(mine):
            continue
        if int(record.removeprefix(mine)) in existing:
            continue
        made = write_tombstone(folder / record, node, record, row.version + 1)
        out.append(_listed(made, "tombstone"))
    return out


# receipts ----------------------------------------------------------------------------------
def apply_receipt(ctx: Context, node: Node, receipt_bytes: bytes, operator: str) -> Delivered:
    """Check a receiver's signed receipt and mark its transfer and records delivered (a
    refused one is audited as `transfer-refused`)."""
    try:
        return _apply_receipt(ctx, node, receipt_bytes, operator)
    except TransferRefused as err:
        ctx.catalog.record_access(operator, "transfer-refused", receipt=True, reason=str(err))
        raise


def _apply_receipt(ctx: Context, node: Node, receipt_bytes: bytes, operator: str) -> Delivered:
    receipt, sig = read_receipt(receipt_bytes)
    if receipt.get("sender") != node.fingerprint:
        raise TransferRefused("the receipt is for a package another node sent, not this one")
    peer = ctx.catalog.peer_with_key(str(receipt.get("receiver")))
    if peer is None or peer.revoked_at is not None:
        raise TransferRefused("the receipt is signed by no registered, unrevoked peer")
    try:
        peer_identity(peer).verify("receipt", canonical(receipt), sig)
    except (SignatureError, IdentityError) as err:
        raise TransferRefused(f"the receipt's signature is not {peer.name}'s: refused") from err
    seq = receipt.get("seq")
    t = ctx.catalog.transfer("out", peer.id, seq) if isinstance(seq, int) else None
    if t is None or t.digest != receipt.get("digest"):
        raise TransferRefused(
            f"the receipt names package {seq} to {peer.name}, which this "
            "node never sent (seq or digest unknown)"
        )
    if t.status == "delivered":
        return Delivered(peer.name, t.seq, len(t.records), "already delivered")
    detail = {"peer": peer.name, "seq": t.seq, "digest": t.digest, "records": len(t.records)}
    ctx.catalog.mark_delivered(t.id, operator, detail)
    return Delivered(peer.name, t.seq, len(t.records), "delivered")
