"""The catalog's side of transfer packages: peers read by name or fingerprint, transfers in
and out, the records sent to each peer and the origins of records held here.

An import is written in two transactions: `stage_import` writes every row of every record
(fonds, dossier, documents, pages, record origins, fixity) with the transfer `staged`;
`finish_import` marks the transfer imported once the files are in place and the pages in
the index. A kill between the two leaves a staged transfer that the same import, run
again, completes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, delete, select
from sqlalchemy.orm import Session

from .models import (
    INDEXED,
    WITHDRAWN,
    Document,
    Dossier,
    Fixity,
    Fonds,
    Page,
    Peer,
    RecordOrigin,
    SentRecord,
    Transfer,
    now,
)
from .origins import set_record_origin

# columns that do not travel: local ids and states, and access (access.json carries it)
FONDS_SKIP = {"id", "created_at", "updated_at"}
DOSSIER_SKIP = {"id", "fonds_id", "unit", "level", "groups", "created_at", "updated_at",
                "withdrawn_at", "withdrawn_by", "withdrawn_reason"}  # fmt: skip
DOCUMENT_SKIP = {
    "batch_id",
    "dossier_id",
    "unit",
    "level",
    "groups",
    "reason",
    "updated_at",
    "failed_at",
    "retry_at",
}


def row_fields(obj, skip: set[str]) -> dict:
    """A row's columns as JSON values (dates as ISO text)."""
    out = {}
    for col in obj.__table__.columns:
        if col.key in skip:
            continue
        value = getattr(obj, col.key)
        out[col.key] = value.isoformat() if isinstance(value, date | datetime) else value
    return out


def row_values(model, fields: dict, skip: set[str]) -> dict:
    """The columns of `model` named in `fields` (as `row_fields` wrote them), typed back."""
    out = {}
    for col in model.__table__.columns:
        if col.key in skip or col.key not in fields:
            continue
        value = fields[col.key]
        if isinstance(value, str) and value and isinstance(col.type, DateTime):
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and value and isinstance(col.type, Date):
            value = date.fromisoformat(value)
        out[col.key] = value
    return out


class TransferQueries:
    """Mixed into `Catalog`."""

    def session(self, *, write: bool = False): ...  # from Catalog

    def append_audit(self, s: Session, actor: str, action: str, detail: dict) -> None: ...

    # reading -------------------------------------------------------------------------------
    def peers_by_id(self) -> dict[int, Peer]:
        with self.session() as s:
            return {p.id: p for p in s.scalars(select(Peer))}

    def transfer(self, direction: str, peer_id: int, seq: int) -> Transfer | None:
        with self.session() as s:
            q = select(Transfer).where(
                Transfer.direction == direction, Transfer.peer_id == peer_id, Transfer.seq == seq
            )
            return s.scalars(q).first()

    def last_transfer(self, direction: str, peer_id: int, statuses=None) -> Transfer | None:
        q = select(Transfer).where(Transfer.direction == direction, Transfer.peer_id == peer_id)
        if statuses:
            q = q.where(Transfer.status.in_(statuses))
        with self.session() as s:
            return s.scalars(q.order_by(Transfer.seq.desc())).first()

    def transfers(self, limit: int = 100) -> list[Transfer]:
        with self.session() as s:
            return list(s.scalars(select(Transfer).order_by(Transfer.id.desc()).limit(limit)))

    def sent_records(self, peer_id: int) -> dict[str, SentRecord]:
        with self.session() as s:
            q = select(SentRecord).where(SentRecord.peer_id == peer_id)
            return {r.record: r for r in s.scalars(q)}

    def record_origin(self, record: str) -> RecordOrigin | None:
        with self.session() as s:
            return s.get(RecordOrigin, record)

    def origin_of_dossier(self, dossier_id: int) -> RecordOrigin | None:
        with self.session() as s:
            return s.scalars(
                select(RecordOrigin).where(RecordOrigin.dossier_id == dossier_id)
            ).first()

    def withdrawn_origins(self) -> list[RecordOrigin]:
        with self.session() as s:
            return list(
                s.scalars(select(RecordOrigin).where(RecordOrigin.withdrawn_at.is_not(None)))
            )

    def pages_of(self, doc_ids: list[str]) -> dict[str, list[Page]]:
        out: dict[str, list[Page]] = {}
        with self.session() as s:
            q = select(Page).where(Page.doc_id.in_(doc_ids)).order_by(Page.doc_id, Page.page)
            for p in s.scalars(q):
                out.setdefault(p.doc_id, []).append(p)
        return out

    def dossier_in_fonds(self, fonds_code: str, notation: str) -> Dossier | None:
        with self.session() as s:
            q = (
                select(Dossier)
                .join(Fonds)
                .where(Fonds.code == fonds_code, Dossier.file_notation == notation)
            )
            return s.scalars(q).first()

    # writing -------------------------------------------------------------------------------
    def record_export(self, fields: dict, records: list[dict], actor: str, detail: dict) -> int:
        """The transfer sent and the records it carried (SentRecord rows), audited."""
        with self.session(write=True) as s:
            t = Transfer(direction="out", status="sent", operator=actor, **fields)
            s.add(t)
            s.flush()
            for r in records:
                row = s.get(SentRecord, (t.peer_id, r["record"]))
                if row is None:
                    row = SentRecord(peer_id=t.peer_id, record=r["record"])
                    s.add(row)
                row.digest, row.version, row.transfer_id = r["state"], r["version"], t.id
                row.delivered_at, row.withdrawn = None, r["kind"] == "tombstone"
            self.append_audit(s, actor, "transfer-export", {**detail, "seq": t.seq})
            return t.id

    def mark_delivered(self, transfer_id: int, actor: str, detail: dict) -> None:
        with self.session(write=True) as s:
            t = s.get(Transfer, transfer_id)
            t.status, t.finished_at = "delivered", now()
            q = select(SentRecord).where(SentRecord.transfer_id == transfer_id)
            for row in s.scalars(q):
                row.delivered_at = now()
            self.append_audit(s, actor, "transfer-receipt", detail)

    def hold_transfer(self, fields: dict, actor: str, detail: dict) -> None:
        with self.session(write=True) as s:
            q = select(Transfer).where(
                Transfer.direction == "in",
                Transfer.peer_id == fields["peer_id"],
                Transfer.seq == fields["seq"],
            )
            if s.scalars(q).first() is None:
                s.add(Transfer(direction="in", status="held", operator=actor, **fields))
            self.append_audit(s, actor, "transfer-held", detail)

    def stage_import(
        self, fields: dict, records: list[dict], fixity: list[dict], actor: str
    ) -> tuple[int, list[str], list[str]]:
        """Every row of every record, the transfer `staged`: one transaction. Returns the
        transfer's id, the documents that leave the index (dropped or withdrawn) and the
        stored files of those dropped (their rows gone, the files to remove)."""
        gone: list[str] = []
        dropped: list[str] = []
        with self.session(write=True) as s:
            q = select(Transfer).where(
                Transfer.direction == "in",
                Transfer.peer_id == fields["peer_id"],
                Transfer.seq == fields["seq"],
            )
            t = s.scalars(q).first()
            if t is None:
                t = Transfer(direction="in", operator=actor, **fields)
                s.add(t)
            t.status, t.path, t.digest = "staged", fields["path"], fields["digest"]
            s.flush()
            for r in records:
                out, files = _stage_record(s, r, t.id)
                gone, dropped = gone + out, dropped + files
            paths = [f["path"] for f in fixity]
            for start in range(0, len(paths), 500):
                s.execute(delete(Fixity).where(Fixity.path.in_(paths[start : start + 500])))
            s.add_all(Fixity(**f, recorded_at=now()) for f in fixity)
            return t.id, gone, sorted(set(dropped) - set(paths))

    def finish_import(self, transfer_id: int, actor: str, detail: dict) -> None:
        with self.session(write=True) as s:
            t = s.get(Transfer, transfer_id)
            t.status, t.finished_at = "imported", now()
            self.append_audit(s, actor, "transfer-import", detail)


