"""An archival information package of a dossier (Circular 05/2025/TT-BNV): a BagIt bag
(SHA-512 manifests and tag manifests) holding

    data/originals/<doc id>.<ext>           every original, byte for byte
    data/pdf/<ordinal>-<doc id>.pdf         each document's PDF (master, else searchable)
    data/alto/<doc id>/page-00001.xml       ALTO v4 of every page
    data/metadata/mets.xml                  METS + PREMIS (`archive.mets`)
    data/metadata/dossier.xml, dc.xml       the Annex VI export and Dublin Core

A package is whole or not made: a dossier holding a document the principal may not see is
refused, and nothing is written until the bag is complete (built beside the target, then
renamed into place). `verify_package` checks a bag and its METS, one line per problem.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import bagit

from kho.archive.dossier_export import (
    DossierExport,
    document_pdf,
    dossier_xml,
    export_of,
    xml_bytes,
)
from kho.archive.mets import (
    METS_NS,
    XLINK_NS,
    DocumentPart,
    PackageFile,
    dublin_core,
    mets_document,
)
from kho.archive.provenance import Provenance, document_events, edit_events
from kho.core.catalog import Catalog
from kho.core.errors import NotFoundError, StorageError, UsageError
from kho.core.models import Dossier, now
from kho.core.permissions import PRIVATE
from kho.core.storage import Storage, atomic_copy, atomic_write_bytes, file_digest
from kho.core.types import Principal
from kho.ocr.export import to_alto

EXT = {"tiff": "tif", "png": "png", "jpeg": "jpg", "pdf": "pdf"}
MIME = {"tiff": "image/tiff", "png": "image/png", "jpeg": "image/jpeg", "pdf": "application/pdf"}
METS_PATH = "metadata/mets.xml"  # under data/


class IncompleteDossierError(NotFoundError):
    """The principal may not see every document of the dossier."""


@dataclass(frozen=True)
class Packaged:
    code: str
    path: Path
    documents: tuple[str, ...]
    files: int
    bytes: int


def check_whole(catalog: Catalog, dossier: Dossier, seen: int, name: str) -> None:
    """A package (or a record sent on) holds the whole dossier: refuse when the principal
    saw only `seen` of its documents."""
    if seen < len(catalog.ordered(dossier.id)):
        raise IncompleteDossierError(
            f"dossier {name} holds documents you may not see: a package must hold the "
            "whole dossier; ask someone cleared for all of it to make the package"
        )


def sha512_file(path: Path) -> str:
    return file_digest(path, "sha512")


def package_dossier(
    catalog: Catalog, storage: Storage, dossier: Dossier, principal: Principal, out: Path,
    provenance: Provenance,
) -> Packaged:  # fmt: skip
    """Write the package of `dossier` to `out` (absent or empty), or refuse with nothing written."""
    export = export_of(catalog, dossier, principal)
    check_whole(catalog, dossier, len(export.members), export.code)
    fonds = export.fonds.values
    provenance = replace(provenance, organization=fonds.get("name") or fonds["code"])
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty folder: give a new --out")
    PRIVATE.make_dirs(out.parent)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part"))
    try:
        _write_payload(catalog, storage, export, staging, provenance)
        _bag(staging, export, principal)
        if out.exists():
            out.rmdir()
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = [p for p in out.rglob("*") if p.is_file()]
    docs = tuple(m.doc.id for m in export.members)
    return Packaged(export.code, out, docs, len(files), sum(p.stat().st_size for p in files))


def _write_payload(catalog, storage, export: DossierExport, root: Path, provenance) -> None:
    """Every payload file, then mets.xml naming them (paths relative to metadata/)."""
    parts = []
    edits = edit_events(catalog, {m.doc.id for m in export.members})
    for m in export.members:
        doc = m.doc
        original = storage.original(doc.id, EXT[doc.kind])
        if not original.is_file():
            raise StorageError(f"document {doc.id[:12]}: its original {original} is missing")
        orig = _copy(original, root, f"originals/{doc.id}.{EXT[doc.kind]}", "ORIGINAL",
                     MIME[doc.kind], f"ORIG_{m.ordinal}")  # fmt: skip
        pdf = _copy(document_pdf(storage, doc.id), root, f"pdf/{m.ordinal:03d}-{doc.id}.pdf",
                    "PDF", "application/pdf", f"PDF_{m.ordinal}")  # fmt: skip
        altos = [
            _write(
                root,
                f"alto/{doc.id}/page-{p:05d}.xml",
                _alto(storage, doc.id, p),
                "ALTO",
                "application/alto+xml",
                f"ALTO_{m.ordinal}_{p}",
            )  # fmt: skip
            for p in range(1, doc.page_count + 1)
        ]
        events = document_events(catalog, storage, m, orig, pdf, provenance, edits)
        parts.append(DocumentPart(m, orig, pdf, altos, events))
    metadata = [
        _write(root, "metadata/dossier.xml", dossier_xml(export), "METADATA",
               "application/xml", "MD_DOSSIER"),
        _write(root, "metadata/dc.xml", _dc_xml(export), "METADATA", "application/xml", "MD_DC"),
    ]  # fmt: skip
    mets = mets_document(export, parts, metadata, provenance.agents(parts), now())
    atomic_write_bytes(root / METS_PATH, mets, PRIVATE)


def _alto(storage: Storage, doc_id: str, page: int) -> bytes:
    path = storage.page_text_path(doc_id, page)
    if not path.is_file():
        raise StorageError(
            f"document {doc_id[:12]} page {page} has no text under {path.parent}: finish it "
            "(kho resume) before packaging"
        )
    return to_alto([storage.read_page_text(doc_id, page)], f"page-{page:05d}.jpg").encode()


def _copy(src: Path, root: Path, rel: str, use: str, mime: str, ident: str) -> PackageFile:
    dst = root / rel
    atomic_copy(src, dst, PRIVATE)
    return PackageFile(ident, f"../{rel}", use, mime, dst.stat().st_size, sha512_file(dst))


def _write(root: Path, rel: str, data: bytes, use: str, mime: str, ident: str) -> PackageFile:
    atomic_write_bytes(root / rel, data, PRIVATE)
    href = rel.removeprefix("metadata/") if rel.startswith("metadata/") else f"../{rel}"
    return PackageFile(ident, href, use, mime, len(data), hashlib.sha512(data).hexdigest())


def _dc_xml(export: DossierExport) -> bytes:
    el = dublin_core(export)
    ET.indent(el, space=" ")
    return xml_bytes(el)


def _bag(root: Path, export: DossierExport, principal: Principal) -> None:
    info = {
        "Source-Organization": export.fonds.values.get("name") or export.fonds.values["code"],
        "External-Identifier": export.code,
        "External-Description": export.dossier.values.get("title") or export.code,
        "Contact-Name": principal.name,
    }
    bagit.make_bag(str(root), info, processes=1, checksums=["sha512"])


# verifying ---------------------------------------------------------------------------------
def verify_package(path: Path) -> list[str]:
    """Every problem of a package, one line each (none: it is whole): the bag's manifests
    and checksums, mets.xml parsing, each file METS names present with the SHA-512 and
    size it states, and every payload file named by METS."""
    path = Path(path)
    try:
        bag = bagit.Bag(str(path))
    except bagit.BagError as err:
        return [f"{path}: not a BagIt bag ({err})"]
    problems: list[str] = []
    try:
        bag.validate(processes=1)
        checked = {rel: h.get("sha512") for rel, h in bag.payload_entries().items()}
    except bagit.BagValidationError as err:
        problems += [f"bag: {d}" for d in err.details] or [f"bag: {err.message}"]
        if not err.details:  # a count/size summary (Payload-Oxum) stopped it before the files
            problems += _manifest_problems(bag)
        checked = {}
    data = (path / "data").resolve()
    mets_path = data / METS_PATH
    try:
        root = ET.parse(mets_path).getroot()
    except (OSError, ET.ParseError) as err:
        return [*problems, f"data/{METS_PATH}: cannot be read as XML ({err})"]
    named = _check_mets_files(root, mets_path.parent, data, checked, problems)
    for f in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = f.relative_to(data).as_posix()
        if rel != METS_PATH and rel not in named:
            problems.append(f"data/{rel}: in the bag but not named by METS")
    return problems


def _manifest_problems(bag: bagit.Bag) -> list[str]:
    """Each payload file that differs from the bag's SHA-512 manifest, is missing or extra."""
    entries = bag.payload_entries()
    problems = []
    for rel, hashes in sorted(entries.items()):
        target = Path(bag.path) / rel
        if not target.is_file():
            problems.append(f"bag: {rel} is in the manifest but missing")
        elif "sha512" in hashes and sha512_file(target) != hashes["sha512"]:
            problems.append(f"bag: {rel}: SHA-512 differs from manifest-sha512.txt")
    problems += [
        f"bag: {f} is not in the manifest" for f in bag.payload_files() if f not in entries
    ]
    return problems


