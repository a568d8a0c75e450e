"""The transfer package: what one unit archive sends another, as a folder and as a file.

A package file is an uncompressed POSIX tar of one folder `transfer/` (optionally sealed for
its recipient, `exchange.seal`), a BagIt bag with SHA-512 manifests only:

    bag-info.txt             Source-Organization (sender organ), External-Identifier
                             (<sender fp16>-<seq>), Bagging-Date
    transfer.json            a tag file: sender identity, recipient fingerprint, seq, the
                             previous package's digest, operator, the records it carries
    signature.txt            the sender's "transfer" signature of tagmanifest-sha512.txt
                             (not itself in the tag manifest)
    data/records/<record>/   one folder per record (`exchange.records`), each signed by
                             the node that made it (origin.sig) and by every relay
                             (chain.json)

The package's digest, its content hash, is the SHA-512 of tagmanifest-sha512.txt: the
signature covers it, and so every tag file and, through the manifest, every payload file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bagit

from kho.exchange.errors import PackageError, TransferRefused
from kho.exchange.identity import Identity, IdentityError, Node, SignatureError, b64, unb64

FORMAT = "kho-transfer"
RECEIPT_FORMAT = "kho-transfer-receipt"
VERSION = 1
ROOT = "transfer"
TAGMANIFEST = "tagmanifest-sha512.txt"
SIGNATURE = "signature.txt"
META = "transfer.json"


def canonical(obj) -> bytes:
    """The one byte form of a JSON value that is signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def identity_dict(ident: Identity) -> dict:
    """An identity as it travels inside a package (its identity file's fields)."""
    return json.loads(ident.to_json())


def identity_of(body, what: str) -> Identity:
    """The identity a package names, checked whole (keys bound by its own signature)."""
    if not isinstance(body, dict):
        raise TransferRefused(f"{what} is not a node identity; ask the sender for a new package")
    try:
        return Identity.from_json(json.dumps(body).encode(), what)
    except IdentityError as err:
        raise TransferRefused(f"{err}; ask the sender for a new package") from err


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# building ----------------------------------------------------------------------------------
def build_package_folder(
    root: Path,
    node: Node,
    recipient: str,
    seq: int,
    prev_digest: str,
    operator: str,
    records: list[dict],
) -> str:
    """Make `root` (holding `records/<record>/` folders) the bag of a package from `node`
    to the node whose fingerprint is `recipient`; returns the package's digest."""
    info = {
        "Source-Organization": node.identity.organ_id,
        "External-Identifier": f"{node.fingerprint[:16]}-{seq}",
    }
    bag = bagit.make_bag(str(root), info, processes=1, checksums=["sha512"])
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "sender": identity_dict(node.identity),
        "recipient": recipient,
        "seq": seq,
        "prev_digest": prev_digest,
        "created": iso_now(),
        "operator": operator,
        "records": records,
    }
    (root / META).write_bytes(json.dumps(meta, indent=1, ensure_ascii=False).encode())
    bag.save(processes=1)  # the tag manifest now lists transfer.json
    tags = (root / TAGMANIFEST).read_bytes()
    (root / SIGNATURE).write_text(b64(node.sign("transfer", tags)) + "\n", encoding="ascii")
    return hashlib.sha512(tags).hexdigest()


# reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Package:
    """A package's bag, whole and unchanged since it was signed by someone (see `check_signed`)."""

    root: Path
    meta: dict
    digest: str
    tags: bytes
    signature: bytes

    @property
    def sender(self) -> Identity:
        return identity_of(self.meta.get("sender"), "the package's sender")

    def records(self) -> list[Path]:
        folder = self.root / "data" / "records"
        return sorted(p for p in folder.iterdir()) if folder.is_dir() else []

    def check_signed(self, sender: Identity) -> None:
        try:
            sender.verify("transfer", self.tags, self.signature)
        except SignatureError as err:
            raise TransferRefused(
                f"signature.txt is not the sender's signature of this package ({err}); "
                "it was changed: ask the sender for a new package"
            ) from err


