"""Importing a transfer package: all of it or nothing.

Checked before anything is stored: the bag (every file listed and matching), the sender (a
registered, unrevoked peer with the same keys) and its signature, the recipient (this
node), the sequence (a replay is refused, a gap is held until the missing package comes),
every record's origin and hop signatures, its units (inside the sender's subtrees) and its
access (never lower than what is held here). Then `transfer_store` writes it: the record
folders kept verbatim, the files linked in under staging names, every row written in one
transaction (`staged`), the files renamed into place, the pages indexed, the transfer
marked imported. A kill at any point leaves a state the same import, run again, completes;
what a killed import left is swept by the next one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kho.core.errors import NotFoundError
from kho.core.models import Peer
from kho.core.storage import atomic_copy
from kho.core.types import unit_covers
from kho.exchange import bundle
from kho.exchange.errors import TransferRefused
from kho.exchange.identity import Identity, Node
from kho.exchange.package import iso_now, make_receipt, open_package
from kho.exchange.records import ReceivedRecord, read_record
from kho.workers.context import Context
from kho.workers.transfer_store import kept_record, store, sweep, transfers_dir

__all__ = ["import_transfer", "kept_record", "peer_identity", "verify_transfer"]


@dataclass(frozen=True)
class Imported:
    status: str  # imported | held (| refused: a held package taken up after this one)
    sender: str
    seq: int
    records: int
    documents: int
    receipt: bytes
    message: str
    then: tuple = ()  # held packages imported after this one
    path: str = ""  # the package file imported


def peer_identity(peer: Peer) -> Identity:
    return Identity(peer.name, peer.organ_id, peer.unit, peer.sign_key, peer.seal_key)


def import_transfer(ctx: Context, node: Node, path: Path, operator: str) -> Imported:
    """Import the package at `path` whole, or refuse it whole (TransferRefused, audited).
    What dead imports left is swept first."""
    try:
        sweep(ctx)
        return _import(ctx, node, Path(path), operator)
    except TransferRefused as err:
        ctx.catalog.record_access(operator, "transfer-refused", path=str(path), reason=str(err))
        raise


def _import(ctx: Context, node: Node, path: Path, operator: str) -> Imported:
    staging = _staging(ctx)
    try:
        pkg, peer, seq, digests = _opened(ctx, node, path, staging)
        meta = pkg.meta
        held = _check_sequence(ctx, peer, seq, pkg.digest, str(meta.get("prev_digest", "")))
        if held:
            return _hold(ctx, peer, seq, pkg.digest, meta, path, operator)
        records = _checked_records(ctx, peer, pkg, digests)
        done = _store(ctx, node, peer, pkg, records, digests, path, operator)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    follow = ctx.catalog.transfer("in", peer.id, seq + 1)
    if follow is not None and follow.status == "held":
        try:
            after = import_transfer(ctx, node, Path(follow.path), operator)
        except TransferRefused as err:  # this one stays imported; the held one is refused
            message = f"held package {follow.seq} from {peer.name} refused: {err}"
            after = Imported("refused", peer.name, follow.seq, 0, 0, b"", message)
        done = Imported(**{**done.__dict__, "then": (after, *after.then)})
    return done


def verify_transfer(ctx: Context, node: Node, path: Path, operator: str) -> Imported:
    """Every check of an import but the sequence, storing nothing: whether the package at
    `path` would be taken (TransferRefused if not). Audited as a read."""
    staging = _staging(ctx)
    try:
        pkg, peer, seq, digests = _opened(ctx, node, Path(path), staging)
        records = _checked_records(ctx, peer, pkg, digests)
    except TransferRefused as err:
        ctx.catalog.record_access(operator, "transfer-refused", path=str(path), reason=str(err))
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    documents = sum(len(r.body.get("documents", ())) for r in records)
    ctx.catalog.record_access(operator, "transfer-verify", path=str(path), seq=seq,
                              peer=peer.name, records=len(records))  # fmt: skip
    message = (f"package {seq} from {peer.name}: {len(records)} record(s), {documents} "
               "document(s), signatures and checksums hold")  # fmt: skip
    return Imported("verified", peer.name, seq, len(records), documents, b"", message)


def _opened(ctx: Context, node: Node, path: Path, staging: Path):
    """The package at `path` unpacked under `staging`, its signature checked against its
    registered sender, for this node: (package, peer, seq, digests of its files taken
    while unpacking)."""
    opened = _unpack(ctx, node, path, staging)
    pkg = open_package(opened.root, opened.digests)
    sender = pkg.sender
    peer = _sender_peer(ctx, sender)
    pkg.check_signed(sender)
    meta = pkg.meta
    if meta.get("recipient") != node.fingerprint:
        raise TransferRefused(f"the package is for another node, not {node.name}")
    seq = meta.get("seq")
    if not isinstance(seq, int) or seq < 1:
        raise TransferRefused("the package has no sequence number")
    return pkg, peer, seq, opened.digests


def _checked_records(ctx: Context, peer: Peer, pkg, digests: dict) -> list[ReceivedRecord]:
    records = []
    for folder in pkg.records():
        prefix = f"data/records/{folder.name}/"
        known = {k[len(prefix) :]: v.sha512 for k, v in digests.items() if k.startswith(prefix)}
        records.append(read_record(folder, pkg.sender, known))
    _check_listed(pkg.meta, records)
    for r in records:
        _check_record(ctx, peer, r)
    return records


def _staging(ctx: Context) -> Path:
    """A fresh folder under `<home>/transfers/staging/`; those of dead imports are removed."""
    base = transfers_dir(ctx) / "staging"
    ctx.storage.policy.make_dirs(base)
    for old in base.iterdir():
        try:
            pid = int((old / "pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=base))
    (folder / "pid").write_text(str(os.getpid()))
    return folder


def _unpack(ctx: Context, node: Node, path: Path, staging: Path) -> bundle.Extracted:
    limits = ctx.settings.transfer
    if not path.is_file():
        raise TransferRefused(f"{path} is not a file: give the package's path")
    return bundle.open_package(
        path, staging / "bag", node, max_bytes=limits.max_bytes, max_files=limits.max_files
    )


def _sender_peer(ctx: Context, sender: Identity) -> Peer:
    peer = ctx.catalog.peer_with_key(sender.fingerprint)
    if peer is None:
        raise TransferRefused(
            f"the package is from {sender.name} ({sender.fingerprint[:16]}), "
            "no registered peer: register it with kho peers add"
        )
    if peer.revoked_at is not None:
        raise TransferRefused(
            f"the package is from {peer.name}, revoked on "
            f"{peer.revoked_at:%Y-%m-%d}: nothing is taken from it"
        )
    if (peer.sign_key, peer.seal_key) != (sender.sign_key, sender.seal_key):
        raise TransferRefused(f"the package's sender keys are not those registered for {peer.name}")
    return peer


def _check_sequence(ctx: Context, peer: Peer, seq: int, digest: str, prev: str) -> bool:
    """True when the package must wait for an earlier one; refuses a replay or a fork."""
    same = ctx.catalog.transfer("in", peer.id, seq)
    if same is not None and same.status == "staged" and same.digest != digest:
        raise TransferRefused(
            f"package {seq} from {peer.name} is not the package {seq} whose import was cut "
            f"short here (another digest): import {same.path} again to complete it"
        )
    if same is not None and same.status == "imported":
        if same.digest == digest:
            raise TransferRefused(
                f"package {seq} from {peer.name} was imported on "
                f"{same.finished_at:%Y-%m-%d %H:%M}; nothing imported"
            )
        raise TransferRefused(
            f"package {seq} from {peer.name} is not the package {seq} "
            "imported before (another digest): refused"
        )
    last = ctx.catalog.last_transfer("in", peer.id, ("imported",))
    expected = last.seq + 1 if last else 1
    if seq < expected:
        raise TransferRefused(
            f"package {seq} from {peer.name} is older than the last one "
            f"imported ({expected - 1}): refused"
        )
    if seq > expected:
        return True
    if prev != (last.digest if last else ""):
        raise TransferRefused(
            f"package {seq} from {peer.name} does not follow package "
            f"{expected - 1} imported here (previous digest differs)"
        )
    return False


def _hold(ctx, peer: Peer, seq: int, digest: str, meta: dict, path: Path, operator) -> Imported:
    held = transfers_dir(ctx) / "held" / f"{peer.fingerprint[:16]}-{seq}.pkg"
    if not held.exists():
        atomic_copy(path, held, ctx.storage.policy)
    fields = {
        "peer_id": peer.id,
        "seq": seq,
        "digest": digest,
        "prev_digest": str(meta.get("prev_digest", "")),
        "path": str(held),
        "records": meta.get("records", []),
    }
    last = ctx.catalog.last_transfer("in", peer.id, ("imported",))
    missing = (last.seq if last else 0) + 1
    ctx.catalog.hold_transfer(fields, operator, {"peer": peer.name, "seq": seq, "path": str(held)})
    message = (
        f"package {seq} from {peer.name} is held: package {missing} has not arrived; "
        f"import it and {seq} follows"
    )
    return Imported("held", peer.name, seq, 0, 0, b"", message)


def _check_listed(meta: dict, records: list[ReceivedRecord]) -> None:
    listed = {(r.get("record"), r.get("digest")) for r in meta.get("records", [])}
    found = {(r.record, r.digest) for r in records}
    if listed != found:
        raise TransferRefused("the records in the package are not the ones transfer.json lists")


def _check_record(ctx: Context, peer: Peer, r: ReceivedRecord) -> None:
    """Units inside the sender's subtrees, access never lowered, a place here for it."""
    held = ctx.catalog.record_origin(r.record)
    if r.kind == "tombstone":
        if held is not None:
            d, _ = ctx.catalog.dossier_by_id(held.dossier_id)
            _check_unit(peer, r.record, d.unit)
        return
    if held is not None and r.version < held.version:
        raise TransferRefused(
            f"record {r.record} v{r.version} is older than v{held.version} held here: refused"
        )
    body, access = r.body, r.access
    try:
        _check_unit(peer, r.record, access["dossier"]["unit"])
        for d in body["documents"]:
            _check_unit(peer, r.record, access["documents"][d["id"]]["unit"])
    except (KeyError, TypeError) as err:
        raise TransferRefused(f"record {r.record}: access.json lacks {err}") from err
    fonds = body["fonds"]
    try:
        here = ctx.catalog.fonds(fonds["code"])
    except NotFoundError:  # no such fonds here yet: the import creates it
        here = None
    if here is not None and here.organ_id != fonds.get("organ_id", ""):
        raise TransferRefused(
            f"record {r.record}: fonds {fonds['code']} is held here for organ "
            f"{here.organ_id}, not {fonds.get('organ_id')}: refused"
        )
    same = ctx.catalog.dossier_in_fonds(fonds["code"], body["dossier"].get("file_notation", ""))
    if same is not None and (held is None or same.id != held.dossier_id):
        raise TransferRefused(
            f"record {r.record}: fonds {fonds['code']} already holds a dossier "
            f"{same.file_notation} of its own: refused"
        )
    for d in body["documents"]:
        _check_document(ctx, r, held, d["id"], access["documents"][d["id"]])
    if held is not None:  # after its documents: a raised document raised its dossier too
        here_d, _ = ctx.catalog.dossier_by_id(held.dossier_id)
        _check_narrows(r, "dossier", here_d.file_notation, here_d.access, access["dossier"])


