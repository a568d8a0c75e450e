"""XMP metadata for PDF/A files: a master's packet (PDF/A identification, Dublin Core, the
dates and the producer, as the document info dictionary says them too) and properties of
kho's own added to a packet with the extension schema PDF/A asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from lxml import etree

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PDFA_EXTENSION = "http://www.aiim.org/pdfa/ns/extension/"
PDFA_SCHEMA = "http://www.aiim.org/pdfa/ns/schema#"
PDFA_PROPERTY = "http://www.aiim.org/pdfa/ns/property#"
PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
PACKET_END = '<?xpacket end="w"?>'
# Dublin Core keys a caller may give, and how XMP holds each
DUBLIN_CORE = {
    "title": "alt",
    "creator": "seq",
    "date": "seq",
    "identifier": "text",
    "language": "bag",
    "description": "alt",
}


@dataclass(frozen=True)
class Property:
    """A property of kho's own namespace: its name, XMP value type, value and meaning."""

    name: str
    value_type: str  # "Text" | "Date" | ...: the types PDF/A's extension schemas know
    value: str
    description: str


def xmp_date(when: datetime) -> str:
    """An XMP date with its offset: 2026-12-01T15:11:00+07:00."""
    return when.isoformat(timespec="seconds")


def pdf_date(when: datetime) -> str:
    """The same moment as a PDF date string: D:20261201151100+07'00'."""
    offset = when.strftime("%z") or "+0000"
    return when.strftime("D:%Y%m%d%H%M%S") + f"{offset[:3]}'{offset[3:]}'"


def master_xmp(meta: Mapping[str, str], created: datetime, producer: str) -> bytes:
    """The XMP packet of a PDF/A-2b master: pdfaid part 2 conformance B, the Dublin Core
    entries `meta` gives (keys of DUBLIN_CORE; empty ones left out), created and modified
    at `created`, made by `producer`."""
    unknown = set(meta) - set(DUBLIN_CORE)
    if unknown:
        raise ValueError(f"unknown Dublin Core keys {sorted(unknown)}: use {sorted(DUBLIN_CORE)}")
    dc = "".join(_dc(key, str(value)) for key, value in meta.items() if str(value).strip())
    date = xmp_date(created)
    body = (
        f'<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
        "<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
        "</rdf:Description>"
        f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">{dc}'
        "</rdf:Description>"
        f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f"<xmp:CreateDate>{date}</xmp:CreateDate><xmp:ModifyDate>{date}</xmp:ModifyDate>"
        f"<xmp:MetadataDate>{date}</xmp:MetadataDate>"
        f"<xmp:CreatorTool>{escape(producer)}</xmp:CreatorTool></rdf:Description>"
        f'<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">'
        f"<pdf:Producer>{escape(producer)}</pdf:Producer></rdf:Description>"
    )
    return _packet(body)


def _dc(key: str, value: str) -> str:
    kind, text = DUBLIN_CORE[key], escape(value)
    if kind == "text":
        return f"<dc:{key}>{text}</dc:{key}>"
    if kind == "alt":
        item = f'<rdf:li xml:lang="x-default">{text}</rdf:li>'
        return f"<dc:{key}><rdf:Alt>{item}</rdf:Alt></dc:{key}>"
    tag = "rdf:Seq" if kind == "seq" else "rdf:Bag"
    return f"<dc:{key}><{tag}><rdf:li>{text}</rdf:li></{tag}></dc:{key}>"


def _packet(body: str) -> bytes:
    return (
        f'{PACKET_BEGIN}<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="{RDF}">{body}</rdf:RDF></x:xmpmeta>{PACKET_END}'
    ).encode()


def with_properties(
    xmp: bytes | None, namespace: str, prefix: str, schema: str, props: list[Property]
) -> bytes:
    """`xmp` (a whole packet, or None for a new one) with `props` in `namespace` added, and
    the PDF/A extension schema that describes them (without it a PDF/A file may not hold
    properties of its own). Properties of that namespace already there are replaced."""
    root = _rdf(xmp)
    for old in root.findall(f"{{{RDF}}}Description"):
        for child in list(old):
            if etree.QName(child).namespace == namespace:
                old.remove(child)
    mine = etree.SubElement(root, f"{{{RDF}}}Description", nsmap={prefix: namespace})
    mine.set(f"{{{RDF}}}about", "")
    for p in props:
        etree.SubElement(mine, f"{{{namespace}}}{p.name}").text = p.value
    _describe(root, namespace, prefix, schema, props)
    text = etree.tostring(root.getroottree().getroot(), encoding="unicode")
    return f"{PACKET_BEGIN}{text}{PACKET_END}".encode()


def _rdf(xmp: bytes | None) -> etree._Element:
    """The rdf:RDF element of a packet (a new empty one when there is none or it is bad)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    if xmp:
        try:
            start, end = xmp.find(b"<x:xmpmeta"), xmp.rfind(b"</x:xmpmeta>")
            if start < 0 or end < 0:  # some writers give the rdf:RDF alone
                start, end = xmp.find(b"<rdf:RDF"), xmp.rfind(b"</rdf:RDF>") + len(b"</rdf:RDF>")
            else:
                end += len(b"</x:xmpmeta>")
            found = etree.fromstring(xmp[start:end], parser).find(f".//{{{RDF}}}RDF")
            if found is not None:
                return found
        except etree.XMLSyntaxError:
            pass
    empty = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}"/></x:xmpmeta>'
    return etree.fromstring(empty, parser)[0]


def _describe(
    root: etree._Element, namespace: str, prefix: str, schema: str, props: list[Property]
) -> None:
    """Add (or replace) the extension schema entry of `namespace` in the packet."""
    ns = {"rdf": RDF, "pdfaExtension": PDFA_EXTENSION, "pdfaSchema": PDFA_SCHEMA}
    bag = root.find("rdf:Description/pdfaExtension:schemas/rdf:Bag", ns)
    if bag is None:
        holder = etree.SubElement(
            root,
            f"{{{RDF}}}Description",
            nsmap={"pdfaExtension": PDFA_EXTENSION, "pdfaSchema": PDFA_SCHEMA,
                   "pdfaProperty": PDFA_PROPERTY},
        )  # fmt: skip
        holder.set(f"{{{RDF}}}about", "")
        schemas = etree.SubElement(holder, f"{{{PDFA_EXTENSION}}}schemas")
        bag = etree.SubElement(schemas, f"{{{RDF}}}Bag")
    for li in bag.findall("rdf:li", ns):
        if li.findtext("pdfaSchema:namespaceURI", namespaces=ns) == namespace:
            bag.remove(li)
    li = etree.SubElement(bag, f"{{{RDF}}}li")
    li.set(f"{{{RDF}}}parseType", "Resource")
    for key, value in (("schema", schema), ("namespaceURI", namespace), ("prefix", prefix)):
        etree.SubElement(li, f"{{{PDFA_SCHEMA}}}{key}").text = value
    seq = etree.SubElement(etree.SubElement(li, f"{{{PDFA_SCHEMA}}}property"), f"{{{RDF}}}Seq")
    for p in props:
        item = etree.SubElement(seq, f"{{{RDF}}}li")
        item.set(f"{{{RDF}}}parseType", "Resource")
        for key, value in (
            ("name", p.name),
            ("valueType", p.value_type),
            ("category", "external"),
            ("description", p.description),
        ):
            etree.SubElement(item, f"{{{PDFA_PROPERTY}}}{key}").text = value