def open_package(root: Path, digests: dict | None = None) -> Package:
    """The package in the bag `root`, checked whole: every payload file listed and matching,
    none missing or extra, every tag file in the tag manifest, a signature present.
    `digests` (path under root -> its `sha512`, as the unpacking took them): the files are
    not read again to check them against the manifests."""
    root = Path(root)
    quiet = logging.getLogger("bagit")
    level, quiet.level = quiet.level, logging.CRITICAL  # its problems go in our one line
    try:
        bag = bagit.Bag(str(root))
        bag.validate(processes=1, completeness_only=digests is not None)
        if digests is not None:
            _check_entries(bag, digests)
    except (bagit.BagError, bagit.BagValidationError) as err:
        raise PackageError(
            f"the package's bag does not hold: {_first_problem(err)}; "
            "copy it again or ask the sender for a new one"
        ) from err
    finally:
        quiet.level = level
    if set(bag.algorithms) != {"sha512"}:
        raise PackageError(f"the package has manifests {bag.algorithms}, not sha512 alone")
    listed = set(bag.tagfile_entries())
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).as_posix().startswith("data/")
    }
    extra = present - listed - {TAGMANIFEST, SIGNATURE}
    if extra:
        raise PackageError(f"the package holds {sorted(extra)[0]}, not in its tag manifest")
    if not (root / SIGNATURE).is_file():
        raise TransferRefused("the package has no signature.txt: ask the sender for a new one")
    try:
        meta = json.loads((root / META).read_bytes())
        signature = unb64((root / SIGNATURE).read_text(encoding="ascii").strip(), SIGNATURE, 64)
    except (OSError, ValueError, IdentityError) as err:
        raise PackageError(f"the package's {META} or {SIGNATURE} is unreadable ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PackageError(f"not a kho transfer package ({META} has no format {FORMAT})")
    if meta.get("version") != VERSION:
        raise PackageError(f"package version {meta.get('version')}; this kho reads {VERSION}")
    tags = (root / TAGMANIFEST).read_bytes()
    return Package(root, meta, hashlib.sha512(tags).hexdigest(), tags, signature)


def _check_entries(bag: bagit.Bag, digests: dict) -> None:
    """Every file the manifests list has the SHA-512 they say (the digests taken while
    unpacking); the first that differs is the bag's problem, as bagit says it."""
    for path, hashes in sorted(bag.entries.items()):
        got = digests.get(path)
        if got is None:
            raise bagit.BagValidationError("Bag is incomplete", [bagit.FileMissing(path)])
        if got.sha512 != hashes.get("sha512"):
            mismatch = bagit.ChecksumMismatch(path, "sha512", hashes.get("sha512"), got.sha512)
            raise bagit.BagValidationError("Bag validation failed", [mismatch])


def _first_problem(err: Exception) -> str:
    details = getattr(err, "details", None) or []
    if not details:
        return str(err)
    first = details[0]
    what = {
        "ChecksumMismatch": "differs from its manifest",
        "FileMissing": "is in the manifest but missing",
        "UnexpectedFile": "is in no manifest",
    }.get(type(first).__name__, "")
    path = getattr(first, "path", "")
    return f"{path} {what}" if path and what else str(first)


# receipts ----------------------------------------------------------------------------------
def make_receipt(node: Node, body: dict) -> bytes:
    receipt = {"format": RECEIPT_FORMAT, "version": VERSION, "receiver": node.fingerprint, **body}
    signed = {"receipt": receipt, "signature": b64(node.sign("receipt", canonical(receipt)))}
    return json.dumps(signed, indent=1, ensure_ascii=False).encode() + b"\n"


def read_receipt(data: bytes) -> tuple[dict, bytes]:
    """(receipt, signature) of a receipt file, not yet checked against any key."""
    try:
        body = json.loads(data)
        receipt, sig = body["receipt"], unb64(body["signature"], "the receipt's signature", 64)
    except (ValueError, KeyError, TypeError, IdentityError) as err:
        raise TransferRefused(f"not a kho transfer receipt ({err})") from err
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        raise TransferRefused(f"not a kho transfer receipt (no format {RECEIPT_FORMAT})")
    return receipt, sig