def _check_mets_files(root, base: Path, data: Path, checked: dict, problems: list) -> set:
    """The files METS names, checked; `checked`: data/ path -> SHA-512 bagit just verified
    (a file is hashed again only when the bag did not hold up)."""
    named, ids = set(), set()
    for f in root.iter(f"{{{METS_NS}}}file"):
        ids.add(f.get("ID"))
        loc = f.find(f"{{{METS_NS}}}FLocat")
        href = loc.get(f"{{{XLINK_NS}}}href", "") if loc is not None else ""
        target = (base / href).resolve()
        if not href or not target.is_relative_to(data):
            problems.append(f"METS file {f.get('ID')}: its location {href!r} is not in the bag")
            continue
        rel = target.relative_to(data).as_posix()
        named.add(rel)
        if not target.is_file():
            problems.append(f"data/{rel}: named by METS but missing from the bag")
        elif f.get("CHECKSUMTYPE") != "SHA-512" or (
            checked.get(f"data/{rel}") or sha512_file(target)
        ) != f.get("CHECKSUM"):
            problems.append(f"data/{rel}: SHA-512 differs from the one METS states")
        elif str(target.stat().st_size) != f.get("SIZE"):
            problems.append(f"data/{rel}: size differs from the one METS states")
    for ptr in root.iter(f"{{{METS_NS}}}fptr"):
        if ptr.get("FILEID") not in ids:
            problems.append(f"METS structMap points at {ptr.get('FILEID')!r}, no file of fileSec")
    return named
