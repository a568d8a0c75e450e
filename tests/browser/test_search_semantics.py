"""Search semantics as an officer sees them: one result per document with its page numbers,
marks typed meaning the word, and the offer to ignore marks for what OCR left unmarked."""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho
from .conftest import PHONE, axe_violations, login, overflow

RECORDS = {  # born-digital records of qk7, public, added to the site's samples
    "dan-van-ba-trang.pdf": ["Công tác dân vận ở cơ sở", "Hậu cần doanh trại", "Dân vận khéo"],
    "binh-dang.pdf": ["Quyền bình đẳng giới trong đơn vị"],  # 'đẳng', never 'đảng'
    "mat-dau.pdf": ["bao cao cong tac dan van"],  # OCR lost the marks
}


@pytest.fixture(scope="module")
def semantics(site):
    """The site with RECORDS ingested through the CLI; {file name: doc id} of them."""
    scans = site["root"] / "semantics"
    scans.mkdir()
    for name, texts in RECORDS.items():
        write_born_digital_pdf(scans / name, texts)
    kho = {"home": site["home"], "env": site["env"]}
    run_kho("ingest", str(scans), "--batch", "ngu-nghia", "--unit", "qk7", "-q", **kho)
    found = run_kho("search", "", "--json", "--as", "archivist", "--limit", "100", **kho).stdout
    return {h["filename"]: h["doc_id"] for h in json.loads(found)}


def officer(driver, base: str) -> None:
    login(driver, base, "officer")
    WebDriverWait(driver, 20).until(lambda d: "/login" not in d.current_url)


def results(driver, base: str, query: str, extra: str = "") -> list:
    driver.get(f"{base}/?q={quote(query)}{extra}")
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.total")))
    return driver.find_elements(By.CSS_SELECTOR, "ol.hits > li")


def doc_of(hit) -> str:
    href = hit.find_element(By.CSS_SELECTOR, "a.title").get_attribute("href")
    return urlsplit(href).path.removeprefix("/doc/")


def _path_and_page(href: str) -> str:
    """/doc/<id>#page-N of a page link (the query it carries for highlighting left out)."""
    parts = urlsplit(href)
    return f"{parts.path}#{parts.fragment}"


def test_dan_van_lists_each_document_once_with_its_pages(site, semantics, page):
    driver = page()
    officer(driver, site["base"])
    hits = results(driver, site["base"], "dân vận")
    docs = [doc_of(h) for h in hits]
    assert len(docs) == len(set(docs)) >= 2, docs  # the sample and the three-page record
    three = hits[docs.index(semantics["dan-van-ba-trang.pdf"])]
    links = three.find_elements(By.CSS_SELECTOR, "p.pages a")
    assert [a.text for a in links] == ["1", "3"]
    doc = semantics["dan-van-ba-trang.pdf"]
    assert [_path_and_page(a.get_attribute("href")) for a in links] == [
        f"/doc/{doc}#page-1", f"/doc/{doc}#page-3"
    ]  # fmt: skip
    assert "(2 trang khớp)" in three.text
    assert semantics["mat-dau.pdf"] not in docs
    total = driver.find_element(By.CSS_SELECTOR, "p.total").text
    assert total == f"{len(docs)} tài liệu phù hợp"
    notice = driver.find_element(By.CSS_SELECTOR, "p.loose")
    more = int(notice.text.split()[1])  # "Thêm N tài liệu nếu bỏ qua dấu: ..."
    assert notice.text.startswith(f"Thêm {more} tài liệu nếu bỏ qua dấu") and more >= 1
    assert axe_violations(driver) == []
    driver.set_window_size(*PHONE)
    assert overflow(driver) == 0
    notice.find_element(By.TAG_NAME, "a").click()
    WebDriverWait(driver, 20).until(ec.url_contains("marks=ignore"))
    loosely = [doc_of(h) for h in driver.find_elements(By.CSS_SELECTOR, "ol.hits > li")]
    assert semantics["mat-dau.pdf"] in loosely and set(docs) <= set(loosely)
    assert len(loosely) == len(set(loosely)) == len(docs) + more
    assert driver.find_elements(By.CSS_SELECTOR, "p.loose") == []
    assert overflow(driver) == 0 and axe_violations(driver) == []


def test_dang_does_not_list_binh_dang(site, semantics, page):
    driver = page()
    officer(driver, site["base"])
    assert semantics["binh-dang.pdf"] not in [
        doc_of(h) for h in results(driver, site["base"], "đảng")
    ]
    found = [doc_of(h) for h in results(driver, site["base"], "bình đẳng")]
    assert found == [semantics["binh-dang.pdf"]]
    assert semantics["binh-dang.pdf"] in [doc_of(h) for h in results(driver, site["base"], "dang")]
