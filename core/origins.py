"""Where a document came from: the node and unit that made its dossier, when it was received
from another unit's archive, and the chain of nodes it passed on the way here.

A dossier received in a transfer package has a `RecordOrigin` row; a dossier made here has
none (its origin is this node). Search filters and counts by the origin the index holds
(`PageDoc.origin_node`, `origin_unit`), which `workers.pipeline.document_pages` takes from
here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import UsageError
from .models import Document, RecordOrigin, now
from .types import UnitError, normalize_unit

ID_CHUNK = 500  # document ids per IN (...) list


@dataclass(frozen=True)
class Origin:
    """A received dossier's origin: the node that made it, that node's unit, the nodes it
    passed (each hop: {"node": {name, unit, ...}, "at", "signature"}) and when it came."""

    node: str
    unit: str
    chain: tuple[dict, ...]
    received_at: datetime | None
    record: str = ""
    withdrawn_at: datetime | None = None

    @property
    def hops(self) -> list[str]:
        """The names of the nodes it passed, in order ("?" for a hop that names none)."""
        return [str((hop.get("node") or {}).get("name") or "?") for hop in self.chain]


def _origin(row: RecordOrigin) -> Origin:
    chain = tuple(h for h in (row.chain or ()) if isinstance(h, dict))
    return Origin(
        row.origin_node, row.origin_unit, chain, row.received_at, row.record, row.withdrawn_at
    )


class OriginQueries:
    """Catalog queries on record origins (mixed into `Catalog`)."""

    def session(self, *, write: bool = False): ...  # from Catalog

    def origin_of(self, doc: Document) -> Origin | None:
        """The origin of the document's dossier; None for a document made here (or filed
        in no dossier)."""
        if doc.dossier_id is None:
            return None
        with self.session() as s:
            row = s.scalar(select(RecordOrigin).where(RecordOrigin.dossier_id == doc.dossier_id))
            return _origin(row) if row is not None else None

    def origins_of(self, doc_ids: Iterable[str]) -> dict[str, Origin]:
        """Document id -> origin, for the received documents among `doc_ids` (a hit list);
        a document made here is not in the answer."""
        ids = list(dict.fromkeys(doc_ids))
        found: dict[str, Origin] = {}
        with self.session() as s:
            for start in range(0, len(ids), ID_CHUNK):
                rows = s.execute(
                    select(Document.id, RecordOrigin)
                    .join(RecordOrigin, RecordOrigin.dossier_id == Document.dossier_id)
                    .where(Document.id.in_(ids[start : start + ID_CHUNK]))
                )
                found.update((doc_id, _origin(row)) for doc_id, row in rows)
        return found

    def set_record_origin(self, session: Session, *args, **values) -> RecordOrigin:
        """`set_record_origin` (below) as a catalog method, for callers holding a catalog."""
        return set_record_origin(session, *args, **values)


def set_record_origin(
    session: Session,
    dossier_id: int,
    record: str,
    origin_node: str,
    origin_fingerprint: str,
    origin_unit: str,
    chain: list[dict],
    version: int,
    digest: str,
    transfer_id: int | None,
) -> RecordOrigin:
    """Record where dossier `dossier_id` came from, inside the caller's transaction
    (the importer's, with its audit row): a new row for a new record, the newest
    version's values for one received before (the time received moves on)."""
    try:
        unit = normalize_unit(origin_unit)
    except UnitError as err:
        raise UsageError(f"record {record}: origin unit: {err}") from None
    other = session.scalar(select(RecordOrigin).where(RecordOrigin.dossier_id == dossier_id))
    if other is not None and other.record != record:
        raise UsageError(f"dossier #{dossier_id} already holds record {other.record}, not {record}")
    row = other or session.get(RecordOrigin, record) or RecordOrigin(record=record)
    row.dossier_id = dossier_id
    row.origin_node, row.origin_fingerprint, row.origin_unit = (
        origin_node,
        origin_fingerprint,
        unit,
    )
    row.chain, row.version, row.digest = list(chain), version, digest
    row.transfer_id, row.received_at, row.withdrawn_at = transfer_id, now(), None
    session.add(row)
    session.flush()
    return row
