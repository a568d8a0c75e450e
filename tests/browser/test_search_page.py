"""The search page as an officer uses it: facets that add and remove filters shown as chips
that survive editing the words and the sort, several values of one filter, numbered pages
with hits numbered across them, suggestions while typing (never words of documents the
reader may not see), the document/page view switch; no sideways scrolling on a phone, and
nothing axe calls serious."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from kho.synth.pages import write_born_digital_pdf

from ..conftest import run_kho
from .conftest import DESKTOP, PHONE, axe_violations, login, overflow

BATCH = "kiem-ke"
UNITS = {"qk7/d1": 14, "qk7/d2": 10}  # public records of qk7 in one batch: two result pages
DRILL = "thao-dien-qk9.pdf"  # a record of qk9, the outsider's unit
TOTAL = sum(UNITS.values())


@pytest.fixture(scope="module")
def records(site):
    """The site with the records of UNITS and DRILL ingested by the CLI as batch BATCH."""
    scans = site["root"] / BATCH
    scans.mkdir()
    rows = ["file,level,unit"]
    for unit, count in UNITS.items():
        for n in range(count):
            name = f"{unit.replace('/', '-')}-{n:02d}.pdf"
            text = f"Biên bản kiểm kê thao trường Bàu Bàng số {n} của {unit}"
            write_born_digital_pdf(scans / name, [text])
            rows.append(f"{name},0,{unit}")
    write_born_digital_pdf(scans / DRILL, ["Kế hoạch thao diễn ở Xẻo Rô"])
    rows.append(f"{DRILL},0,qk9")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    kho = {"home": site["home"], "env": site["env"]}
    run_kho("ingest", str(scans), "--batch", BATCH, "--jobs", "2", "-q", **kho)
    return site


def wait(driver, until, timeout: float = 20):
    return WebDriverWait(driver, timeout).until(until)


def loaded(driver, url_part: str = "") -> None:
    """Wait for a results page (whose address holds `url_part`) to be there."""
    wait(driver, lambda d: url_part in d.current_url)
    wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "p.total")))


def args(driver) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(driver.current_url).query)


def total(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "p.total").text


def chips(driver) -> list[str]:
    found = driver.find_elements(By.CSS_SELECTOR, "li.chip")
    return [c.text.replace("×", "").strip() for c in found]


def facet(driver, key: str, text: str):
    """The facet link of `key` that reads `text` (a batch's name; its value is its id)."""
    links = driver.find_elements(By.CSS_SELECTOR, f'a.facet[data-key="{key}"]')
    named = [a for a in links if a.get_attribute("textContent").startswith(text)]
    assert len(named) == 1, [a.get_attribute("textContent") for a in links]
    return named[0]


def values(driver, key: str) -> list[str]:
    return [v for k, v in args(driver) if k == key]


def hit_docs(driver) -> list[str]:
    links = driver.find_elements(By.CSS_SELECTOR, "ol.hits > li a.title")
    return [urlsplit(a.get_attribute("href")).path.removeprefix("/doc/") for a in links]


def first_number(driver) -> int:
    return int(driver.find_element(By.CSS_SELECTOR, "ol.hits").get_attribute("start"))


def click(driver, element, url_part: str = "") -> None:
    element.click()
    loaded(driver, url_part)


def fits(driver) -> None:
    """No serious axe finding at DESKTOP; no sideways scrolling and none at PHONE."""
    assert axe_violations(driver) == []
    driver.set_window_size(*PHONE)
    assert overflow(driver) == 0
    assert axe_violations(driver) == []
    driver.set_window_size(*DESKTOP)


def search(driver, base: str, who: str, query: str) -> None:
    login(driver, base, who, "/?q=" + quote(query))
    loaded(driver, "q=")


def test_facet_chips_survive_editing_and_sorting(site, records, page):
    driver = page()
    search(driver, site["base"], "officer", "kiểm kê")
    assert total(driver) == f"Trang 1 / 2 · {TOTAL} tài liệu phù hợp" and chips(driver) == []
    click(driver, facet(driver, "batch", BATCH), "batch=")  # shown by name, filtered by id
    assert chips(driver) == [f"Lô quét: {BATCH}"] and total(driver).endswith(
        f" {TOTAL} tài liệu phù hợp"
    )
    click(driver, facet(driver, "unit", "qk7/d1"), "unit=")
    assert chips(driver) == ["Đơn vị: qk7/d1", f"Lô quét: {BATCH}"]
    assert total(driver) == "14 tài liệu phù hợp"
    assert facet(driver, "unit", "qk7/d1").get_attribute("aria-current") == "true"
    other = facet(driver, "unit", "qk7/d2")  # still offered: a second value adds to it
    assert other.get_attribute("aria-current") is None
    click(driver, other, "unit=qk7%2Fd1&unit=")
    assert values(driver, "unit") == ["qk7/d1", "qk7/d2"]
    assert chips(driver) == ["Đơn vị: qk7/d1", "Đơn vị: qk7/d2", f"Lô quét: {BATCH}"]
    assert total(driver) == f"Trang 1 / 2 · {TOTAL} tài liệu phù hợp"
    assert all(facet(driver, "unit", u).get_attribute("aria-current") == "true" for u in UNITS)
    box = driver.find_element(By.NAME, "q")  # new words: the filters stay
    box.clear()
    box.send_keys("thao trường", Keys.ENTER)
    loaded(driver, "q=thao")
    assert chips(driver) == ["Đơn vị: qk7/d1", "Đơn vị: qk7/d2", f"Lô quét: {BATCH}"]
    assert total(driver) == f"Trang 1 / 2 · {TOTAL} tài liệu phù hợp"
    Select(driver.find_element(By.NAME, "sort")).select_by_value("date")  # a new sort too
    click(driver, driver.find_element(By.CSS_SELECTOR, "form.search [type=submit]"), "sort=date")
    assert len(chips(driver)) == 3 and total(driver).endswith(f" {TOTAL} tài liệu phù hợp")
    assert ("q", "thao trường") in args(driver)
    fits(driver)
    click(driver, facet(driver, "unit", "qk7/d1"))  # an active value: clicked, removed
    assert chips(driver) == ["Đơn vị: qk7/d2", f"Lô quét: {BATCH}"]
    assert total(driver) == "10 tài liệu phù hợp"
    click(driver, driver.find_elements(By.CSS_SELECTOR, "li.chip a.remove")[0])
    assert chips(driver) == [f"Lô quét: {BATCH}"] and values(driver, "unit") == []
    assert total(driver) == f"Trang 1 / 2 · {TOTAL} tài liệu phù hợp"


def test_chip_labels_and_clearing_all(site, records, page):
    driver = page()
    query = "/?q=" + quote("kiểm kê") + "&level=0&unit=qk7&from=2000-01-01&marks=ignore"
    login(driver, site["base"], "officer", query)
    loaded(driver, "level=0")
    assert chips(driver) == [
        "Đơn vị: qk7", "Độ mật: Thường", "Ngày: từ 01/01/2000", "Bỏ qua dấu"
    ]  # fmt: skip
    removes = driver.find_elements(By.CSS_SELECTOR, "li.chip a.remove")
    assert removes[1].get_attribute("aria-label") == "Bỏ bộ lọc Độ mật: Thường"
    click(driver, removes[2])  # the date range
    assert chips(driver) == ["Đơn vị: qk7", "Độ mật: Thường", "Bỏ qua dấu"]
    click(driver, driver.find_element(By.LINK_TEXT, "Xoá tất cả bộ lọc"))
    assert chips(driver) == [] and args(driver) == [("q", "kiểm kê")]


def test_numbered_pages_forward_and_back(site, records, page):
    driver = page()
    search(driver, site["base"], "officer", "kiểm kê")
    first = hit_docs(driver)
    assert len(first) == 20 and first_number(driver) == 1
    assert driver.find_elements(By.CSS_SELECTOR, "a.prev") == []
    click(driver, driver.find_element(By.CSS_SELECTOR, "a.more"), "p=2")
    assert total(driver) == f"Trang 2 / 2 · {TOTAL} tài liệu phù hợp"
    second = hit_docs(driver)
    assert first_number(driver) == 21 and len(second) == TOTAL - 20
    assert len(set(first + second)) == TOTAL
    current = driver.find_element(By.CSS_SELECTOR, ".results-pager a[aria-current=page]")
    assert current.text == "2" and driver.find_elements(By.CSS_SELECTOR, "a.more") == []
    fits(driver)
    click(driver, driver.find_element(By.CSS_SELECTOR, ".results-pager a[aria-label='Trang 1']"))
    assert hit_docs(driver) == first and first_number(driver) == 1
    click(driver, driver.find_element(By.CSS_SELECTOR, "a.more"), "p=2")
    click(driver, driver.find_element(By.CSS_SELECTOR, "a.prev"))
    assert hit_docs(driver) == first and ("p", "1") not in args(driver)


def suggestions(driver, typed: str) -> list[str]:
    """What the listbox offers (lower-cased) once the page has its answer for `typed`."""
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(typed)
    wait(driver, lambda d: box.get_attribute("data-suggested") == typed)
    shown = driver.find_element(By.ID, "suggestions")
    options = shown.find_elements(By.CSS_SELECTOR, "[role=option]")
    return [o.text.lower() for o in options] if shown.is_displayed() else []


def test_suggestions_as_you_type_show_only_visible_words(site, records, page):
    driver = page()
    login(driver, site["base"], "officer", "/")
    wait(driver, ec.presence_of_element_located((By.ID, "q")))
    assert any("bàu bàng" in s for s in suggestions(driver, "bàu b"))
    box = driver.find_element(By.ID, "q")
    assert box.get_attribute("aria-expanded") == "true"
    box.send_keys(Keys.ARROW_DOWN)
    chosen = driver.find_element(By.ID, box.get_attribute("aria-activedescendant"))
    assert chosen.get_attribute("aria-selected") == "true"
    text = chosen.text
    box.send_keys(Keys.ENTER)  # takes the suggestion; the next Enter searches
    assert box.get_attribute("value") == text and box.get_attribute("aria-expanded") == "false"
    assert "/?" not in driver.current_url
    assert suggestions(driver, "xẻo r") == []  # qk9's record
    assert any("bàu bàng" in s for s in suggestions(driver, "bau ba"))  # unmarked too
    fits(driver)
    page()
    login(driver, site["base"], "outsider", "/")
    wait(driver, ec.presence_of_element_located((By.ID, "q")))
    assert any("xẻo rô" in s for s in suggestions(driver, "xẻo r"))
    assert suggestions(driver, "bàu b") == []  # qk7's words are never offered to qk9


def test_view_switch_kept_across_changes(site, records, page):
    driver = page()
    search(driver, site["base"], "officer", "kiểm kê")
    current = driver.find_element(By.CSS_SELECTOR, "nav.view a[aria-current=true]")
    assert current.text == "Theo tài liệu"
    click(driver, facet(driver, "unit", "qk7/d2"), "unit=")
    click(driver, driver.find_element(By.LINK_TEXT, "Theo trang"), "group=page")
    assert total(driver) == "10 trang phù hợp"
    assert chips(driver) == ["Đơn vị: qk7/d2", "Theo trang"]
    current = driver.find_element(By.CSS_SELECTOR, "nav.view a[aria-current=true]")
    assert current.text == "Theo trang"
    Select(driver.find_element(By.NAME, "sort")).select_by_value("date")
    click(driver, driver.find_element(By.CSS_SELECTOR, "form.search [type=submit]"), "sort=date")
    assert ("group", "page") in args(driver) and total(driver) == "10 trang phù hợp"
    driver.set_window_size(*PHONE)  # results before the facets on a phone
    hits = driver.find_element(By.CSS_SELECTOR, "ol.hits").rect
    facets = driver.find_element(By.CSS_SELECTOR, ".facets").rect
    assert hits["y"] < facets["y"], (hits, facets)
    driver.set_window_size(*DESKTOP)
    fits(driver)
    click(driver, driver.find_element(By.LINK_TEXT, "Theo tài liệu"))
    assert ("group", "page") not in args(driver) and total(driver) == "10 tài liệu phù hợp"
    assert chips(driver) == ["Đơn vị: qk7/d2"]


def test_days_are_typed_as_dd_mm_yyyy_whatever_the_browser(site, page):
    driver = page()
    search(driver, site["base"], "officer", "công tác")
    before = hit_docs(driver)
    dan_van = site["ids"]["bao-cao-dan-van.jpg"]  # dated 04/12/2016 by its header
    assert dan_van in before
    since = driver.find_element(By.NAME, "from")
    assert since.get_attribute("type") == "text" and since.get_attribute("placeholder") == (
        "dd/mm/yyyy"
    )
    since.send_keys("01/01/2020", Keys.ENTER)
    loaded(driver, "from=")
    assert dan_van not in hit_docs(driver) and "Ngày: từ 01/01/2020" in chips(driver)
    assert driver.find_element(By.NAME, "from").get_attribute("value") == "01/01/2020"
    since = driver.find_element(By.NAME, "from")
    since.clear()
    since.send_keys("31/02/2020", Keys.ENTER)  # no such day: said, in Vietnamese
    wait(driver, lambda d: "31%2F02" in d.current_url or "31/02" in d.current_url)
    error = driver.find_element(By.CSS_SELECTOR, ".error").text
    assert "“Từ ngày” không phải một ngày" in error and "dd/mm/yyyy" in error
    fits(driver)
