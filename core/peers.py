"""The other kho nodes this one trusts, registered from their identity files.

A peer with `units` is a sender: it may send records of those unit subtrees here. A peer
without units is a receiver this node sends to. A peer is known by its name and trusted by
its key: a name held by one key is never given to another while that key is trusted, and a
revoked key is never trusted again, under any name. Every change is one transaction with
its audit row.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import NotFoundError, UsageError
from .models import Peer, now
from .types import UnitError, normalize_unit

NAME_SIZE = 100  # Peer.name
RETIRED = "#"  # never in a node name: marks the name a revoked key gave up


class PeerIdentity(Protocol):
    """What a peer is registered from: a checked identity file (exchange.identity)."""

    name: str
    organ_id: str
    unit: str
    sign_key: str
    seal_key: str

    @property
    def fingerprint(self) -> str: ...


def peer_role(peer: Peer) -> str:
    """ "sender" (it may send records of its units here) or "receiver" (we send to it)."""
    return "sender" if peer.units else "receiver"


def peer_units(units) -> list[str]:
    """The unit subtrees a sender may send for, normalised, each once, in order."""
    found: list[str] = []
    for unit in units:
        try:
            text = normalize_unit(unit)
        except UnitError as err:
            raise UsageError(f"--units: {err}") from err
        if not text:
            raise UsageError("--units takes a unit subtree such as qk7/f9, not an empty path")
        if text not in found:
            found.append(text)
    return found


def retired_name(peer: Peer) -> str:
    """The name a revoked peer keeps once another key takes its name: still unique, and
    never a node name (it holds '#')."""
    tail = f"{RETIRED}{peer.fingerprint[:16]}"
    return peer.name[: NAME_SIZE - len(tail)] + tail


class PeerQueries:
    """Mixed into `catalog.Catalog`: the peers this node trusts."""

    def session(self, *, write: bool = False): ...  # from Catalog

    def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None: ...

    # reading ---------------------------------------------------------------------------
    def peers(self, include_revoked: bool = True) -> list[Peer]:
        q = select(Peer).order_by(Peer.name)
        if not include_revoked:
            q = q.where(Peer.revoked_at.is_(None))
        with self.session() as s:
            return list(s.scalars(q))

    def peer(self, name: str) -> Peer | None:
        with self.session() as s:
            return s.scalar(select(Peer).where(Peer.name == name))

    def peer_with_key(self, fingerprint: str) -> Peer | None:
        """The peer whose signing key has this fingerprint, revoked or not (a key is
        registered once: a revoked one is never added again)."""
        q = select(Peer).where(Peer.fingerprint == fingerprint).order_by(Peer.id.desc())
        with self.session() as s:
            return s.scalars(q).first()

    def trusted_peer(self, fingerprint: str) -> Peer | None:
        """The peer whose signing key has this fingerprint, unless unknown or revoked."""
        peer = self.peer_with_key(fingerprint)
        return peer if peer is not None and peer.revoked_at is None else None

    # changing --------------------------------------------------------------------------
    def add_peer(self, identity: PeerIdentity, units, actor: str, door: dict) -> Peer:
        """Register `identity` as a peer that may send records of `units` (none: a
        receiver), or, for a key already registered, change its units."""
        units = peer_units(units)
        fp = identity.fingerprint
        with self.session(write=True) as s:
            same_key = list(s.scalars(select(Peer).where(Peer.fingerprint == fp)))
            revoked = next((p for p in same_key if p.revoked_at is not None), None)
            if revoked is not None:
                raise UsageError(
                    f"the key {fp[:16]} was revoked ({revoked.name}, "
                    f"{revoked.revoked_at:%Y-%m-%d}) and is never trusted again: "
                    f"ask {identity.name}'s operator for a new identity"
                )
            named = s.scalar(select(Peer).where(Peer.name == identity.name))
            if named is not None and named.fingerprint != fp and named.revoked_at is None:
                raise UsageError(
                    f"peer {identity.name} is registered with another key "
                    f"({named.fingerprint[:16]}): if that key is no longer {identity.name}'s, "
                    f"revoke it first (kho peers revoke {identity.name})"
                )
            if same_key and same_key[0].name != identity.name:
                raise UsageError(
                    f"this key is registered already as peer {same_key[0].name}: "
                    f"revoke {same_key[0].name} first to register it as {identity.name}"
                )
            if named is not None and named.revoked_at is not None:
                named.name = retired_name(named)  # its revoked key keeps its row
                s.flush()
            peer, before = (same_key[0], list(same_key[0].units)) if same_key else (None, None)
            if peer is None:
                peer = Peer(name=identity.name, fingerprint=fp, added_by=actor)
                s.add(peer)
            peer.organ_id, peer.unit = identity.organ_id, identity.unit
            peer.sign_key, peer.seal_key = identity.sign_key, identity.seal_key
            peer.units = units
            s.flush()
            detail = {**door, "peer": peer.name, "fingerprint": fp, "unit": peer.unit}
            detail.update(role=peer_role(peer), units=units)
            if before is not None:
                detail["before"] = {"units": before}
            self.append_audit(s, actor, "peer-add", detail)
            return peer

    def revoke_peer(self, name: str, actor: str, door: dict) -> Peer:
        """Stop trusting the peer `name`'s key, for good; its row stays for the record."""
        with self.session(write=True) as s:
            peer = s.scalar(select(Peer).where(Peer.name == name))
            if peer is None:
                raise NotFoundError(f"no peer {name}: see kho peers list")
            if peer.revoked_at is not None:
                raise UsageError(f"peer {name} was revoked already ({peer.revoked_at:%Y-%m-%d})")
            peer.revoked_at, peer.revoked_by = now(), actor
            s.flush()
            detail = {**door, "peer": name, "fingerprint": peer.fingerprint}
            self.append_audit(s, actor, "peer-revoke", detail)
            return peer
