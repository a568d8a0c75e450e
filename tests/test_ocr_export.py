"""hOCR and ALTO exports parse as XML and give back every word with its box and confidence."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from kho.core.types import PageText, Word
from kho.ocr.export import page_layout, to_alto, to_hocr

ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def ocr_page() -> PageText:
    """Two blocks as tesseract gives them: a line per text line, a blank line between."""
    words = (
        Word("Quyết", 95.5, 100, 100, 120, 40),
        Word("định", 91.0, 240, 100, 90, 40),
        Word("Đảng", 88.2, 100, 160, 110, 40),
        Word("ủy", 70.0, 230, 160, 50, 40),
        Word("<số", 62.4, 100, 300, 80, 40),
        Word("12&13>", 55.0, 200, 300, 140, 40),
    )
    text = "Quyết định\nĐảng ủy\n\n<số 12&13>"
    return PageText(text, 80.0, words, 1240, 1754, "ocr", rotation=90, skew=1.5)


def layer_page() -> PageText:
    """A text-layer page: words split unlike the text, no confidences."""
    words = (
        Word("Hà", -1.0, 100, 100, 50, 30),
        Word("Nội,", -1.0, 160, 100, 60, 30),
        Word("ngày", -1.0, 100, 140, 80, 30),
        Word("Kính", -1.0, 100, 400, 80, 30),
    )
    return PageText("Hà Nội,ngày\n\nKính", 100.0, words, 1240, 1754, "text-layer")


def test_layout_keeps_tesseract_lines_and_blocks():
    blocks = page_layout(ocr_page())
    assert [[[w.text for w in line] for line in b] for b in blocks] == [
        [["Quyết", "định"], ["Đảng", "ủy"]],
        [["<số", "12&13>"]],
    ]


def test_layout_of_a_text_layer_groups_by_position():
    blocks = page_layout(layer_page())
    assert [[[w.text for w in line] for line in b] for b in blocks] == [
        [["Hà", "Nội,"], ["ngày"]],
        [["Kính"]],
    ]


def _bbox(title: str) -> tuple[int, ...]:
    return tuple(int(v) for v in re.search(r"bbox (\d+) (\d+) (\d+) (\d+)", title).groups())


@pytest.mark.parametrize("make", [ocr_page, layer_page])
def test_hocr_round_trips_words_boxes_and_confidences(make):
    page = make()
    doc = etree.fromstring(to_hocr([page, page], title="Báo cáo & kế hoạch").encode("utf-8"))
    assert doc.find(f"{XHTML}head/{XHTML}title").text == "Báo cáo & kế hoạch"
    pages = doc.findall(f".//{XHTML}div[@class='ocr_page']")
    assert len(pages) == 2
    assert _bbox(pages[0].get("title")) == (0, 0, 1240, 1754)
    words = pages[1].findall(f".//{XHTML}span[@class='ocrx_word']")
    assert [w.text for w in words] == [w.text for w in page.words]
    for el, w in zip(words, page.words, strict=True):
        assert _bbox(el.get("title")) == (w.left, w.top, w.left + w.width, w.top + w.height)
        conf = re.search(r"x_wconf (\d+)", el.get("title"))
        assert (int(conf.group(1)) if conf else -1) == (round(w.conf) if w.conf >= 0 else -1)
    lines = pages[0].findall(f".//{XHTML}span[@class='ocr_line']")
    assert len(lines) == 3
    # every line's box holds its words; ids are unique across pages
    for line in lines:
        lx0, ly0, lx1, ly1 = _bbox(line.get("title"))
        for word in line.findall(f"{XHTML}span"):
            x0, y0, x1, y1 = _bbox(word.get("title"))
            assert lx0 <= x0 and ly0 <= y0 and x1 <= lx1 and y1 <= ly1
    ids = [el.get("id") for el in doc.iter() if el.get("id")]
    assert len(ids) == len(set(ids))
    assert len(doc.findall(f".//{XHTML}div[@class='ocr_carea']")) == 4


@pytest.mark.parametrize("make", [ocr_page, layer_page])
def test_alto_round_trips_words_boxes_and_confidences(make):
    page = make()
    doc = etree.fromstring(to_alto([page], filename="công văn.tif").encode("utf-8"))
    assert doc.tag == f"{ALTO}alto"
    assert doc.find(f".//{ALTO}sourceImageInformation/{ALTO}fileName").text == "công văn.tif"
    assert doc.find(f".//{ALTO}MeasurementUnit").text == "pixel"
    page_el = doc.find(f".//{ALTO}Page")
    assert (page_el.get("WIDTH"), page_el.get("HEIGHT")) == ("1240", "1754")
    strings = doc.findall(f".//{ALTO}String")
    assert [s.get("CONTENT") for s in strings] == [w.text for w in page.words]
    for el, w in zip(strings, page.words, strict=True):
        box = tuple(int(el.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
        assert box == (w.left, w.top, w.width, w.height)
        if w.conf >= 0:
            assert float(el.get("WC")) == pytest.approx(w.conf / 100, abs=0.0051)  # 2 places
        else:
            assert el.get("WC") is None
    blocks = doc.findall(f".//{ALTO}PrintSpace/{ALTO}TextBlock")
    assert len(blocks) == 2
    for line in doc.iter(f"{ALTO}TextLine"):
        children = [c.tag for c in line]
        # String, SP, String, ...: spaces only between words
        assert children[::2] == [f"{ALTO}String"] * len(children[::2])
        assert all(t == f"{ALTO}SP" for t in children[1::2])


def test_empty_page_exports_an_empty_page():
    blank = PageText("", 0.0, (), 1240, 1754, "ocr")
    alto = etree.fromstring(to_alto([blank], filename="blank.png").encode("utf-8"))
    assert alto.find(f".//{ALTO}Page") is not None
    assert alto.find(f".//{ALTO}String") is None
    hocr = etree.fromstring(to_hocr([blank], title="blank").encode("utf-8"))
    assert hocr.find(f".//{XHTML}span") is None
