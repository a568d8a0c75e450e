"""Register a batch: each source file becomes a document (id = SHA-256) with pending pages.

Registration is cheap and idempotent: it hashes, validates and counts pages, copies the
original under the storage root and writes catalog rows. Reading the pages is the
executor's work. Re-running a batch skips what it already registered.

Access is never loosened here: a manifest row that cannot be read exactly refuses its file,
and the same bytes arriving again with other access leave the stored document with the
stricter of both (`access.merge_access`), re-indexed when that tightened it. Files a PDF
carries become documents of their own, children of the PDF, at its access or stricter.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kho.core import catalog as cat
from kho.core.errors import BadInputError, KhoError, LimitExceededError, storage_trouble
from kho.core.settings import DEFAULT_LANG, Limits
from kho.core.storage import Storage, sha256_file
from kho.core.types import Access

from .access import merge_access
from .discover import Found, discover, ingest_roots
from .formats import open_source
from .manifest import Manifests, load_manifests, manifests_governing
from .sniff import EXTENSIONS, sniff, unsupported_reason

EXT = {"tiff": "tif", "png": "png", "jpeg": "jpg", "pdf": "pdf"}
MAX_NESTING = 3  # attachments of attachments of attachments
log = logging.getLogger("kho.ingest")


@dataclass(frozen=True)
class BatchOptions:
    name: str
    unit: str = ""
    level: int = 0
    lang: str = DEFAULT_LANG
    groups: tuple[str, ...] = ()
    operator: str = ""
    fonds: str = ""  # the fonds code of the batch's dossiers
    dossier: str = ""  # the dossier (notation in the fonds) its files go to
    ordinal: int | None = None  # a file's number in its dossier (from a manifest row)
    folder_dossiers: bool = False  # each folder is a dossier, named by the folder
    fields: tuple[tuple[str, str], ...] = ()  # document fields a manifest row sets

    @property
    def access(self) -> Access:
        return Access(level=self.level, unit=self.unit, groups=tuple(self.groups))


@dataclass(frozen=True)
class Registered:
    """What registration decided for one source path."""

    path: str
    status: str  # new | duplicate | failed | skipped
    doc_id: str | None = None
    pages: int = 0
    reason: str = ""
    notes: tuple[str, ...] = ()  # access kept or tightened, said to the operator


@dataclass
class Registration:
    batch_id: int
    files: list[Registered] = field(default_factory=list)
    manifest_errors: int = 0  # rows or manifests the operator must fix

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


def register_batch(
    catalog: cat.Catalog,
    storage: Storage,
    paths: Iterable[Path],
    opts: BatchOptions,
    limits: Limits,
    on_file: Callable[[Registered], None] | None = None,
) -> Registration:
    """Register every file under `paths` in the batch `opts.name` (created if new)."""
    paths = [Path(p) for p in paths]
    found = list(discover(paths))  # raises IngestError for a missing path, before any work
    batch_id = catalog.open_batch(
        opts.name,
        unit=opts.unit,
        level=opts.level,
        lang=opts.lang,
        sources=[str(p.resolve()) for p in paths],
        operator=opts.operator,
    )
    roots = ingest_roots(paths)
    manifests = load_manifests(
        manifests_governing([f.path.resolve() for f in found if f.kind], roots)
    )
    result = Registration(batch_id, manifest_errors=manifests.errors)

    def report(reg: Registered) -> None:
        result.files.append(reg)
        if on_file:
            on_file(reg)

    for where, reason in manifests.problems:  # rows naming no file of the batch: said, not kept
        report(Registered(where, cat.FILE_FAILED, reason=reason))
    for item in found:
        for reg in _register_found(catalog, storage, batch_id, item, opts, limits, manifests):
            report(reg)
    result.manifest_errors = manifests.errors  # with the files no dossier could take
    return result


def _register_found(
    catalog, storage, batch_id, item: Found, opts: BatchOptions, limits, manifests: Manifests
) -> list[Registered]:
    rule = manifests.rule_for(item.path.resolve()) if item.kind else {}
    if isinstance(rule, str):  # the manifest is wrong about this file: never guess a level
        path = str(item.path.resolve())
        catalog.record_file(batch_id, path, cat.FILE_FAILED, reason=rule)
        return [Registered(path, cat.FILE_FAILED, reason=rule)]
    opts = replace(opts, **rule)
    if item.kind and opts.folder_dossiers and "dossier" not in rule:
        opts = replace(opts, dossier=item.path.resolve().parent.name)
    problem = _placement_problem(catalog, opts) if item.kind else None
    if problem:  # checked before anything is stored: the file waits for a right row
        manifests.misplaced += 1
        path = str(item.path.resolve())
        catalog.record_file(batch_id, path, cat.FILE_FAILED, reason=problem)
        return [Registered(path, cat.FILE_FAILED, reason=problem)]
    regs = register_file(catalog, storage, batch_id, item, opts, limits)
    if regs[0].doc_id and regs[0].status != cat.FILE_FAILED:
        if opts.fields:  # checked with the row: what a person wrote, confirmed
            try:
                catalog.edit_document(
                    regs[0].doc_id, dict(opts.fields), opts.operator, {"via": "ingest"}
                )
            except KhoError as err:
                note = f"fields of the manifest row not set: {err}"
                regs[0] = replace(regs[0], notes=(*regs[0].notes, note))
        if opts.dossier:
            regs[0] = _place(catalog, regs[0], opts)
    return regs


def _placement_problem(catalog: cat.Catalog, opts: BatchOptions) -> str | None:
    """Why the file's dossier cannot take it (unknown fonds, bad notation, ordinal taken)."""
    if not (opts.dossier or opts.ordinal):
        return None
    if not opts.dossier:
        return "an ordinal needs a dossier: give the dossier column (or --dossier)"
    if not opts.fonds:
        return f"dossier {opts.dossier!r} needs its fonds: give the fonds column or --fonds"
    try:
        catalog.check_placement(opts.fonds, opts.dossier, opts.ordinal)
    except KhoError as err:
        return str(err)
    return None


