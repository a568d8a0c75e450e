"""hOCR and ALTO: the two XML formats other OCR tools and digital libraries read.

Both carry the same nesting, built once by `page_layout`: page, text blocks, lines, words
with their boxes (in the pixels of the page image the text describes) and confidences.
OCR pages keep tesseract's lines and blocks (`PageText.text` has a line per text line and a
blank line between blocks); text-layer pages, whose words need not split like their text,
are grouped into lines and blocks by position.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..core.types import PageText, Word

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
    capabilities = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"
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
        n_line = n_word = 0
        for b, block in enumerate(page_layout(page), start=1):
            box = _title(_block_box(block))
            area = ET.SubElement(
                page_el, "div", {"class": "ocr_carea", "id": f"block_{p}_{b}", "title": box}
            )
            par = ET.SubElement(area, "p", {"class": "ocr_par", "id": f"par_{p}_{b}", "title": box})
            for line in block:
                n_line += 1
                line_el = ET.SubElement(
                    par,
                    "span",
                    {"class": "ocr_line", "id": f"line_{p}_{n_line}", "title": _title(_bbox(line))},
                )
                for w in line:
                    n_word += 1
                    conf = f"x_wconf {round(w.conf)}" if w.conf >= 0 else ""
                    word_el = ET.SubElement(
                        line_el,
                        "span",
                        {"class": "ocrx_word", "id": f"word_{p}_{n_word}",
                         "title": _title(_bbox([w]), conf)},
                    )  # fmt: skip
                    word_el.text = w.text
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
    layout = ET.SubElement(alto, "Layout")
    for p, page in enumerate(pages, start=1):
        page_el = ET.SubElement(
            layout,
            "Page",
            {"ID": f"page_{p}", "PHYSICAL_IMG_NR": str(p),
             "WIDTH": str(page.width), "HEIGHT": str(page.height)},
        )  # fmt: skip
        space = ET.SubElement(page_el, "PrintSpace", _box_attrs((0, 0, page.width, page.height)))
        n_line = n_word = 0
        for b, block in enumerate(page_layout(page), start=1):
            block_el = ET.SubElement(
                space, "TextBlock", {"ID": f"block_{p}_{b}", **_box_attrs(_block_box(block))}
            )
            for line in block:
                n_line += 1
                line_el = ET.SubElement(
                    block_el,
                    "TextLine",
                    {"ID": f"line_{p}_{n_line}", **_box_attrs(_bbox(line))},
                )
                for i, w in enumerate(line):
                    if i:
                        prev = line[i - 1]
                        gap_left = prev.left + prev.width
                        ET.SubElement(
                            line_el,
                            "SP",
                            {"WIDTH": str(max(0, w.left - gap_left)), "HPOS": str(gap_left),
                             "VPOS": str(w.top)},
                        )  # fmt: skip
                    n_word += 1
                    attrs = {"ID": f"string_{p}_{n_word}", **_box_attrs(_bbox([w]))}
                    if w.conf >= 0:
                        attrs["WC"] = f"{w.conf / 100:.2f}"
                    attrs["CONTENT"] = w.text
                    ET.SubElement(line_el, "String", attrs)
    ET.indent(alto, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(alto, encoding="unicode") + "\n"
