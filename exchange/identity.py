"""A node's identity: its name, organ, unit, an Ed25519 key that signs what it sends and an
X25519 key others seal packages to.

    <home>/node/identity.json   the public identity (what `kho node show --public` prints)
    <home>/node/sign.key        Ed25519 private key, raw 32 bytes, mode 0600 whatever the
    <home>/node/seal.key        X25519 private key        storage root's sharing policy

An identity file is JSON: format, name, organ_id, unit, sign_key and seal_key (base64 of the
raw public keys) and `binding`, the Ed25519 signature of the rest (so a seal key cannot be
swapped under a name). The fingerprint is the SHA-256 of the raw signing key in hex.
Every signature covers a purpose label first (`signed(purpose, data)`), so a signature made
for one kind of document never passes for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from kho.core.errors import KhoError, NotFoundError, UsageError
from kho.core.permissions import PRIVATE
from kho.core.storage import atomic_write_bytes
from kho.core.types import UnitError, normalize_unit

FORMAT = "kho-node-identity"
VERSION = 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
RAW = (Encoding.Raw, PublicFormat.Raw)


class IdentityError(KhoError):
    """An identity file that is not one, or whose binding signature does not hold."""


class SignatureError(KhoError):
    """A signature that does not verify against the key it claims."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str, size: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError, AttributeError) as err:
        raise IdentityError(f"{what} is not base64") from err
    if size is not None and len(raw) != size:
        raise IdentityError(f"{what} is {len(raw)} bytes, not {size}")
    return raw


def signed(purpose: str, data: bytes) -> bytes:
    """The bytes a signature of `purpose` covers: the label, a NUL, the data."""
    return b"kho/" + purpose.encode("ascii") + b"\0" + data


def fingerprint_of(sign_key: bytes) -> str:
    return hashlib.sha256(sign_key).hexdigest()


def show_fingerprint(fp: str) -> str:
    """A fingerprint for people to compare aloud: groups of four, the first 32 digits."""
    return " ".join(fp[i : i + 4] for i in range(0, 32, 4))


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise UsageError(
            f"node name {name!r} must be 1-100 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. f9-e1)"
        )
    return name


@dataclass(frozen=True)
class Identity:
    """A node's public identity, as registered by its peers."""

    name: str
    organ_id: str
    unit: str
    sign_key: str  # base64 of the raw Ed25519 public key
    seal_key: str  # base64 of the raw X25519 public key
    binding: str = ""  # base64 Ed25519 signature of the fields above

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(unb64(self.sign_key, "sign_key", 32))

    def _bound(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "binding"}
        return json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")

    def verify(self, purpose: str, data: bytes, signature: bytes) -> None:
        """Raise SignatureError unless `signature` is this node's over (`purpose`, `data`)."""
        key = Ed25519PublicKey.from_public_bytes(unb64(self.sign_key, "sign_key", 32))
        try:
            key.verify(signature, signed(purpose, data))
        except InvalidSignature as err:
            raise SignatureError(
                f"the {purpose} signature is not {self.name}'s ({self.fingerprint[:16]})"
            ) from err

    def seal_public(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(unb64(self.seal_key, "seal_key", 32))

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "version": VERSION, **asdict(self)}
        return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, source: str = "identity file") -> Identity:
        """The identity in `data`, checked whole (format, fields, keys, binding)."""
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise IdentityError(f"{source} is not a kho node identity (not JSON)") from err
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise IdentityError(f"{source} is not a kho node identity (no format {FORMAT})")
        if body.get("version") != VERSION:
            raise IdentityError(f"{source} is identity version {body.get('version')}; "
                                f"this kho reads version {VERSION}")  # fmt: skip
        try:
            ident = cls(**{k: body[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError) as err:
            raise IdentityError(f"{source} lacks a field: {err}") from err
        if not all(isinstance(v, str) for v in asdict(ident).values()):
            raise IdentityError(f"{source} has a field that is not text")
        try:
            check_name(ident.name)
            unb64(ident.sign_key, "sign_key", 32)
            ident.seal_public()
            binding = unb64(ident.binding, "binding", 64)
        except (UsageError, IdentityError) as err:
            raise IdentityError(f"{source} is not a kho node identity: {err}") from err
        try:
            ident.verify("identity", ident._bound(), binding)
        except SignatureError as err:
            raise IdentityError(f"{source}: its keys are not bound by its own signature") from err
        return ident


@dataclass(frozen=True)
class Node:
    """This node: its identity and private keys."""

    identity: Identity
    sign_private: Ed25519PrivateKey
    seal_private: X25519PrivateKey

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    def sign(self, purpose: str, data: bytes) -> bytes:
        return self.sign_private.sign(signed(purpose, data))


def node_dir(home: Path) -> Path:
    return Path(home) / "node"


def _private_bytes(key) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def init_node(home: Path, name: str, organ_id: str, unit: str) -> Node:
    """Make this node's keys and identity under `home`; refuse if it has one already
    (a node keeps its keys: its peers trust them)."""
    folder = node_dir(home)
    if (folder / "identity.json").exists():
        raise UsageError(
            f"this node already has an identity ({folder / 'identity.json'}); "
            "see it with kho node show"
        )
    try:
        unit = normalize_unit(unit)
    except UnitError as err:
        raise UsageError(f"--unit: {err}") from err
    if len(organ_id or "") > 13 or not organ_id:
        raise UsageError(
            "--organ-id must be the organ's code, 1-13 characters (e.g. 000.00.00.G09)"
        )
    sign, seal = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    bare = Identity(
        check_name(name),
        organ_id,
        unit,
        b64(sign.public_key().public_bytes(*RAW)),
        b64(seal.public_key().public_bytes(*RAW)),
    )
    ident = Identity(
        **{**asdict(bare), "binding": b64(sign.sign(signed("identity", bare._bound())))}
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    atomic_write_bytes(folder / "sign.key", _private_bytes(sign), PRIVATE)
    atomic_write_bytes(folder / "seal.key", _private_bytes(seal), PRIVATE)
    atomic_write_bytes(folder / "identity.json", ident.to_json(), PRIVATE)
    return Node(ident, sign, seal)


def load_identity(home: Path) -> Identity:
    path = node_dir(home) / "identity.json"
    if not path.exists():
        raise NotFoundError(
            "this node has no identity yet: run kho node init --organ-id ID --unit PATH --name NAME"
        )
    return Identity.from_json(path.read_bytes(), str(path))


def load_node(home: Path) -> Node:
    """This node's identity and keys, or NotFoundError saying how to make them."""
    ident = load_identity(home)
    folder = node_dir(home)
    try:
        sign = Ed25519PrivateKey.from_private_bytes((folder / "sign.key").read_bytes())
        seal = X25519PrivateKey.from_private_bytes((folder / "seal.key").read_bytes())
    except (OSError, ValueError) as err:
        raise IdentityError(
            f"this node's private keys under {folder} are unreadable: {err}"
        ) from err
    if b64(sign.public_key().public_bytes(*RAW)) != ident.sign_key:
        raise IdentityError(f"{folder / 'sign.key'} does not match identity.json")
    return Node(ident, sign, seal)