def _place(catalog: cat.Catalog, reg: Registered, opts: BatchOptions) -> Registered:
    """File a registered document in its dossier (made if new), said to the operator."""
    if reg.doc_id is None:
        return reg
    try:
        note = catalog.file_document(
            reg.doc_id, opts.fonds, opts.dossier, opts.ordinal, opts.access, opts.operator
        )
    except KhoError as err:  # taken meanwhile: the document stays, outside any dossier
        note = f"not filed in dossier {opts.dossier}: {err}"
    return replace(reg, notes=(*reg.notes, note)) if note else reg


def register_file(
    catalog: cat.Catalog,
    storage: Storage,
    batch_id: int,
    item: Found,
    opts: BatchOptions,
    limits: Limits,
    *,
    recorded_as: str | None = None,
    parent: tuple[str, str] | None = None,
    depth: int = 0,
) -> list[Registered]:
    """Register one file, then the files it carries (a PDF's attachments); bad input
    becomes a failed record with its reason, never a crash.

    `recorded_as` names the file in the batch when it is not a source path (an
    attachment); `parent` is (document id, attachment name) for an attachment.
    """
    reg = _register_one(catalog, storage, batch_id, item, opts, limits, recorded_as, parent)
    out = [reg]
    if reg.status in (cat.FILE_NEW, cat.FILE_DUPLICATE) and item.kind == "pdf" and reg.doc_id:
        doc = catalog.document(reg.doc_id)
        kids = replace(opts, level=doc.level, unit=doc.unit, groups=tuple(doc.groups or ()))
        children = _register_attachments(
            catalog, storage, batch_id, item.path, reg, kids, limits, depth
        )
        ids = [c.doc_id for c in children if c.doc_id and c.status != cat.FILE_FAILED]
        known = list((doc.meta or {}).get("attachments", []))
        if ids and set(ids) - set(known):  # the PDF knows its children: marks reach them
            catalog.set_document(doc.id, meta={**(doc.meta or {}), "attachments": known + ids})
        out += children
    return out


