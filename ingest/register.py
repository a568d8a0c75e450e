"""Register a batch: each source file becomes a document (id = SHA-256) with pending pages.

Registration is cheap and idempotent: it hashes, validates and counts pages, copies the
original under the storage root and writes catalog rows. Reading the pages is the
executor's work. Re-running a batch skips what it already registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kho.core import catalog as cat
from kho.core.errors import BadInputError, LimitExceededError, storage_trouble
from kho.core.settings import Limits
from kho.core.storage import Storage, sha256_file

from .discover import Found, discover
from .formats import open_source
from .manifest import load_manifests

EXT = {"tiff": "tif", "png": "png", "jpeg": "jpg", "pdf": "pdf"}


@dataclass(frozen=True)
class BatchOptions:
    name: str
    unit: str = ""
    level: int = 0
    lang: str = "vie+eng"
    groups: tuple[str, ...] = ()
    operator: str = ""


@dataclass(frozen=True)
class Registered:
    """What registration decided for one source path."""

    path: str
    status: str  # new | duplicate | failed | skipped
    doc_id: str | None = None
    pages: int = 0
    reason: str = ""


@dataclass
class Registration:
    batch_id: int
    files: list[Registered] = field(default_factory=list)

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
    manifest = load_manifests(paths)
    result = Registration(batch_id)
    for item in found:
        file_opts = opts
        if item.path.resolve() in manifest:
            file_opts = replace(opts, **manifest[item.path.resolve()])
        reg = register_file(catalog, storage, batch_id, item, file_opts, limits)
        result.files.append(reg)
        if on_file:
            on_file(reg)
    return result


def register_file(
    catalog: cat.Catalog,
    storage: Storage,
    batch_id: int,
    item: Found,
    opts: BatchOptions,
    limits: Limits,
) -> Registered:
    """Register one file; bad input becomes a failed record with its reason, never a crash."""
    path = str(item.path.resolve())
    if item.kind is None and item.reason:
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
        if known is not None and known.status != cat.FAILED:
            status = cat.FILE_NEW if known.batch_id == batch_id else cat.FILE_DUPLICATE
            if status == cat.FILE_NEW and _already_listed(catalog, batch_id, doc_id, path):
                status = cat.FILE_DUPLICATE
            catalog.record_file(batch_id, path, status, doc_id)
            return Registered(path, status, doc_id, known.page_count)
        with open_source(item.path, limits) as src:
            kind, pages = src.kind, src.page_count
        storage.store_original(item.path, doc_id, EXT[kind])
        doc = cat.Document(
            id=doc_id,
            batch_id=batch_id,
            filename=item.path.name,
            kind=kind,
            size=size,
            page_count=pages,
            unit=opts.unit,
            level=opts.level,
            groups=list(opts.groups),
            lang=opts.lang,
        )
        if known is not None:  # failed before (e.g. limits since raised): start over
            catalog.set_document(
                doc_id, status=cat.REGISTERED, reason="", kind=kind, page_count=pages
            )
            catalog.reset_pages(doc_id, pages)
        elif not catalog.add_document(doc):
            pass  # registered concurrently by another batch: fine, same bytes
        catalog.record_file(batch_id, path, cat.FILE_NEW, doc_id)
        return Registered(path, cat.FILE_NEW, doc_id, pages)
    except BadInputError as err:
        if (trouble := storage_trouble(err, storage.root)) is not None:
            raise trouble from err
        reason = str(err)
        if doc_id is not None:
            catalog.add_failed_document(
                cat.Document(
                    id=doc_id,
                    batch_id=batch_id,
                    filename=item.path.name,
                    size=item.path.stat().st_size,
                    unit=opts.unit,
                    level=opts.level,
                    status=cat.FAILED,
                    reason=reason,
                )
            )
        catalog.record_file(batch_id, path, cat.FILE_FAILED, doc_id, reason)
        return Registered(path, cat.FILE_FAILED, doc_id, reason=reason)
    except OSError as err:
        if (trouble := storage_trouble(err, storage.root)) is not None:
            raise trouble from err  # the disk is full or failing: not the file's fault
        reason = f"cannot read file: {err.strerror or err}"
        catalog.record_file(batch_id, path, cat.FILE_FAILED, doc_id, reason)
        return Registered(path, cat.FILE_FAILED, doc_id, reason=reason)


def _already_listed(catalog: cat.Catalog, batch_id: int, doc_id: str, path: str) -> bool:
    """True if another path of this batch already brought the same bytes."""
    return catalog.other_path_with_doc(batch_id, doc_id, path)
