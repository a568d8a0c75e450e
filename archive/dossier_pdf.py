"""One PDF of a dossier: a cover (the dossier's fields), the list of documents (mục lục
văn bản), then every document's pages in the dossier's order (its master, else its
searchable PDF), with a bookmark per document.

What this guarantees of the file it writes (PDF/A-2b's properties, the merged documents
being PDF/A-2b masters or kho's own searchable PDFs):
- one OutputIntent (GTS_PDFA1, sRGB IEC61966-2.1, the ICC profile of LittleCMS);
- XMP metadata with pdfaid:part 2, pdfaid:conformance B and Dublin Core (title, creator,
  description, identifier), matching the document information dictionary;
- every font embedded: kho's own text is DejaVu Sans (`archive.fonts`), embedded as a
  subset with a ToUnicode map, so the list's Vietnamese text is extractable; the
  documents' pages keep the embedded fonts they came with;
- no encryption, no actions (no OpenAction, no /AA, no link or other annotation actions);
  bookmarks go to pages by destination only.
It is not checked by a PDF/A validator here; an ISO 19005 validator (veraPDF) should be run
on samples when the masters change.
"""

from __future__ import annotations

import io

import pikepdf
from PIL import ImageCms

from kho.archive.dossier_export import (
    CATALOG_HEADER,
    DossierExport,
    catalog_rows,
    document_pdf,
)
from kho.archive.fonts import reportlab_fonts
from kho.core.archival import display
from kho.core.storage import Storage

SRGB = "sRGB IEC61966-2.1"


def dossier_pdf(storage: Storage, export: DossierExport) -> bytes:
    """The dossier's PDF, before it is marked as the use copy of whoever receives it
    (`archive.usecopy.use_copy`)."""
    front = pikepdf.open(io.BytesIO(front_matter(export)))
    bookmarks = [("Bìa hồ sơ", 0), ("Mục lục văn bản", 1)]
    opened = []
    for m in export.members:
        src = pikepdf.open(document_pdf(storage, m.doc.id))
        opened.append(src)
        bookmarks.append((_title(m), len(front.pages)))
        front.pages.extend(src.pages)
    _strip_actions(front)
    with front.open_outline() as outline:
        outline.root.extend(pikepdf.OutlineItem(t, page) for t, page in bookmarks)
    _pdfa(front, export)
    out = io.BytesIO()
    front.save(out, fix_metadata_version=True)
    for src in opened:
        src.close()
    return out.getvalue()


def front_matter(export: DossierExport) -> bytes:
    """The cover and the list of documents, drawn with the embedded Vietnamese font."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table

    regular, bold = reportlab_fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10.5)
    head = ParagraphStyle("head", parent=body, fontName=bold, fontSize=15, leading=20)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, initialFontName=regular, title=_dossier_title(export),
        leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm,
    )  # fmt: skip
    story = [Paragraph("HỒ SƠ", head), Paragraph(_esc(_dossier_title(export)), body)]
    fonds = export.fonds.values
    pairs = [("Phông", f"{fonds['code']} {fonds['name']}")]
    pairs += [(s.label, display(export.dossier.values.get(s.name))) for s in export.dossier.specs]
    fields = [[Paragraph(_esc(k), small), Paragraph(_esc(v), small)] for k, v in pairs]
    story.append(Table(fields, colWidths=[55 * mm, 125 * mm], style=_grid(colors)))
    story += [PageBreak(), Paragraph("MỤC LỤC VĂN BẢN", head)]
    rows = [[Paragraph(_esc(c), small) for c in CATALOG_HEADER]]
    rows += [[Paragraph(_esc(c), small) for c in row] for row in catalog_rows(export)]
    widths = [10 * mm, 26 * mm, 21 * mm, 60 * mm, 32 * mm, 15 * mm, 16 * mm]
    story.append(Table(rows, colWidths=widths, repeatRows=1, style=_grid(colors)))
    doc.build(story)
    return buf.getvalue()


def _grid(colors):
    from reportlab.platypus import TableStyle

    regular, _ = reportlab_fonts()
    return TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("FONTNAME", (0, 0), (-1, -1), regular),  # never reportlab's unembedded default
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _title(m) -> str:
    v = m.record.values
    what = " — ".join(x for x in (v["type_name"], v["subject"]) if x) or m.doc.filename
    return f"{m.ordinal}. {what}"[:200]


def _dossier_title(export: DossierExport) -> str:
    title = export.dossier.values.get("title") or ""
    return f"{export.code} {title}".strip()


def _strip_actions(pdf: pikepdf.Pdf) -> None:
    """No action of any kind: nothing runs or leaves the document when it is opened."""
    for key in ("/OpenAction", "/AA"):
        if key in pdf.Root:
            del pdf.Root[key]
    for page in pdf.pages:
        if "/AA" in page.obj:
            del page.obj["/AA"]
        for annot in page.obj.get("/Annots", []):
            for key in ("/A", "/AA"):
                if key in annot:
                    del annot[key]


def _pdfa(pdf: pikepdf.Pdf, export: DossierExport) -> None:
    """One sRGB OutputIntent and the PDF/A-2b identification with Dublin Core in XMP."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    profile = pikepdf.Stream(pdf, icc)
    profile["/N"] = 3
    intent = pikepdf.Dictionary(
        Type=pikepdf.Name.OutputIntent,
        S=pikepdf.Name.GTS_PDFA1,
        OutputConditionIdentifier=SRGB,
        Info=SRGB,
        DestOutputProfile=profile,
    )
    pdf.Root.OutputIntents = pikepdf.Array([intent])
    if "/Metadata" in pdf.Root:
        del pdf.Root["/Metadata"]
    pdf.docinfo = pdf.make_indirect(pikepdf.Dictionary())  # filled from the XMP below
    organ = export.fonds.values.get("name") or export.fonds.values.get("code") or "kho"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["pdfaid:part"] = "2"
        meta["pdfaid:conformance"] = "B"
        meta["dc:title"] = _dossier_title(export)
        meta["dc:creator"] = [organ]
        meta["dc:description"] = f"Hồ sơ {export.code}: {len(export.members)} văn bản"
        meta["dc:identifier"] = export.code
        meta["xmp:CreatorTool"] = "kho"
        meta["pdf:Producer"] = "kho"
