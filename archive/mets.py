"""The metadata of an archival package: METS (dmdSec, amdSec with PREMIS, fileSec,
structMap) and Dublin Core, from plain values (`package.py` gathers them).

METS 1.12 names every payload file with its SHA-512 and size; the structMap goes dossier ->
document (in the dossier's order) -> page, each page pointing at its ALTO file and each
document at its original and its PDF. Paths are relative to mets.xml (data/metadata/).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from kho.archive.dossier_export import XML_NS, DossierExport, dossier_element, xml_bytes
from kho.archive.records import Member
from kho.core.archival import display

METS_NS = "http://www.loc.gov/METS/"
XLINK_NS = "http://www.w3.org/1999/xlink"
PREMIS_NS = "http://www.loc.gov/premis/v3"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMAS = (
    f"{METS_NS} https://www.loc.gov/standards/mets/mets.xsd "
    f"{PREMIS_NS} https://www.loc.gov/standards/premis/v3/premis.xsd"
)
NAMESPACES = {"mets": METS_NS, "xlink": XLINK_NS, "premis": PREMIS_NS, "dc": DC_NS,
              "oai_dc": OAI_DC_NS, "xsi": XSI_NS, "kho": XML_NS}  # fmt: skip


@dataclass(frozen=True)
class PackageFile:
    id: str
    href: str  # relative to mets.xml
    use: str  # ORIGINAL | PDF | ALTO | METADATA
    mime: str
    size: int
    sha512: str


@dataclass(frozen=True)
class Event:
    type: str  # PREMIS event type: ingestion, modification, transcription, ...
    at: datetime
    detail: str
    agents: tuple[str, ...]  # agent keys
    outcome: str = "success"


@dataclass(frozen=True)
class Agent:
    key: str
    name: str
    type: str  # software | person | organization
    note: str = ""


@dataclass
class DocumentPart:
    member: Member
    original: PackageFile
    pdf: PackageFile
    alto: list[PackageFile] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _m(tag: str) -> str:
    return f"{{{METS_NS}}}{tag}"


def _p(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, f"{{{PREMIS_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _xml_data(parent: ET.Element, mdtype: str, **attrs) -> ET.Element:
    wrap = ET.SubElement(parent, _m("mdWrap"), {"MDTYPE": mdtype, **attrs})
    return ET.SubElement(wrap, _m("xmlData"))


def dublin_core(export: DossierExport) -> ET.Element:
    """oai_dc of the dossier: title, creator, identifier, dates, language, rights."""
    v, fonds = export.dossier.values, export.fonds.values
    dc = ET.Element(f"{{{OAI_DC_NS}}}dc")
    dates = [display(v.get(k)) for k in ("start_date", "end_date") if v.get(k)]
    for tag, text in (
        ("title", v.get("title") or export.code),
        ("creator", fonds.get("name") or fonds.get("code")),
        ("identifier", export.code),
        ("date", "/".join(dates)),
        ("language", v.get("language")),
        ("rights", v.get("rights")),
        ("description", v.get("description")),
        ("type", "hồ sơ"),
        ("format", "application/pdf"),
    ):
        if text:
            ET.SubElement(dc, f"{{{DC_NS}}}{tag}").text = str(text)
    return dc


def mets_document(
    export: DossierExport,
    parts: list[DocumentPart],
    metadata: list[PackageFile],
    agents: list[Agent],
    created: datetime,
) -> bytes:
    """mets.xml of the package."""
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    root = ET.Element(
        _m("mets"), {f"{{{XSI_NS}}}schemaLocation": SCHEMAS, "OBJID": export.code,
                     "LABEL": export.dossier.values.get("title") or export.code, "TYPE": "dossier"},
    )  # fmt: skip
    hdr = ET.SubElement(root, _m("metsHdr"), {"CREATEDATE": _iso(created)})
    agent = ET.SubElement(hdr, _m("agent"), {"ROLE": "CREATOR", "TYPE": "OTHER",
                                            "OTHERTYPE": "SOFTWARE"})  # fmt: skip
    ET.SubElement(agent, _m("name")).text = "kho"
    _dmd(root, "DMD_DC", "DC", dublin_core(export))
    _dmd(root, "DMD_DOSSIER", "OTHER", dossier_element(export), OTHERMDTYPE="AnnexVI")
    amd = ET.SubElement(root, _m("amdSec"), {"ID": "AMD"})
    for n, part in enumerate(parts, start=1):
        md = ET.SubElement(amd, _m("digiprovMD"), {"ID": f"PREMIS_{n}"})
        _premis(_xml_data(md, "PREMIS"), part, agents)
    _file_sec(root, parts, metadata)
    _struct_map(root, export, parts, metadata)
    ET.indent(root, space=" ")
    return xml_bytes(root)


def _dmd(root: ET.Element, ident: str, mdtype: str, body: ET.Element, **attrs) -> None:
    sec = ET.SubElement(root, _m("dmdSec"), {"ID": ident})
    _xml_data(sec, mdtype, **attrs).append(body)


def _premis(parent: ET.Element, part: DocumentPart, agents: list[Agent]) -> None:
    """One PREMIS record per document: the object (its original), its events, the agents."""
    premis = _p(parent, "premis", version="3.0")
    obj = _p(premis, "object", **{f"{{{XSI_NS}}}type": "premis:file"})
    ident = _p(obj, "objectIdentifier")
    _p(ident, "objectIdentifierType", "sha256")
    _p(ident, "objectIdentifierValue", part.member.doc.id)
    chars = _p(obj, "objectCharacteristics")
    fixity = _p(chars, "fixity")
    _p(fixity, "messageDigestAlgorithm", "SHA-512")
    _p(fixity, "messageDigest", part.original.sha512)
    _p(chars, "size", str(part.original.size))
    fmt = _p(_p(chars, "format"), "formatDesignation")
    _p(fmt, "formatName", part.original.mime)
    _p(obj, "originalName", part.member.doc.filename)
    used = {key for e in part.events for key in e.agents}
    for n, event in enumerate(part.events, start=1):
        ev = _p(premis, "event")
        eid = _p(ev, "eventIdentifier")
        _p(eid, "eventIdentifierType", "local")
        _p(eid, "eventIdentifierValue", f"{part.member.doc.id[:12]}-{n}")
        _p(ev, "eventType", event.type)
        _p(ev, "eventDateTime", _iso(event.at))
        _p(_p(ev, "eventDetailInformation"), "eventDetail", event.detail)
        _p(_p(ev, "eventOutcomeInformation"), "eventOutcome", event.outcome)
        for key in event.agents:
            link = _p(ev, "linkingAgentIdentifier")
            _p(link, "linkingAgentIdentifierType", "local")
            _p(link, "linkingAgentIdentifierValue", key)
        obj_link = _p(ev, "linkingObjectIdentifier")
        _p(obj_link, "linkingObjectIdentifierType", "sha256")
        _p(obj_link, "linkingObjectIdentifierValue", part.member.doc.id)
    for a in agents:
        if a.key not in used:
            continue
        ag = _p(premis, "agent")
        aid = _p(ag, "agentIdentifier")
        _p(aid, "agentIdentifierType", "local")
        _p(aid, "agentIdentifierValue", a.key)
        _p(ag, "agentName", a.name)
        _p(ag, "agentType", a.type)
        if a.note:
            _p(ag, "agentNote", a.note)


def _file_sec(root: ET.Element, parts: list[DocumentPart], metadata: list[PackageFile]) -> None:
    sec = ET.SubElement(root, _m("fileSec"))
    groups = {
        "ORIGINAL": [p.original for p in parts],
        "PDF": [p.pdf for p in parts],
        "ALTO": [f for p in parts for f in p.alto],
        "METADATA": metadata,
    }
    for use, files in groups.items():
        grp = ET.SubElement(sec, _m("fileGrp"), {"USE": use})
        for f in files:
            el = ET.SubElement(grp, _m("file"), {"ID": f.id, "MIMETYPE": f.mime,
                                                 "SIZE": str(f.size), "CHECKSUM": f.sha512,
                                                 "CHECKSUMTYPE": "SHA-512"})  # fmt: skip
            ET.SubElement(el, _m("FLocat"), {"LOCTYPE": "URL", f"{{{XLINK_NS}}}href": f.href})


def _struct_map(root, export: DossierExport, parts: list[DocumentPart], metadata) -> None:
    smap = ET.SubElement(root, _m("structMap"), {"TYPE": "physical"})
    top = ET.SubElement(smap, _m("div"), {"TYPE": "dossier", "LABEL": export.code,
                                          "DMDID": "DMD_DC DMD_DOSSIER"})  # fmt: skip
    for f in metadata:
        ET.SubElement(top, _m("fptr"), {"FILEID": f.id})
    for n, part in enumerate(parts, start=1):
        m = part.member
        attrs = {"TYPE": "document", "ORDER": str(m.ordinal), "LABEL": _label(m)}
        div = ET.SubElement(top, _m("div"), {**attrs, "ADMID": f"PREMIS_{n}"})
        ET.SubElement(div, _m("fptr"), {"FILEID": part.original.id})
        ET.SubElement(div, _m("fptr"), {"FILEID": part.pdf.id})
        for p, alto in enumerate(part.alto, start=1):
            page = ET.SubElement(div, _m("div"), {"TYPE": "page", "ORDER": str(p)})
            ET.SubElement(page, _m("fptr"), {"FILEID": alto.id})


def _label(m: Member) -> str:
    v = m.record.values
    return " — ".join(x for x in (v["type_name"], v["subject"]) if x) or m.doc.filename


def _iso(at: datetime) -> str:
    """UTC time as xs:dateTime (the catalog keeps UTC without a zone)."""
    return at.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