def _register_one(
    catalog, storage, batch_id, item: Found, opts, limits, recorded_as, parent
) -> Registered:
    path = recorded_as or str(item.path.resolve())
    if item.kind is None and item.reason:
        path = recorded_as or str(item.path.absolute())  # a link is named as itself
        catalog.record_file(batch_id, path, cat.FILE_SKIPPED, reason=item.reason)
        return Registered(path, cat.FILE_SKIPPED, reason=item.reason)
    earlier = catalog.file_status(batch_id, path)
    if earlier is not None and earlier.status in (cat.FILE_NEW, cat.FILE_DUPLICATE):
        doc = catalog.get_document(earlier.doc_id) if earlier.doc_id else None
        if doc is not None:  # resumed batch: already registered
            return Registered(path, earlier.status, doc.id, doc.page_count)
    doc_id = None
    try:
        size = item.path.stat().st_size
        if size > limits.max_file_bytes:
            raise LimitExceededError(
                f"file is {size:,} bytes, over limits.max_file_bytes={limits.max_file_bytes:,}"
            )
        doc_id = sha256_file(item.path)
        known = catalog.get_document(doc_id)
        notes = _settle_access(catalog, known, opts, path) if known is not None else ()
        if known is not None and known.status != cat.FAILED:
            status = cat.FILE_NEW if known.batch_id == batch_id else cat.FILE_DUPLICATE
            if status == cat.FILE_NEW and _already_listed(catalog, batch_id, doc_id, path):
                status = cat.FILE_DUPLICATE
            catalog.record_file(batch_id, path, status, doc_id)
            return Registered(path, status, doc_id, known.page_count, notes=notes)
        with open_source(item.path, limits) as src:
            kind, pages = src.kind, src.page_count
        storage.store_original(item.path, doc_id, EXT[kind])
        if known is not None:  # failed before (e.g. limits since raised): start over
            catalog.set_document(
                doc_id, status=cat.REGISTERED, reason="", kind=kind, page_count=pages
            )
            catalog.reset_pages(doc_id, pages)
        elif not catalog.add_document(_document(doc_id, batch_id, item, opts, parent, kind, pages)):
            pass  # registered concurrently by another batch: fine, same bytes
        catalog.record_file(batch_id, path, cat.FILE_NEW, doc_id)
        return Registered(path, cat.FILE_NEW, doc_id, pages, notes=notes)
    except BadInputError as err:
        if (trouble := storage_trouble(err, storage.root)) is not None:
            raise trouble from err
        reason = str(err)
        if doc_id is not None:
            failed = _document(doc_id, batch_id, item, opts, parent, "", 0)
            failed.status, failed.reason = cat.FAILED, reason
            catalog.add_failed_document(failed)
        catalog.record_file(batch_id, path, cat.FILE_FAILED, doc_id, reason)
        return Registered(path, cat.FILE_FAILED, doc_id, reason=reason)
    except OSError as err:
        if (trouble := storage_trouble(err, storage.root)) is not None:
            raise trouble from err  # the disk is full or failing: not the file's fault
        reason = f"cannot read file: {err.strerror or err}"
        catalog.record_file(batch_id, path, cat.FILE_FAILED, doc_id, reason)
        return Registered(path, cat.FILE_FAILED, doc_id, reason=reason)


def _document(doc_id, batch_id, item: Found, opts, parent, kind: str, pages: int):
    meta = {"parent": parent[0], "attachment": parent[1]} if parent else {}
    return cat.Document(
        id=doc_id,
        batch_id=batch_id,
        filename=parent[1] if parent else item.path.name,
        kind=kind,
        size=item.path.stat().st_size,
        page_count=pages,
        unit=opts.unit,
        level=opts.level,
        groups=list(opts.groups),
        lang=opts.lang,
        meta=meta,
    )


