"""hOCR and ALTO: the two XML formats other OCR tools and digital libraries read.

Both carry the same nesting, built once by `page_areas`: page, areas, paragraphs, lines,
words with their boxes (in the pixels of the page image the text describes) and
confidences. A page read with its layout (`PageText.regions`) has an area per region,
named by its kind (header-left, title, body, a table's cells, signature...); its text has
a line per text line and a blank line between paragraphs and regions. Other pages keep
their reader's lines and blocks (a block per area), or, when their words do not split like
their text, are grouped into lines and blocks by position.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.types import PageText, Region, Word

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XHTML_NS = "http://www.w3.org/1999/xhtml"
HOCR_DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"'
    ' "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
)
BLOCK_GAP = 1.5  # vertical gap, in line heights, that starts a new block (text-layer pages)

Line = list[Word]
Block = list[Line]


@dataclass(frozen=True)
class Area:
    """A part of the page to export: its region (None when the layout is unknown) and its
    paragraphs of lines; a table's area has no lines, its cells follow as areas."""

    region: Region | None
    paragraphs: list[Block]

    def box(self) -> tuple[int, int, int, int]:
        r = self.region
        if r is not None and (r.kind in ("table", "cell") or not self.paragraphs):
            return (r.left, r.top, r.left + r.width, r.top + r.height)
        return _bbox([w for par in self.paragraphs for line in par for w in line])


def page_areas(page: PageText) -> list[Area]:
    """The page's areas in reading order: its regions when it has them, else its blocks."""
    words = [w for w in page.words if w.text.strip()]
    if not page.regions or [w.text for w in words] != page.text.split():
        return [Area(None, [block]) for block in page_layout(page)]
    areas = [Area(r, []) for r in page.regions]
    leaves = [a for a in areas if a.region.kind != "table"]  # a table holds its cells' words
    taken, at, new_par = 0, 0, True
    for row in page.text.split("\n"):
        count = len(row.split())
        if not count:
            new_par = True
            continue
        while at < len(leaves) - 1 and taken >= leaves[at].region.first + leaves[at].region.count:
            at, new_par = at + 1, True
        if new_par or not leaves[at].paragraphs:
            leaves[at].paragraphs.append([])
            new_par = False
        leaves[at].paragraphs[-1].append(words[taken : taken + count])
        taken += count
    return areas


def page_layout(page: PageText) -> list[Block]:
    """Blocks of lines of words, in reading order."""
    words = [w for w in page.words if w.text.strip()]
    if [w.text for w in words] == page.text.split():
        return _layout_from_text(page.text, words)
    return _layout_from_boxes(words)


def _layout_from_text(text: str, words: list[Word]) -> list[Block]:
    """Follow the text: a line per text line, a block per run of non-blank lines."""
    blocks: list[Block] = [[]]
    taken = 0
    for row in text.split("\n"):
        count = len(row.split())
        if not count:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(words[taken : taken + count])
        taken += count
    return [b for b in blocks if b]


def group_lines(words: Sequence[Word]) -> list[Line]:
    """Group words (in reading order) into text lines: same band, moving right."""
    lines: list[Line] = []
    for w in words:
        if lines:
            last = lines[-1][-1]
            overlap = min(last.top + last.height, w.top + w.height) - max(last.top, w.top)
            if overlap >= 0.5 * min(last.height, w.height) and w.left >= last.left:
                lines[-1].append(w)
                continue
        lines.append([w])
    return lines


def _layout_from_boxes(words: list[Word]) -> list[Block]:
    """Group words into lines (same band, moving right) and lines into blocks (by gaps)."""
    lines = group_lines(words)
    blocks: list[Block] = []
    for line in lines:
        if blocks:
            above = _bbox(blocks[-1][-1])
            here = _bbox(line)
            gap = here[1] - above[3]
            if -0.5 * (above[3] - above[1]) <= gap <= BLOCK_GAP * (above[3] - above[1]):
                blocks[-1].append(line)
                continue
        blocks.append([line])
    return blocks


