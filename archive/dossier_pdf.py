"""One PDF of a dossier: a cover (the dossier's fields), the list of documents (mục lục
văn bản), then every document's pages in the dossier's order (its master, else its
searchable PDF), with a bookmark per document.

What this guarantees of the file it writes (PDF/A-2b's properties, the merged documents
being PDF/A-2b masters or kho's own searchable PDFs):
- one OutputIntent (GTS_PDFA1, sRGB IEC61966-2.1, the ICC profile of LittleCMS) and
  XMP metadata with pdfaid:part 2, pdfaid:conformance B and Dublin Core (title, creator,
  description, identifier), matching the document information dictionary: written by
  the masters' own `archive.pdfa.describe`;
- every font embedded: kho's own text is DejaVu Sans (`archive.fonts`), embedded as a
  subset with a ToUnicode map, so the list's Vietnamese text is extractable; the
  documents' pages keep the embedded fonts they came with;
- no encryption, no actions (no OpenAction, no /AA, no link or other annotation actions);
  bookmarks go to pages by destination only.
It is written page by page: a dossier of any size is written in the memory of one page.
It is not checked by a PDF/A validator here; an ISO 19005 validator (veraPDF) should be run
on samples when the masters change.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import BinaryIO

import pikepdf

from kho.archive.dossier_export import (
    CATALOG_HEADER,
    DossierExport,
    catalog_rows,
    document_pdf,
)
from kho.archive.fonts import reportlab_fonts
from kho.archive.pdfa import describe
from kho.core.archival import display
from kho.core.pdfcopy import PageCopier
from kho.core.pdfstream import Name, PdfWriter, Ref
from kho.core.storage import Storage


def write_dossier_pdf(
    storage: Storage, export: DossierExport, out: BinaryIO, created: datetime | None = None
) -> None:
    """Write the dossier's PDF to `out`, page by page (`core.pdfcopy`: each document read
    from its file as its pages are copied), before it is marked as the use copy of
    whoever receives it (`archive.usecopy.write_use_copy`)."""
    created = created or datetime.now(UTC).replace(microsecond=0)
    pdf = PdfWriter(out)
    tree = pdf.reserve()
    with pikepdf.open(io.BytesIO(front_matter(export))) as front:
        kids = _copy_pages(pdf, front, tree)
    bookmarks = [("Bìa hồ sơ", kids[0]), ("Mục lục văn bản", kids[min(1, len(kids) - 1)])]
    for m in export.members:
        with pikepdf.open(document_pdf(storage, m.doc.id)) as src:
            pages = _copy_pages(pdf, src, tree)
        if pages:
            bookmarks.append((_title(m), pages[0]))
        kids += pages
    pdf.add({"Type": Name("Pages"), "Kids": kids, "Count": len(kids)}, tree)
    catalog, info = describe(pdf, _dublin_core(export), created)
    catalog["Outlines"] = _outline(pdf, bookmarks)
    pdf.finish(pdf.add({"Type": Name("Catalog"), "Pages": tree, **catalog}), info)


def _copy_pages(pdf: PdfWriter, src: pikepdf.Pdf, tree: Ref) -> list[Ref]:
    copier = PageCopier(pdf, src)
    return [copier.copy_page(i, tree) for i in range(len(src.pages))]


def _outline(pdf: PdfWriter, bookmarks: list[tuple[str, Ref]]) -> Ref:
    """A flat outline: one item per bookmark, each going to its page (no action)."""
    root, items = pdf.reserve(), [pdf.reserve() for _ in bookmarks]
    for i, ((title, page), ref) in enumerate(zip(bookmarks, items, strict=True)):
        item = {"Title": title, "Parent": root, "Dest": [page, Name("Fit")]}
        if i:
            item["Prev"] = items[i - 1]
        if i + 1 < len(items):
            item["Next"] = items[i + 1]
        pdf.add(item, ref)
    return pdf.add(
        {"Type": Name("Outlines"), "First": items[0], "Last": items[-1], "Count": len(items)},
        root,
    )


def _dublin_core(export: DossierExport) -> dict[str, str]:
    """The dossier's XMP and document information: title, the fonds' organ, what it
    holds, its code (PDF/A-2b's identification is written with them)."""
    organ = export.fonds.values.get("name") or export.fonds.values.get("code") or "kho"
    return {
        "title": _dossier_title(export),
        "creator": organ,
        "description": f"Hồ sơ {export.code}: {len(export.members)} văn bản",
        "identifier": export.code,
    }


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