def _settle_access(catalog, known: cat.Document, opts: BatchOptions, path: str) -> tuple:
    """The same bytes again: store the stricter access of both, and say what happened.

    A tightened document that was indexed goes back to registered, so the executor
    indexes it again with its new access (and `kho resume` would, after a crash)."""
    merge = merge_access(known.access, opts.access)
    values: dict = {}
    notes = []
    if merge.changed:
        values = {"unit": merge.access.unit, "groups": list(merge.access.groups)}
        if known.status == cat.INDEXED:
            values["status"] = cat.REGISTERED
        notes.append(
            f"same bytes as document {known.id[:12]}: access tightened "
            f"({'; '.join(merge.tightened)}), re-indexed"
        )
    if merge.kept:
        notes.append(
            f"same bytes as document {known.id[:12]}: its stricter access is kept "
            f"({'; '.join(merge.kept)} was not taken)"
        )
    held = (known.meta or {}).get("mark_review") or {}
    if held.get("status") == "pending" and held.get("level_before", 0) < opts.level:
        # held at level 3 for an unreadable mark: the level a person may settle it at is
        # never under what this arrival asks for
        values["meta"] = {**known.meta, "mark_review": {**held, "level_before": opts.level}}
    catalog.raise_level(known.id, merge.access.level)  # only ever up: a mark may have raised it
    if values:  # then unit and groups, and back to registered for the executor
        catalog.set_document(known.id, **values)
    for note in notes:
        log.warning("%s: %s", path, note)
    return tuple(notes)


def _register_attachments(
    catalog, storage, batch_id, source: Path, reg: Registered, opts, limits, depth: int
) -> list[Registered]:
    """Each file the PDF carries, as a document of its own at the PDF's access."""
    from .pdfsafe import pdf_attachments

    parent_id = reg.doc_id
    if parent_id is None:
        raise RuntimeError(f"{reg.path}: attachments of a file that made no document")
    try:
        attachments = pdf_attachments(source, limits.max_file_bytes)
    except BadInputError as err:
        where = f"{reg.path}#attachments"
        reason = f"{err} (the PDF itself is served without them)"
        catalog.record_file(batch_id, where, cat.FILE_FAILED, reason=reason)
        return [Registered(where, cat.FILE_FAILED, reason=reason)]
    out: list[Registered] = []
    if not attachments:
        return out
    scratch = Path(tempfile.mkdtemp(dir=storage.root, prefix=".attachments-"))
    try:
        for n, att in enumerate(attachments, start=1):
            where = f"{reg.path}#attachment-{n}:{att.name}"
            file = scratch / f"{n}{Path(att.name).suffix.lower()}"
            file.write_bytes(att.data)
            if depth >= MAX_NESTING:
                reason = f"attachment nested more than {MAX_NESTING} deep: extract it first"
                out.append(_refuse(catalog, batch_id, where, reason))
                continue
            kind = _kind(file)
            if kind is None:
                reason = (
                    f"attachment {att.name!r}: {unsupported_reason(file)}; the served PDF leaves "
                    "it out: extract it and ingest it on its own if it holds a record"
                )
                catalog.record_file(batch_id, where, cat.FILE_SKIPPED, reason=reason)
                out.append(Registered(where, cat.FILE_SKIPPED, reason=reason))
                continue
            out += register_file(
                catalog,
                storage,
                batch_id,
                Found(file, kind),
                opts,
                limits,
                recorded_as=where,
                parent=(parent_id, att.name),
                depth=depth + 1,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def _kind(path: Path) -> str | None:
    try:
        return sniff(path) or EXTENSIONS.get(path.suffix.lower())
    except BadInputError:
        return None


def _refuse(catalog, batch_id: int, where: str, reason: str) -> Registered:
    catalog.record_file(batch_id, where, cat.FILE_FAILED, reason=reason)
    return Registered(where, cat.FILE_FAILED, reason=reason)


def _already_listed(catalog: cat.Catalog, batch_id: int, doc_id: str, path: str) -> bool:
    """True if another path of this batch already brought the same bytes."""
    return catalog.other_path_with_doc(batch_id, doc_id, path)