def _bbox(words: Sequence[Word]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) around words."""
    return (
        min(w.left for w in words),
        min(w.top for w in words),
        max(w.left + w.width for w in words),
        max(w.top + w.height for w in words),
    )


def _block_box(block: Block) -> tuple[int, int, int, int]:
    return _bbox([w for line in block for w in line])


# --- hOCR ------------------------------------------------------------------------------------
def _title(box: tuple[int, int, int, int], extra: str = "") -> str:
    return f"bbox {box[0]} {box[1]} {box[2]} {box[3]}" + (f"; {extra}" if extra else "")


def _hocr_areas(page_el: ET.Element, p: int, page: PageText) -> None:
    """A page's areas: ocr_carea > ocr_par > ocr_line > ocrx_word; a table's cells as
    ocr_carea inside its ocr_table. A region's kind is its x_region property."""
    lines = words = 0
    parent = page_el
    for b, area in enumerate(page_areas(page), start=1):
        region = area.region
        kind = region.kind if region else ""
        props = f"x_region {kind}" if kind else ""
        if kind == "cell":
            props += f"; x_cell {region.row} {region.col}"
        else:
            parent = page_el
        attrs = {"id": f"block_{p}_{b}", "title": _title(area.box(), props)}
        if kind == "table":
            parent = ET.SubElement(page_el, "div", {"class": "ocr_table", **attrs})
            continue
        carea = ET.SubElement(parent, "div", {"class": "ocr_carea", **attrs})
        for q, par in enumerate(area.paragraphs, start=1):
            box = _title(_block_box(par))
            par_el = ET.SubElement(
                carea, "p", {"class": "ocr_par", "id": f"par_{p}_{b}_{q}", "title": box}
            )
            for line in par:
                lines += 1
                _hocr_line(par_el, line, p, lines, words)
                words += len(line)


def _hocr_line(parent: ET.Element, line: Line, p: int, n_line: int, n_word: int) -> None:
    line_el = ET.SubElement(
        parent,
        "span",
        {"class": "ocr_line", "id": f"line_{p}_{n_line}", "title": _title(_bbox(line))},
    )
    for w in line:
        n_word += 1
        conf = f"x_wconf {round(w.conf)}" if w.conf >= 0 else ""
        word_el = ET.SubElement(
            line_el,
            "span",
            {"class": "ocrx_word", "id": f"word_{p}_{n_word}", "title": _title(_bbox([w]), conf)},
        )  # fmt: skip
        word_el.text = w.text


