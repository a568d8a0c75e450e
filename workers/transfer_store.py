"""Storing a checked transfer package: the record folders kept as they came, their files
put in place, every row in one transaction, the pages indexed.

Each byte of the package is read once, while it is unpacked and hashed (`bundle`); after
that nothing is copied or hashed again. The record folders are renamed from staging (under
the storage root) to `<home>/transfers/records/<record>/v<version>/`, and each file the
archive serves is linked from there under a staging name beside its place in storage. The
files and their folders are synced in one pass each, then the rows are committed (the
transfer `staged`), the staging names renamed into place, the files of documents a new
version dropped removed, the pages indexed in one write and the transfer marked imported.

A journal (`<home>/transfers/journal/<sender fp16>-<seq>.json`) names the staging names
and the dropped files of an import under way. Every import first sweeps the journals of
dead imports: an import that was killed before its commit leaves no staged copy behind;
one killed after it (`staged` in the catalog) is completed by the same package again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kho.core.models import Peer
from kho.core.permissions import FilePolicy
from kho.exchange.records import ReceivedRecord
from kho.workers.context import Context
from kho.workers.pipeline import document_pages, read_texts

STAGED = ".transfer-staged"
EXT = {"tiff": "tif", "png": "png", "jpeg": "jpg", "pdf": "pdf"}


def transfers_dir(ctx: Context) -> Path:
    return ctx.settings.home / "transfers"


def kept_record(ctx: Context, record: str, version: int) -> Path:
    return transfers_dir(ctx) / "records" / record / f"v{version}"


@dataclass(frozen=True)
class Stored:
    transfer_id: int
    documents: list[str]


# the journal of an import under way -------------------------------------------------------
def _journal_path(ctx: Context, peer: Peer, seq: int) -> Path:
    return transfers_dir(ctx) / "journal" / f"{peer.fingerprint[:16]}-{seq}.json"


def _write_journal(ctx: Context, path: Path, body: dict) -> None:
    ctx.storage.policy.make_dirs(path.parent)
    ctx.storage.write_bytes(path, json.dumps(body).encode())


def _read_journal(path: Path) -> dict:
    try:
        body = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def sweep(ctx: Context) -> None:
    """Remove what dead imports left: the staged copies of a transfer that is not `staged`
    in the catalog (killed before its commit: the rows were never written), and the
    dropped files of one the catalog says is imported."""
    folder = transfers_dir(ctx) / "journal"
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        body = _read_journal(path)
        if _alive(body.get("pid")):
            continue  # an import running now
        t = ctx.catalog.transfer("in", int(body.get("peer_id", 0)), int(body.get("seq", 0)))
        if t is not None and t.status == "staged":
            continue  # the same package, imported again, completes it
        doomed = list(body.get("staged", []))
        if t is not None and t.status == "imported":
            doomed += body.get("drop", [])
        _remove_files(ctx, doomed)
        path.unlink(missing_ok=True)


def _remove_files(ctx: Context, rels: list[str]) -> None:
    root = ctx.storage.root
    folders = set()
    for rel in rels:
        path = root / rel
        if path.resolve().is_relative_to(root.resolve()):
            path.unlink(missing_ok=True)
            folders.add(path.parent)
    for folder in folders:  # a document's folder goes with its last file
        try:
            folder.rmdir()
        except OSError:
            pass


# storing ----------------------------------------------------------------------------------
def keep(ctx: Context, r: ReceivedRecord) -> Path:
    """The record folder kept verbatim (what a relay sends on): renamed from staging."""
    dst = kept_record(ctx, r.record, r.version)
    ctx.storage.policy.make_dirs(dst.parent)
    old = None
    if dst.exists():  # an import of it cut short, or the same version again
        old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".old"))
        os.rename(dst, old / "r")
    os.rename(r.folder, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dst


def files_of(ctx: Context, body: dict) -> list[tuple[str, Path, str, str]]:
    """(path in the record, storage path, document, fixity kind) of every file it serves."""
    st, out = ctx.storage, []
    for d in body["documents"]:
        doc_id, ext = d["id"], EXT[d["kind"]]
        out.append(
            (f"package/data/originals/{doc_id}.{ext}", st.original(doc_id, ext), doc_id, "original")
        )
        for n in range(1, d["page_count"] + 1):
            out.append(
                (
                    f"pagetext/{doc_id}/page-{n:05d}.json",
                    st.page_text_path(doc_id, n),
                    doc_id,
                    "page-text",
                )  # fmt: skip
            )
            out.append(
                (
                    f"images/{doc_id}/page-{n:05d}.jpg",
                    st.page_image(doc_id, n),
                    doc_id,
                    "page-image",
                )  # fmt: skip
            )
        out.append((f"package/data/pdf/*-{doc_id}.pdf", st.searchable_pdf(doc_id), doc_id, "pdf"))
    return out


def _link(src: Path, dst: Path, policy: FilePolicy) -> None:
    """`dst` the same file as `src` (a link: no copy on the one filesystem), with the
    storage's mode and group."""
    policy.make_dirs(dst.parent)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: a copy
        shutil.copyfile(src, dst)
    st = os.lstat(dst)
    if policy.gid >= 0 and st.st_gid != policy.gid:
        os.chown(dst, -1, policy.gid, follow_symlinks=False)
    if st.st_mode & 0o7777 != policy.file_mode:
        os.chmod(dst, policy.file_mode)


