"""A long document read page by page costs each page the same, whatever its length.

A PDF's page is found without parsing the others (pdfplumber's own page list parses every
page object of the file, which made a 5,000-page PDF cost its length squared), with the
attributes it inherits from its page tree; a document's texts are read from storage one
page at a time.
"""

from __future__ import annotations

import pdfplumber
import pytest
from pdfminer import pdfpage
from pdfminer.pdftypes import PDFStream
from pdfminer.psparser import PSBaseParser

from kho.core.pdfstream import Name, PdfWriter
from kho.core.settings import Limits
from kho.core.storage import Storage, StoredTexts
from kho.core.types import PageText, Word
from kho.ingest import formats
from kho.ingest.formats import open_source
from kho.ocr import textlayer
from kho.ocr.textlayer import page_text_layer, read_text_layer
from kho.synth.pages import write_born_digital_pdf
from kho.workers.sources import close_kept, page_source


@pytest.fixture
def page_objects(monkeypatch) -> list[int]:
    """Every pdfminer page object made meanwhile (the object number of each)."""
    made: list[int] = []
    real = pdfpage.PDFPage.__init__

    def counting(self, doc, pageid, attrs, label):
        made.append(pageid)
        real(self, doc, pageid, attrs, label)

    monkeypatch.setattr(pdfpage.PDFPage, "__init__", counting)
    return made


def test_one_page_of_a_long_pdf_is_read_alone(tmp_path, page_objects):
    pdf = tmp_path / "long.pdf"
    texts = [f"Trang {n}: báo cáo công tác Đảng của đơn vị số {n}" for n in range(1, 401)]
    write_born_digital_pdf(pdf, texts)
    with open_source(pdf, Limits()) as src:
        layer = src.text_layer(399)
        first = src.text_layer(0)
    assert layer is not None and "Trang 400:" in layer.text
    assert first is not None and "Trang 1:" in first.text
    assert len(page_objects) == 2  # the two pages asked for, none of the 398 others


def test_a_page_inherits_from_its_page_tree(tmp_path):
    """Pages under intermediate nodes that carry their MediaBox, Resources and Rotate
    read exactly as pdfplumber's walk of the whole tree reads them."""
    nested = tmp_path / "nested.pdf"
    with open(nested, "wb") as f:
        pdf = PdfWriter(f)
        root = pdf.reserve()
        font = pdf.add({"Type": Name("Font"), "Subtype": Name("Type1"),
                        "BaseFont": Name("Helvetica")})  # fmt: skip
        nodes = []
        for first, rotate in ((1, 0), (4, 90)):
            node = pdf.reserve()
            kids = [
                pdf.add(
                    {
                        "Type": Name("Page"),
                        "Parent": node,
                        "Contents": pdf.add_stream(
                            b"BT /F1 12 Tf 72 720 Td (Trang %d: nghi quyet chi bo %d) Tj ET"
                            % (n, n)
                        ),
                    }
                )
                for n in range(first, first + 3)
            ]
            pdf.add({"Type": Name("Pages"), "Parent": root, "Kids": kids, "Count": 3,
                     "MediaBox": [0, 0, 595, 842], "Resources": {"Font": {"F1": font}},
                     "Rotate": rotate}, node)  # fmt: skip
            nodes.append(node)
        pdf.add({"Type": Name("Pages"), "Kids": nodes, "Count": 6}, root)
        pdf.finish(pdf.add({"Type": Name("Catalog"), "Pages": root}))
    with pdfplumber.open(nested) as whole:
        assert [p.rotation for p in whole.pages] == [0] * 3 + [90] * 3
        walked = [page_text_layer(p) for p in whole.pages]
    alone = [read_text_layer(nested, i) for i in range(6)]
    assert all(t is not None for t in alone)
    assert alone == walked
    assert alone[0].text.startswith("Trang 1: nghi quyet")


def test_stored_texts_keep_no_page(tmp_path):
    """A document's texts are read from storage when asked and not kept; `light` keeps
    their text without the word boxes."""
    storage = Storage(tmp_path)
    doc = "d" * 64
    words = tuple(Word(f"từ{i}", 90.0, i, 0, 10, 10) for i in range(200))
    for n in (3, 1, 2):
        storage.write_page_text(doc, n, PageText(f"trang {n}", 90.0, words, 100, 100, "ocr"))
    texts = StoredTexts(storage, doc, [3, 1, 2])
    assert list(texts) == [1, 2, 3] and len(texts) == 3
    page = texts[2]
    assert page.text == "trang 2" and len(page.words) == 200
    assert texts[2] is not page  # read again when asked: the mapping keeps none
    assert [(n, t.text, t.words) for n, t in texts.light.items()] == [
        (1, "trang 1", ()),
        (2, "trang 2", ()),
        (3, "trang 3", ()),
    ]
    with pytest.raises(KeyError):
        texts[4]