def _check_unit(peer: Peer, record: str, unit: str) -> None:
    if not any(unit_covers(scope, unit) for scope in peer.units or []):
        scopes = ", ".join(peer.units or []) or "none"
        raise TransferRefused(
            f"record {record}: unit {unit or '(none)'} is outside what "
            f"{peer.name} may send for ({scopes}): refused"
        )


def _check_document(ctx: Context, r: ReceivedRecord, held, doc_id: str, access: dict) -> None:
    doc = ctx.catalog.get_document(doc_id)
    if doc is None:
        return
    if held is None or doc.dossier_id != held.dossier_id:
        raise TransferRefused(
            f"record {r.record}: document {doc_id[:12]} is held here in another dossier: refused"
        )
    _check_narrows(r, "document", doc_id[:12], doc.access, access)


def _check_narrows(r: ReceivedRecord, kind: str, name: str, here, access: dict) -> None:
    """Access only narrows: the level held here is never lowered, the unit never widened."""
    if here.level > access["level"]:
        raise TransferRefused(
            f"record {r.record} lowers {kind} {name} from level "
            f"{here.level} to {access['level']}: refused"
        )
    if here.unit != access["unit"] and unit_covers(access["unit"], here.unit):
        raise TransferRefused(
            f"record {r.record} widens {kind} {name} from unit "
            f"{here.unit} to {access['unit']}: refused"
        )


def _store(ctx, node: Node, peer: Peer, pkg, records, digests, path, operator) -> Imported:
    meta = pkg.meta
    stored, journal = store(ctx, peer, pkg, records, digests, path, operator)
    tid, doc_ids = stored.transfer_id, stored.documents
    detail = {
        "peer": peer.name,
        "seq": meta["seq"],
        "digest": pkg.digest,
        "records": [r.record for r in records],
        "documents": len(doc_ids),
    }
    ctx.catalog.finish_import(tid, operator, detail)
    journal.unlink(missing_ok=True)
    receipt = make_receipt(
        node,
        {
            "sender": peer.fingerprint,
            "seq": meta["seq"],
            "digest": pkg.digest,
            "imported_at": iso_now(),
            "records": [
                {"record": r.record, "version": r.version, "digest": r.digest} for r in records
            ],
        },
    )
    message = (
        f"package {meta['seq']} from {peer.name}: {len(records)} record(s), "
        f"{len(doc_ids)} document(s) imported"
    )
    return Imported(
        "imported",
        peer.name,
        meta["seq"],
        len(records),
        len(doc_ids),
        receipt,
        message,
        path=str(path),
    )