def _stage_record(s: Session, r: dict, transfer_id: int) -> tuple[list[str], list[str]]:
    """The record's rows; (documents out of the index, stored files of dropped ones)."""
    origin = s.get(RecordOrigin, r["record"])
    body, access = r["body"], r["access"]
    if body["kind"] == "tombstone":
        if origin is None:
            return [], []
        origin.withdrawn_at, origin.version, origin.digest = now(), body["version"], r["digest"]
        origin.chain, origin.transfer_id = r["chain"], transfer_id
        docs = list(s.scalars(select(Document).where(Document.dossier_id == origin.dossier_id)))
        for withdrawn in docs:  # out of search for good (`kho reindex` takes indexed ones only)
            withdrawn.status = WITHDRAWN
        return [withdrawn.id for withdrawn in docs], []  # their files stay
    fonds = s.scalars(select(Fonds).where(Fonds.code == body["fonds"]["code"])).first()
    if fonds is None:
        fonds = Fonds(**row_values(Fonds, body["fonds"], FONDS_SKIP))
        s.add(fonds)
        s.flush()
    dossier = s.get(Dossier, origin.dossier_id) if origin else None
    if dossier is None:
        dossier = Dossier(fonds_id=fonds.id)
        s.add(dossier)
    for key, value in row_values(Dossier, body["dossier"], DOSSIER_SKIP).items():
        setattr(dossier, key, value)
    da = access["dossier"]
    dossier.level, dossier.unit, dossier.groups = da["level"], da["unit"], list(da["groups"])
    s.flush()
    new_ids = {d["id"] for d in body["documents"]}
    old = list(s.scalars(select(Document).where(Document.dossier_id == dossier.id)))
    gone = [d.id for d in old if d.id not in new_ids]
    files = list(s.scalars(select(Fixity.path).where(Fixity.doc_id.in_(gone)))) if gone else []
    for doc_id in gone:  # a document the new version no longer holds leaves with its rows
        s.execute(delete(Page).where(Page.doc_id == doc_id))
        s.execute(delete(Fixity).where(Fixity.doc_id == doc_id))
        s.execute(delete(Document).where(Document.id == doc_id))
    for d in body["documents"]:
        doc = s.get(Document, d["id"])
        if doc is None:
            doc = Document(id=d["id"])
            s.add(doc)
        for key, value in row_values(Document, d, DOCUMENT_SKIP | {"pages"}).items():
            setattr(doc, key, value)
        a = access["documents"][d["id"]]
        doc.level, doc.unit, doc.groups = a["level"], a["unit"], list(a["groups"])
        doc.dossier_id, doc.batch_id, doc.status = dossier.id, None, INDEXED
        s.execute(delete(Page).where(Page.doc_id == d["id"]))
        s.add_all(Page(doc_id=d["id"], **row_values(Page, p, {"doc_id"})) for p in d["pages"])
    origin = set_record_origin(
        s,
        dossier.id,
        r["record"],
        origin_node=r["origin_name"],
        origin_fingerprint=r["origin_fingerprint"],
        origin_unit=r["origin_unit"],
        chain=r["chain"],
        version=body["version"],
        digest=r["digest"],
        transfer_id=transfer_id,
    )
    origin.withdrawn_at = None
    return gone, files