def to_hocr(pages: Sequence[PageText], title: str) -> str:
    """hOCR 1.2 (XHTML): ocr_page > ocr_carea > ocr_par > ocr_line > ocrx_word, with bbox
    and x_wconf (left out for text-layer words, whose confidence is unknown)."""
    html = ET.Element("html", {"xmlns": XHTML_NS, "xml:lang": "vi", "lang": "vi"})
    head = ET.SubElement(html, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(
        head, "meta", {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"}
    )
    ET.SubElement(head, "meta", {"name": "ocr-system", "content": "kho"})
    capabilities = "ocr_page ocr_carea ocr_table ocr_par ocr_line ocrx_word ocrp_wconf"
    ET.SubElement(head, "meta", {"name": "ocr-capabilities", "content": capabilities})
    body = ET.SubElement(html, "body")
    for p, page in enumerate(pages, start=1):
        info = f"ppageno {p - 1}; scan_res {page.dpi} {page.dpi}"
        page_el = ET.SubElement(
            body,
            "div",
            {"class": "ocr_page", "id": f"page_{p}",
             "title": _title((0, 0, page.width, page.height), info)},
        )  # fmt: skip
        _hocr_areas(page_el, p, page)
    ET.indent(html, space=" ")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + HOCR_DOCTYPE
        + "\n"
        + ET.tostring(html, encoding="unicode")
        + "\n"
    )


# --- ALTO ------------------------------------------------------------------------------------
def _box_attrs(box: tuple[int, int, int, int]) -> dict[str, str]:
    return {
        "HPOS": str(box[0]),
        "VPOS": str(box[1]),
        "WIDTH": str(box[2] - box[0]),
        "HEIGHT": str(box[3] - box[1]),
    }


def _layout_tag(tags: ET.Element, kind: str) -> str:
    """The ID of the LayoutTag naming a region kind, added to `tags` on first use."""
    tag_id = f"region_{kind}"
    if not any(t.get("ID") == tag_id for t in tags):
        ET.SubElement(tags, "LayoutTag", {"ID": tag_id, "TYPE": "region", "LABEL": kind})
    return tag_id


def _alto_areas(space: ET.Element, tags: ET.Element, p: int, page: PageText) -> None:
    """A page's areas: a TextBlock per area, tagged with its region's kind; a table is a
    ComposedBlock of TYPE "table" holding its cells' TextBlocks."""
    lines = words = 0
    parent = space
    for b, area in enumerate(page_areas(page), start=1):
        kind = area.region.kind if area.region else ""
        attrs = {"ID": f"block_{p}_{b}"}
        if kind:
            attrs["TAGREFS"] = _layout_tag(tags, kind)
        if kind != "cell":
            parent = space
        attrs.update(_box_attrs(area.box()))
        if kind == "table":
            parent = ET.SubElement(space, "ComposedBlock", {**attrs, "TYPE": "table"})
            continue
        block_el = ET.SubElement(parent, "TextBlock", attrs)
        for line in (line for par in area.paragraphs for line in par):
            lines += 1
            _alto_line(block_el, line, p, lines, words)
            words += len(line)


def _alto_line(parent: ET.Element, line: Line, p: int, n_line: int, n_word: int) -> None:
    line_el = ET.SubElement(
        parent, "TextLine", {"ID": f"line_{p}_{n_line}", **_box_attrs(_bbox(line))}
    )
    for i, w in enumerate(line):
        if i:
            prev = line[i - 1]
            gap_left = prev.left + prev.width
            gap = {"WIDTH": str(max(0, w.left - gap_left)), "HPOS": str(gap_left)}
            ET.SubElement(line_el, "SP", {**gap, "VPOS": str(w.top)})
        n_word += 1
        attrs = {"ID": f"string_{p}_{n_word}", **_box_attrs(_bbox([w]))}
        if w.conf >= 0:
            attrs["WC"] = f"{w.conf / 100:.2f}"
        attrs["CONTENT"] = w.text
        ET.SubElement(line_el, "String", attrs)


def to_alto(pages: Sequence[PageText], filename: str) -> str:
    """ALTO v4: Page > PrintSpace > TextBlock > TextLine > String (HPOS, VPOS, WIDTH, HEIGHT
    in pixels, WC as 0-1 where the confidence is known, CONTENT) with SP between words."""
    # plain names with the namespaces as attributes: ElementTree would otherwise invent
    # prefixes (ns0:) or refuse unqualified attributes under a default namespace
    alto = ET.Element(
        "alto",
        {"xmlns": ALTO_NS, "xmlns:xsi": XSI_NS, "xsi:schemaLocation": f"{ALTO_NS} {ALTO_SCHEMA}"},
    )
    desc = ET.SubElement(alto, "Description")
    ET.SubElement(desc, "MeasurementUnit").text = "pixel"
    source = ET.SubElement(desc, "sourceImageInformation")
    ET.SubElement(source, "fileName").text = filename
    processing = ET.SubElement(desc, "OCRProcessing", {"ID": "OCR_0"})
    step = ET.SubElement(processing, "ocrProcessingStep")
    software = ET.SubElement(step, "processingSoftware")
    ET.SubElement(software, "softwareName").text = "kho"
    tags = ET.SubElement(alto, "Tags")  # a LayoutTag per region kind the pages use
    layout = ET.SubElement(alto, "Layout")
    for p, page in enumerate(pages, start=1):
        page_el = ET.SubElement(
            layout,
            "Page",
            {"ID": f"page_{p}", "PHYSICAL_IMG_NR": str(p),
             "WIDTH": str(page.width), "HEIGHT": str(page.height)},
        )  # fmt: skip
        space = ET.SubElement(page_el, "PrintSpace", _box_attrs((0, 0, page.width, page.height)))
        _alto_areas(space, tags, p, page)
    if not len(tags):
        alto.remove(tags)
    ET.indent(alto, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(alto, encoding="unicode") + "\n"