def tokens_per_page(path, pages: int) -> float:
    """pdfminer's tokens and lines read from the file per page (its cross-reference table,
    page tree, pages and fonts), reading every page in order as a worker's page jobs do."""
    read = [0]

    def counting(real):
        def count(self, *args, **kwargs):
            read[0] += 1
            return real(self, *args, **kwargs)

        return count

    with pytest.MonkeyPatch.context() as mp:
        for name in ("nexttoken", "nextline"):
            mp.setattr(PSBaseParser, name, counting(getattr(PSBaseParser, name)))
        for index in range(pages):
            with page_source(path, Limits()) as src:
                assert f"Trang {index + 1}:" in src.text_layer(index).text
    close_kept()
    return read[0] / pages


def test_each_page_of_a_long_pdf_costs_the_same(tmp_path, monkeypatch):
    """A page of a 600-page PDF costs what a page of a 30-page one does: the file stays
    open between page jobs, the page tree is worked out once, and pdfminer's cache is
    bounded (dropped past MAX_CACHED_OBJECTS, so memory stays flat). Opened per job, a
    page read 4.3 times more of the 600-page file (its xref and page tree each time)."""
    monkeypatch.setattr(textlayer, "MAX_CACHED_OBJECTS", 200)
    cost = {}
    for pages in (30, 600):
        pdf = tmp_path / f"long-{pages}.pdf"
        texts = [f"Trang {n}: nghị quyết chi bộ số {n}" for n in range(1, pages + 1)]
        write_born_digital_pdf(pdf, texts)
        cost[pages] = tokens_per_page(pdf, pages)
    assert cost[600] <= cost[30] * 1.1, cost


def test_the_kept_source_is_the_file_as_it_is_now(tmp_path):
    """A worker's next job on the same unchanged file gets the open source; a replaced
    file, a failed job or another file opens it afresh."""
    path = tmp_path / "a.pdf"
    write_born_digital_pdf(path, ["Trang 1: báo cáo tổng kết công tác năm"] * 2)
    limits = Limits()
    with page_source(path, limits) as first:
        pass
    with page_source(path, limits) as again:
        assert again is first
    write_born_digital_pdf(path, ["Trang 1: kế hoạch tuyên truyền mới"] * 3)
    with page_source(path, limits) as replaced:
        assert replaced is not first and replaced.page_count == 3
        assert "tuyên truyền" in replaced.text_layer(0).text
    with pytest.raises(IndexError), page_source(path, limits) as failing:
        failing.text_layer(7)
    with page_source(path, limits) as after:
        assert after is not failing
    other = tmp_path / "b.pdf"
    write_born_digital_pdf(other, ["Trang 1: danh sách cán bộ đơn vị"])
    with page_source(other, limits) as b:
        assert b is not after and "cán bộ" in b.text_layer(0).text
    close_kept()
    with pytest.raises(RuntimeError):  # closed: reading it now is a bug, and says so
        b.render(0)


def test_a_kept_pdf_keeps_no_page_data(tmp_path, monkeypatch):
    """Kept open over many pages, a PDF holds none of the pages it read: pdfminer keeps no
    stream (a page's contents, a scan's image), and PDFium is opened again every
    PDFIUM_PAGES pages (it keeps each loaded page's resources), rendering just the same."""
    monkeypatch.setattr(formats, "PDFIUM_PAGES", 2)
    path = tmp_path / "mixed.pdf"
    write_born_digital_pdf(path, [f"Trang {n}: quyết định khen thưởng số {n}" for n in range(1, 6)])
    with open_source(path, Limits()) as fresh:
        expected = [fresh.render(i) for i in range(5)]
    with page_source(path, Limits()) as src:
        docs = []  # each kept alive, so no two can share an id
        for i in range(5):
            assert f"Trang {i + 1}:" in src.text_layer(i).text
            assert not [o for o, _ in src._plumber.pdf.doc._cached_objs.values()
                        if isinstance(o, PDFStream)]  # fmt: skip
            assert (src.render(i) == expected[i]).all()
            docs.append(src._doc)
        assert len({id(d) for d in docs}) == 3  # opened again after pages 2 and 4
    close_kept()
