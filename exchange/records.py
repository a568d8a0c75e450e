"""One record of a transfer package: a dossier with everything needed to hold it elsewhere,
signed by the node that made it and by every node that relayed it.

    record.json          the fonds, dossier and documents (every column to recreate them)
    access.json          the dossier's and each document's access, secrecy mark
    package/             the dossier's archival package (`archive.package.package_dossier`)
    pagetext/<doc>/      the stored page texts (search and page view without OCR)
    images/<doc>/        the stored page images, when there are any
    origin.sig           the origin's "record" signature of the record digest
    chain.json           [{node, at, signature}] one hop per relay: "hop" signature of the
                         record digest and the signature before it

The record digest is the SHA-512 of the sorted lines "<sha512>  <path>" of every file but
origin.sig and chain.json: a relay adds its hop and changes nothing else. A tombstone (a
withdrawn record) holds record.json (kind "tombstone"), access.json and the signatures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kho.archive.package import package_dossier
from kho.archive.provenance import Provenance
from kho.core.catalog import Catalog
from kho.core.models import Dossier
from kho.core.permissions import PRIVATE
from kho.core.storage import Storage, atomic_write_bytes, file_digest
from kho.core.transfers import DOCUMENT_SKIP, DOSSIER_SKIP, FONDS_SKIP, row_fields
from kho.core.types import Principal
from kho.exchange.errors import TransferRefused
from kho.exchange.identity import Identity, IdentityError, Node, SignatureError, b64, unb64
from kho.exchange.package import canonical, identity_dict, identity_of, iso_now

SIGNATURES = ("origin.sig", "chain.json")
PAGE_SKIP = {"doc_id", "seconds", "attempts", "reason", "updated_at", "failed_at", "retry_at"}


@dataclass(frozen=True)
class Written:
    """A record folder made here: its id, version, state and record digest, documents."""

    record: str
    version: int
    state: str
    digest: str
    documents: int


def record_id(origin_fp: str, dossier_id: int) -> str:
    return f"{origin_fp[:16]}-{dossier_id}"


def _files(folder: Path, skip_signatures: bool = True) -> list[Path]:
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            raise TransferRefused(f"record {folder.name} holds a link ({p.name}); refused")
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not (skip_signatures and rel in SIGNATURES):
            files.append(p)
    return files


def record_digest(folder: Path, known: dict[str, str] | None = None) -> str:
    """The SHA-512 over the list of the folder's files and their SHA-512s; `known` gives
    those already taken (path in the folder -> digest), the others are read."""
    known = known or {}
    lines = []
    for p in _files(folder):
        rel = p.relative_to(folder).as_posix()
        lines.append(f"{known.get(rel) or file_digest(p, 'sha512')}  {rel}")
    return hashlib.sha512(("\n".join(sorted(lines)) + "\n").encode()).hexdigest()


def state_digest(folder: Path, body: dict) -> str:
    """What a record holds, `body` being its record.json without its version: leaves out
    what is made afresh each time it is packaged (the package's METS, PDFs, ALTO and
    manifests). `--since-last` compares it with the one last sent."""
    lines = [hashlib.sha512(canonical(body)).hexdigest() + "  record.json"]
    for p in _files(folder):
        rel = p.relative_to(folder).as_posix()
        if rel != "record.json" and (
            not rel.startswith("package/") or rel.startswith("package/data/originals/")
        ):
            lines.append(f"{file_digest(p, 'sha512')}  {rel}")
    return hashlib.sha512(("\n".join(sorted(lines)) + "\n").encode()).hexdigest()


def _write_json(path: Path, body) -> None:
    atomic_write_bytes(path, json.dumps(body, indent=1, ensure_ascii=False).encode(), PRIVATE)


def sign_origin(node: Node, folder: Path) -> str:
    """Sign the record folder as its origin; returns its record digest."""
    digest = record_digest(folder)
    atomic_write_bytes(
        folder / "origin.sig", b64(node.sign("record", digest.encode())).encode(), PRIVATE
    )
    _write_json(folder / "chain.json", [])
    return digest


def add_hop(node: Node, folder: Path) -> str:
    """Append this node's hop to a received record's chain; returns the record digest."""
    digest = record_digest(folder)
    chain = json.loads((folder / "chain.json").read_bytes())
    prev = chain[-1]["signature"] if chain else (folder / "origin.sig").read_text().strip()
    sig = b64(node.sign("hop", digest.encode() + prev.encode()))
    chain.append({"node": identity_dict(node.identity), "at": iso_now(), "signature": sig})
    _write_json(folder / "chain.json", chain)
    return digest


def write_record(
    catalog: Catalog,
    storage: Storage,
    dossier: Dossier,
    principal: Principal,
    folder: Path,
    provenance: Provenance,
    node: Node,
    version_for: Callable[[str, str], int],
) -> Written:
    """The record folder of a dossier made here, signed; its version is
    `version_for(record, state digest)` (the state decides whether it is a new one)."""
    d, fonds = catalog.dossier_by_id(dossier.id)
    record = record_id(node.fingerprint, d.id)
    members = catalog.ordered(d.id)
    package_dossier(catalog, storage, d, principal, folder / "package", provenance)
    pages = catalog.pages_of([doc.id for _, doc in members])
    documents, access = [], {}
    for _, doc in members:
        row = row_fields(doc, DOCUMENT_SKIP)
        row["pages"] = [row_fields(p, PAGE_SKIP) for p in pages.get(doc.id, [])]
        documents.append(row)
        meta = doc.meta or {}
        access[doc.id] = {
            "level": doc.level,
            "unit": doc.unit,
            "groups": list(doc.groups or []),
            "mark": str(meta.get("mark") or meta.get("mark_found") or ""),
            "declassify_date": doc.declassify_date.isoformat() if doc.declassify_date else "",
        }
        for n in range(1, doc.page_count + 1):
            for src, dst in (
                (storage.page_text_path(doc.id, n), f"pagetext/{doc.id}/page-{n:05d}.json"),
                (storage.page_image(doc.id, n), f"images/{doc.id}/page-{n:05d}.jpg"),
            ):
                if src.is_file():
                    (folder / dst).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, folder / dst)
    dossier_access = {"level": d.level, "unit": d.unit, "groups": list(d.groups or [])}
    _write_json(folder / "access.json", {"dossier": dossier_access, "documents": access})
    body = {
        "record": record,
        "kind": "dossier",
        "origin": identity_dict(node.identity),
        "fonds": row_fields(fonds, FONDS_SKIP),
        "dossier": row_fields(d, DOSSIER_SKIP),
        "documents": documents,
    }
    state = state_digest(folder, body)
    version = version_for(record, state)
    _write_json(folder / "record.json", {**body, "version": version})
    return Written(record, version, state, sign_origin(node, folder), len(documents))


def write_tombstone(folder: Path, node: Node, record: str, version: int) -> Written:
    """A withdrawn record made here: says so, signed."""
    folder.mkdir(parents=True, exist_ok=True)
    body = {"record": record, "kind": "tombstone", "origin": identity_dict(node.identity)}
    _write_json(folder / "access.json", {"dossier": {}, "documents": {}})
    state = state_digest(folder, body)
    _write_json(folder / "record.json", {**body, "version": version})
    return Written(record, version, state, sign_origin(node, folder), 0)


# reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedRecord:
    """A record folder whose signatures hold: the origin's and each relay's."""

    folder: Path
    body: dict
    access: dict
    origin: Identity
    chain: list
    digest: str

    @property
    def record(self) -> str:
        return self.body["record"]

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def version(self) -> int:
        return self.body["version"]


def read_record(folder: Path, sender: Identity, known: dict | None = None) -> ReceivedRecord:
    """The record in `folder`, refused unless its origin signed it, every hop after signed
    it in turn, and the last signer is `sender` (`known`: as for `record_digest`)."""
    name = folder.name
    try:
        body = json.loads((folder / "record.json").read_bytes())
        access = json.loads((folder / "access.json").read_bytes())
        chain = json.loads((folder / "chain.json").read_bytes())
        origin_sig = (folder / "origin.sig").read_text(encoding="ascii").strip()
    except (OSError, ValueError) as err:
        raise TransferRefused(f"record {name}: unreadable ({err}); refused") from err
    if not isinstance(body, dict) or body.get("kind") not in ("dossier", "tombstone"):
        raise TransferRefused(f"record {name}: record.json is not a kho record")
    if not isinstance(body.get("version"), int) or not isinstance(chain, list):
        raise TransferRefused(f"record {name}: record.json has no version or chain.json no list")
    origin = identity_of(body.get("origin"), f"record {name}'s origin")
    if body.get("record") != name or not name.startswith(origin.fingerprint[:16] + "-"):
        raise TransferRefused(f"record {name}: its id is not its origin's ({origin.name})")
    digest = record_digest(folder, known)
    signer, prev = origin, origin_sig
    try:
        origin.verify("record", digest.encode(), unb64(origin_sig, "origin.sig", 64))
        for hop in chain:
            signer = identity_of(hop.get("node") if isinstance(hop, dict) else None, "a hop")
            signer.verify("hop", digest.encode() + prev.encode(), unb64(hop["signature"], "hop"))
            prev = hop["signature"]
    except (SignatureError, IdentityError, KeyError, TypeError) as err:
        raise TransferRefused(f"record {name}: a signature does not hold ({err}); refused") from err
    if signer.fingerprint != sender.fingerprint:
        raise TransferRefused(
            f"record {name}: last signed by {signer.name}, not by the sender {sender.name}"
        )
    return ReceivedRecord(folder, body, access, origin, chain, digest)
