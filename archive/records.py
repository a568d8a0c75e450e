"""A fonds, a dossier or a document as a record: its standard fields (core.archival) with
the computed ones worked out, in the form the CLI, the web and the exports read.

A dossier's record is made from the documents a principal may see (`members`): its totals,
dates and list of documents never count what is hidden from the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kho.core.archival import (
    DOCUMENT_FIELDS,
    DOSSIER_FIELDS,
    FONDS_FIELDS,
    FROM_META,
    FieldError,
    FieldSpec,
    parse_date,
)
from kho.core.catalog import Catalog
from kho.core.hierarchy import document_field, dossier_code
from kho.core.models import Document, Dossier, Fonds
from kho.core.types import Principal, can_see


@dataclass(frozen=True)
class Record:
    """Field values of one record, in its specs' order; `state` (documents) says for each
    header field whether it is a proposal read from the page (with its confidence) or was
    confirmed by a person."""

    kind: str
    specs: tuple[FieldSpec, ...]
    values: dict
    state: dict[str, str] = field(default_factory=dict)

    def annex_vi(self) -> dict:
        """Tag -> value, as exports name them."""
        return {s.tag: self.values.get(s.name) for s in self.specs}


@dataclass(frozen=True)
class Member:
    """A document in its dossier: its number there and its record."""

    ordinal: int
    doc: Document
    record: Record


def members(catalog: Catalog, dossier: Dossier, principal: Principal) -> list[Member]:
    """The documents of a dossier the principal may see, in the dossier's order."""
    return [
        Member(n, doc, document_record(doc))
        for n, doc in catalog.ordered(dossier.id)
        if can_see(principal, doc.access)
    ]


def dossier_record(dossier: Dossier, docs: list[Member]) -> Record:
    dates = [m.record.values["issued_date"] for m in docs if m.record.values["issued_date"]]
    values = {s.name: getattr(dossier, s.name, None) for s in DOSSIER_FIELDS if not s.computed}
    values |= {
        "file_code": dossier_code(dossier),
        "start_date": min(dates) if dates else None,
        "end_date": max(dates) if dates else None,
        "doc_total": len(docs),
        "page_total": sum(m.record.values["page_amount"] or 0 for m in docs),
    }
    return Record("dossier", DOSSIER_FIELDS, values)


def fonds_record(fonds: Fonds, docs: list[Member]) -> Record:
    dates = [m.record.values["issued_date"] for m in docs if m.record.values["issued_date"]]
    values = {s.name: getattr(fonds, s.name, None) for s in FONDS_FIELDS if not s.computed}
    values["period"] = f"{min(dates).year}-{max(dates).year}" if dates else ""
    values["doc_total"] = len(docs)
    return Record("fonds", FONDS_FIELDS, values)


def document_record(doc: Document) -> Record:
    """The Annex VI fields of a document; a header field nobody confirmed is a proposal."""
    values = {
        s.name: document_field(doc, s.name) if s.meta else getattr(doc, s.name)
        for s in DOCUMENT_FIELDS
    }
    if values["page_amount"] is None:
        values["page_amount"] = doc.page_count
    if isinstance(values["issued_date"], str):  # read before the columns existed
        try:
            values["issued_date"] = parse_date(values["issued_date"]) or None
        except FieldError:
            values["issued_date"] = None
    confirmed = set(doc.confirmed or ())
    conf = (doc.meta or {}).get("confidence") or {}
    state = {}
    for meta_name, spec in FROM_META.items():
        if spec.name in confirmed:
            state[spec.name] = "confirmed"
        elif values.get(spec.name):
            state[spec.name] = f"proposed {float(conf.get(meta_name, 0)):.2f}"
    return Record("document", DOCUMENT_FIELDS, values, state)
