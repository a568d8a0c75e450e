"""The document page in a real browser: a 60-page born-digital document ingested into the
site through the CLI, read with the navigator and lazy batches, the query marked, back to
the results, zoom of a scan's screen image, the fields edited by the archivist."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ..conftest import run_kho
from .conftest import PHONE, axe_violations, login, overflow

PAGES = 60
WORD_PAGE, LOOKALIKE_PAGE = 47, 12  # "đảng" is printed on 47 and 52; "đẳng" on 12 and 47


def page_text(n: int) -> str:
    words = {WORD_PAGE: "Nghị quyết của đảng ủy về bình đẳng giới.", 52: "Chi bộ đảng họp."}
    words[LOOKALIKE_PAGE] = "Bình đẳng trong công tác."
    return f"Báo cáo dài, trang số {n}.\n{words.get(n, 'Nội dung thường kỳ.')}"


@pytest.fixture(scope="module")
def long_doc(site):
    """The id of a 60-page born-digital PDF of unit qk7, ingested into the site by the CLI."""
    from kho.synth.pages import write_born_digital_pdf

    scans = site["root"] / "long"
    scans.mkdir()
    write_born_digital_pdf(scans / "bao-cao-dai.pdf", [page_text(n) for n in range(1, PAGES + 1)])
    (scans / "kho-manifest.csv").write_text("file,level,unit\nbao-cao-dai.pdf,0,qk7\n")
    run_kho("ingest", str(scans), "--batch", "dai", "-q", home=site["home"], env=site["env"])
    out = run_kho("search", "báo cáo dài", "--json", "--as", "archivist", home=site["home"],
                  env=site["env"]).stdout  # fmt: skip
    return next(h["doc_id"] for h in json.loads(out) if h["filename"] == "bao-cao-dai.pdf")


def wait(driver, check, timeout=20):
    return WebDriverWait(driver, timeout).until(lambda d: check(d))


def loaded(driver, n: int) -> bool:
    found = driver.find_elements(By.CSS_SELECTOR, f"#page-{n}:not(.slot) pre.pagetext")
    return bool(found)


def in_view(driver, n: int) -> bool:
    return driver.execute_script(
        "const r = document.getElementById('page-' + arguments[0]).getBoundingClientRect();"
        "return r.top < window.innerHeight && r.bottom > 0;",
        n,
    )


def clean(driver) -> None:
    assert axe_violations(driver) == []


def test_a_long_document_is_read_by_batches_and_the_navigator(site, page, long_doc):
    driver = page()
    login(driver, site["base"], "officer", f"/doc/{long_doc}")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "nav.pagenav"))
    rendered = driver.find_elements(By.CSS_SELECTOR, "#pages section.page:not(.slot)")
    slots = driver.find_elements(By.CSS_SELECTOR, "#pages section.slot")
    assert len(rendered) == 10 and len(slots) == PAGES - 10  # the first batch, then slots
    assert not loaded(driver, 25)
    # a born-digital page's text uses the whole width of its page
    widths = driver.execute_script(
        "const b = document.querySelector('#page-1 .pagebody');"
        "return [b.querySelector('pre').getBoundingClientRect().width, b.clientWidth];"
    )
    assert widths[0] > 0.9 * widths[1] - 40, widths
    clean(driver)
    # scrolled near: the batch of page 25 loads
    driver.execute_script("document.getElementById('page-25').scrollIntoView()")
    wait(driver, lambda d: loaded(d, 25))
    assert "trang số 25" in driver.find_element(By.ID, "page-25").text
    # go to page N: there, loaded
    box = driver.find_element(By.ID, "goto-page")
    box.clear()
    box.send_keys("47")
    driver.find_element(By.CSS_SELECTOR, "form.goto button").click()
    wait(driver, lambda d: loaded(d, 47) and in_view(d, 47))
    assert driver.current_url.endswith("#page-47")
    driver.find_element(By.CSS_SELECTOR, ".pagenav a.next").click()
    wait(driver, lambda d: d.current_url.endswith("#page-48") and in_view(d, 48))
    driver.find_element(By.CSS_SELECTOR, ".pagenav a.prev").click()
    wait(driver, lambda d: d.current_url.endswith("#page-47") and in_view(d, 47))
    # an anchor opened directly works too
    driver.get(f"{site['base']}/doc/{long_doc}#page-58")
    wait(driver, lambda d: loaded(d, 58) and in_view(d, 58))
    driver.set_window_size(*PHONE)
    assert overflow(driver) == 0
    clean(driver)


def test_from_search_the_query_is_marked_and_the_way_back_keeps_it(site, page, long_doc):
    driver = page()
    query = "đảng"
    login(driver, site["base"], "officer", f"/?q={quote(query)}&unit=qk7")
    target = f"#page-{WORD_PAGE}"  # the page-number link of the page the word is on
    link = wait(driver, lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, "p.pages a")
                                   if f"/doc/{long_doc}" in (href := a.get_attribute("href"))
                                   and href.endswith(target)])  # fmt: skip
    link[0].click()
    wait(driver, lambda d: loaded(d, WORD_PAGE) and in_view(d, WORD_PAGE))
    marks = driver.find_elements(By.CSS_SELECTOR, f"#page-{WORD_PAGE} pre.pagetext mark")
    assert [m.text for m in marks] == ["đảng"]  # not "đẳng", printed on the same page
    driver.execute_script(f"document.getElementById('page-{LOOKALIKE_PAGE}').scrollIntoView()")
    wait(driver, lambda d: loaded(d, LOOKALIKE_PAGE))
    assert not driver.find_elements(By.CSS_SELECTOR, f"#page-{LOOKALIKE_PAGE} mark")
    clean(driver)
    driver.set_window_size(*PHONE)
    assert overflow(driver) == 0
    driver.find_element(By.CSS_SELECTOR, "p.back a").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "form.search"))
    assert driver.find_element(By.NAME, "q").get_attribute("value") == query
    chips = [
        c.text.replace("×", "").strip() for c in driver.find_elements(By.CSS_SELECTOR, "li.chip")
    ]
    assert chips == ["Đơn vị: qk7"], chips  # the filter came back with the words
    assert driver.find_elements(By.CSS_SELECTOR, "ol.hits li")


def test_a_scan_shows_its_screen_image_zoomed_without_reloading(site, page):
    doc = site["ids"]["bao-cao-dan-van.jpg"]
    driver = page()
    login(driver, site["base"], "officer", f"/doc/{doc}")
    img = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#page-1 .pageimg img"))[0]
    origin = driver.find_element(By.CSS_SELECTOR, "td.origin").text
    assert origin == "Kho lưu trữ này", origin  # no node identity yet: nothing more to say
    assert img.get_attribute("src").endswith("/page/1.screen.jpg")
    natural = wait(driver, lambda d: img.get_property("naturalWidth"))
    assert 0 < natural <= 1200
    full = driver.find_element(By.CSS_SELECTOR, "#page-1 figcaption a")
    assert full.get_attribute("href").endswith("/page/1.jpg")
    fit = img.size["width"]
    driver.execute_script("window.kept = 'same page'")
    driver.find_element(By.CSS_SELECTOR, "[data-zoom='2']").click()
    wait(driver, lambda d: img.size["width"] == 2 * natural)
    driver.find_element(By.CSS_SELECTOR, "[data-zoom='1']").click()
    wait(driver, lambda d: img.size["width"] == natural)
    assert driver.execute_script("return window.kept") == "same page"  # no reload
    driver.find_element(By.CSS_SELECTOR, "[data-zoom='2']").click()
    driver.set_window_size(*PHONE)
    assert overflow(driver) == 0  # the zoomed image scrolls in its own frame
    clean(driver)
    driver.find_element(By.CSS_SELECTOR, "[data-zoom='fit']").click()
    wait(driver, lambda d: img.size["width"] < natural)
    assert fit <= natural


def test_the_archivist_edits_a_field_and_a_bad_date_is_said(site, page, long_doc):
    driver = page()
    login(driver, site["base"], "officer", f"/doc/{long_doc}")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "nav.pagenav"))
    assert not driver.find_elements(By.CSS_SELECTOR, "form.fieldform")  # may not edit
    driver.delete_all_cookies()
    login(driver, site["base"], "archivist", f"/doc/{long_doc}")
    driver.find_element(By.CSS_SELECTOR, "details.editfields summary").click()
    name = driver.find_element(By.ID, "f-signer_name")
    name.clear()
    name.send_keys("Nguyễn Văn Bình")
    driver.find_element(By.CSS_SELECTOR, "form.fieldform button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "p.ok"))
    driver.refresh()
    fields = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "table.fields").text)
    assert "Họ tên người ký Nguyễn Văn Bình" in fields
    driver.find_element(By.CSS_SELECTOR, "details.editfields summary").click()
    date = driver.find_element(By.ID, "f-issued_date")
    date.clear()
    date.send_keys("31/02/2024")
    driver.find_element(By.CSS_SELECTOR, "form.fieldform button[type=submit]").click()
    error = wait(driver, lambda d: d.find_elements(By.ID, "e-issued_date"))[0]
    assert "Ngày không hợp lệ" in error.text and "dd/mm/yyyy" in error.text
    assert driver.find_element(By.ID, "f-issued_date").get_attribute("aria-invalid") == "true"
    clean(driver)
    driver.set_window_size(*PHONE)
    assert overflow(driver) == 0
    out = run_kho("doc", "show", long_doc, "--json", "--as", "archivist", home=site["home"],
                  env=site["env"]).stdout  # fmt: skip
    shown = json.loads(out)["fields"]
    assert shown["signer_name"] == "Nguyễn Văn Bình" and shown["issued_date"] == ""


def test_the_pdf_is_viewable_inline(site, page, long_doc):
    driver = page()
    login(driver, site["base"], "officer", f"/doc/{long_doc}")
    driver.find_element(By.CSS_SELECTOR, "details.pdfview summary").click()
    frame = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".pdfframe iframe"))[0]
    src = frame.get_attribute("src")
    assert src.endswith(f"/doc/{long_doc}/pdf?inline=1")
    how = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => done([r.status, r.headers.get('content-disposition'),"
        " r.headers.get('content-type')]));",
        src,
    )
    assert how[0] == 200 and how[1].startswith("inline") and how[2] == "application/pdf"
    assert overflow(driver) == 0