def _sync(paths) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _placed(ctx: Context, records, digests: dict):
    """Each record kept, its files linked under staging names: (fixity rows, (staged,
    storage path) pairs, files and folders to sync)."""
    fixity, moves, files, folders = [], [], [], set()
    for r, kept in records:
        for p in kept.rglob("*"):
            (folders.add(p) if p.is_dir() else files.append(p))
        folders.update((kept, kept.parent))
        if r.kind != "dossier":
            continue
        for rel, dst, doc_id, kind in files_of(ctx, r.body):
            if "*" in rel:
                found = sorted(kept.glob(rel))
                if not found:
                    continue
                rel = found[0].relative_to(kept).as_posix()
            src = kept / rel
            if not src.is_file():
                continue
            staged = dst.with_name(dst.name + STAGED)
            _link(src, staged, ctx.storage.policy)
            moves.append((staged, dst))
            folders.add(dst.parent)
            got = digests[f"data/records/{r.record}/{rel}"]
            path = dst.relative_to(ctx.storage.root).as_posix()
            fixity.append({"path": path, "doc_id": doc_id, "kind": kind,
                           "sha256": got.sha256, "size": got.size})  # fmt: skip
    return fixity, moves, files, folders


def store(ctx, peer: Peer, pkg, records: list[ReceivedRecord], digests: dict, path, operator):
    """Write the checked records of `pkg`; returns the transfer's id and its documents."""
    seq = pkg.meta["seq"]
    journal = _journal_path(ctx, peer, seq)
    before = _read_journal(journal)  # an import of it cut short after its commit
    body = {"pid": os.getpid(), "peer_id": peer.id, "seq": seq, "drop": before.get("drop", [])}
    root = ctx.storage.root
    staged_names = [
        (dst.with_name(dst.name + STAGED)).relative_to(root).as_posix()
        for r in records
        if r.kind == "dossier"
        for _, dst, _, _ in files_of(ctx, r.body)
    ]
    _write_journal(ctx, journal, {**body, "staged": staged_names})
    kept = [(r, keep(ctx, r)) for r in records]
    fixity, moves, files, folders = _placed(ctx, kept, digests)
    _sync(files)  # the data first, every file; then every folder that names one
    _sync(sorted(folders | {root / "transfers" / "records"}))
    rows = [_row(r) for r in records]
    meta = pkg.meta
    fields = {"peer_id": peer.id, "seq": seq, "digest": pkg.digest,
              "prev_digest": meta.get("prev_digest", ""), "path": str(path),
              "records": meta.get("records", [])}  # fmt: skip
    tid, out_of_index, dropped = ctx.catalog.stage_import(fields, rows, fixity, operator)
    body["drop"] = sorted(set(body["drop"]) | set(dropped))
    _write_journal(ctx, journal, {**body, "staged": staged_names})
    for staged, dst in moves:
        os.replace(staged, dst)
    _sync(sorted({dst.parent for _, dst in moves}))
    _remove_files(ctx, body["drop"])
    doc_ids = [d["id"] for r in records if r.kind == "dossier" for d in r.body["documents"]]
    _index(ctx, doc_ids, [d for d in out_of_index if d not in doc_ids])
    return Stored(tid, doc_ids), journal


def _row(r: ReceivedRecord) -> dict:
    return {
        "record": r.record,
        "body": r.body,
        "access": r.access,
        "chain": r.chain,
        "digest": r.digest,
        "origin_name": r.origin.name,
        "origin_fingerprint": r.origin.fingerprint,
        "origin_unit": r.access.get("dossier", {}).get("unit", ""),
    }


def _index(ctx: Context, doc_ids: list[str], gone: list[str]) -> None:
    """The documents' pages in one write: none is searchable before all are."""
    for doc_id in gone:
        ctx.index.delete_document(doc_id)
    pages = []
    for doc_id in doc_ids:
        doc = ctx.catalog.document(doc_id)
        mine = document_pages(ctx, doc, read_texts(ctx, doc_id))
        if not mine:  # no page read: none of its pages stays in the index
            ctx.index.delete_document(doc_id)
        pages += mine
    ctx.index.index_pages(pages)
    ctx.index.refresh()
