"""A dossier exported as Annex VI asks (Decree 30/2020/NĐ-CP): its fields and its documents'
in XML, its list of documents (mục lục văn bản) as CSV, and one PDF of the whole dossier
(`archive.dossier_pdf`), documents in the dossier's order.

Every export is made from `members()`: what the principal may see, nothing else. The
functions here return bytes; the door writes them (`write_export`) and audits.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from kho.archive.records import Member, Record, dossier_record, fonds_record, members
from kho.core.archival import display
from kho.core.catalog import Catalog
from kho.core.errors import StoredFileMissingError, UsageError
from kho.core.hierarchy import dossier_label
from kho.core.models import Dossier
from kho.core.permissions import PRIVATE
from kho.core.storage import Storage, atomic_file, atomic_write_bytes
from kho.core.types import Principal

XML_NS = "urn:kho:archive:dossier:1"  # the export's own namespace; elements are Annex VI tags
CATALOG_HEADER = (
    "STT",
    "Số/ký hiệu",
    "Ngày tháng",
    "Tên loại và trích yếu nội dung",
    "Tác giả",
    "Tờ/trang",
    "Ghi chú",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell


@dataclass(frozen=True)
class DossierExport:
    """What an export holds: the fonds' and dossier's records and the visible documents."""

    code: str
    fonds: Record
    dossier: Record
    members: list[Member]


def export_of(catalog: Catalog, dossier: Dossier, principal: Principal) -> DossierExport:
    """The dossier as `principal` may see it (hidden documents are not in it at all)."""
    docs = members(catalog, dossier, principal)
    _, fonds = catalog.dossier_by_id(dossier.id)
    code = dossier_label(dossier)
    return DossierExport(code, fonds_record(fonds, docs), dossier_record(dossier, docs), docs)


def document_pdf(storage: Storage, doc_id: str) -> Path:
    """The PDF of a document in an export or a package: its colour master (PDF/A-2b) when
    it has one, else its searchable PDF."""
    for path in (storage.master_pdf(doc_id), storage.searchable_pdf(doc_id)):
        if path.is_file():
            return path
    raise StoredFileMissingError(
        f"document {doc_id[:12]} has no PDF under {storage.doc_dir(doc_id)}: "
        "finish it (kho resume) or point KHO_HOME at the right storage root"
    )


# XML ---------------------------------------------------------------------------------------
def _q(tag: str) -> str:
    return f"{{{XML_NS}}}{tag}"


def _fields(parent: ET.Element, record: Record, *, computed: bool = True, **given) -> None:
    """Each field as an element named by its tag; `A.B` tags nest as <A><B/></A>.
    `given` are values worked out for the export (a document's number in the dossier)."""
    values = record.values | given
    for spec in record.specs:
        if spec.computed and not computed:
            continue
        node = parent
        *outer, leaf = spec.tag.split(".")
        for name in outer:
            found = node.find(_q(name))
            node = found if found is not None else ET.SubElement(node, _q(name))
        ET.SubElement(node, _q(leaf)).text = display(values.get(spec.name))


def dossier_element(export: DossierExport) -> ET.Element:
    """<DossierExport>: <Fonds>, then <Dossier> holding <Documents> in the dossier's order."""
    root = ET.Element(_q("DossierExport"), {"created": _now()})
    # the fonds' own fields; its totals would count only this dossier's documents
    _fields(ET.SubElement(root, _q("Fonds")), export.fonds, computed=False)
    dossier = ET.SubElement(root, _q("Dossier"))
    _fields(dossier, export.dossier)
    docs = ET.SubElement(dossier, _q("Documents"))
    for m in export.members:
        doc = ET.SubElement(docs, _q("Document"), {"ordinal": str(m.ordinal), "id": m.doc.id})
        _fields(doc, m.record, doc_ordinal=m.ordinal)
    return root


def dossier_xml(export: DossierExport) -> bytes:
    """The XML export, UTF-8, the namespace declared as the default one."""
    ET.register_namespace("", XML_NS)
    root = dossier_element(export)
    ET.indent(root, space=" ")
    return xml_bytes(root)


def xml_bytes(root: ET.Element) -> bytes:
    """An element as a UTF-8 XML file with its declaration."""
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


# the list of documents ---------------------------------------------------------------------
def catalog_rows(export: DossierExport) -> list[tuple[str, ...]]:
    """The mục lục văn bản, one row per document in order: STT, số/ký hiệu, date
    (dd/mm/yyyy), type and subject, author (issuing body), pages in the dossier, notes."""
    rows, first = [], 1
    for m in export.members:
        v = m.record.values
        pages = int(v["page_amount"] or 0)
        span = f"{first}" if pages <= 1 else f"{first}-{first + pages - 1}"
        first += pages
        issued = v["issued_date"]
        rows.append(
            (
                str(m.ordinal),
                "/".join(x for x in (v["code_number"], v["code_notation"]) if x),
                issued.strftime("%d/%m/%Y") if isinstance(issued, date) else display(issued),
                " — ".join(x for x in (v["type_name"], v["subject"]) if x) or m.doc.filename,
                v["organ_name"] or "",
                span if pages else "",
                v["description"] or "",
            )
        )
    return rows


def _cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def dossier_csv(export: DossierExport) -> bytes:
    """The mục lục as CSV, UTF-8 with a BOM so spreadsheet programs read Vietnamese."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CATALOG_HEADER)
    writer.writerows([_cell(c) for c in row] for row in catalog_rows(export))
    return buf.getvalue().encode("utf-8-sig")


# writing -----------------------------------------------------------------------------------
def refuse_existing(path: Path) -> Path:
    """`path`, when no file is there yet (an export given out is never replaced)."""
    path = Path(path)
    if path.exists():
        raise UsageError(f"{path} exists: give another --out or remove it first")
    return path


def write_export(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write an export through kho's writer, private to its owner: `data`, or what
    `data(file)` writes; an existing file is kept (a copy given out is never silently
    replaced)."""
    path = refuse_existing(path)
    if isinstance(data, bytes):
        atomic_write_bytes(path, data, PRIVATE)
        return
    with atomic_file(path, PRIVATE) as f:
        data(f)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
