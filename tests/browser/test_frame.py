"""The frame every page shares, in a real browser at desktop and phone widths: one h1, a
skip link that moves focus to the main content, no sideways scrolling at 390 px, no serious
or critical axe violation, Vietnamese error pages; the audit page's date filter and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from ..conftest import run_kho
from .conftest import DESKTOP, PHONE, axe_violations, login, overflow

ENGLISH = ("Not Found", "Method Not Allowed", "Bad Request", "Forbidden", "Internal Server")


def frame_problems(driver, what: str) -> list[str]:
    """What is wrong with the page on the screen, at its current size."""
    problems = []
    if driver.execute_script("return document.documentElement.lang") != "vi":
        problems.append("lang is not vi")
    if (n := len(driver.find_elements(By.TAG_NAME, "h1"))) != 1:
        problems.append(f"{n} h1")
    for tag in ("header", "main", "footer"):
        if not driver.find_elements(By.TAG_NAME, tag):
            problems.append(f"no {tag}")
    if px := overflow(driver):
        wide = driver.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e =>"
            " e.getBoundingClientRect().right > window.innerWidth + 1).slice(-3)"
            ".map(e => e.tagName + '.' + e.className).join(' ')"
        )
        problems.append(f"{px} px sideways: {wide}")
    problems += axe_violations(driver)
    first = driver.execute_script(  # the first stop of the keyboard, in document order
        "return document.querySelector('a[href], button, input:not([type=hidden]), select,"
        ' textarea, [tabindex]:not([tabindex="-1"])\')'
    )
    if "skip" not in (first.get_attribute("class") or ""):
        problems.append(f"first tab stop is {first.tag_name}.{first.get_attribute('class')}")
    else:
        driver.execute_script("arguments[0].focus()", first)
        if not driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return r.top >= 0 && r.height > 0;",
            first,
        ):
            problems.append("the focused skip link is not on the screen")
        first.send_keys(Keys.ENTER)
        try:
            WebDriverWait(driver, 5).until(
                lambda d: d.execute_script("return document.activeElement.id") == "main"
            )
        except Exception:  # noqa: BLE001 - said below
            problems.append("the skip link does not move focus to main")
    return [f"{what}: {p}" for p in problems]


def check_pages(driver, base: str, paths: dict[str, str]) -> None:
    """Every page of `paths` (name: path) at DESKTOP and PHONE; all problems at once."""
    problems = []
    for size in (DESKTOP, PHONE):
        driver.set_window_size(*size)
        for name, path in paths.items():
            driver.get(base + path)
            problems += frame_problems(driver, f"{name} at {size[0]} px")
    driver.set_window_size(*DESKTOP)
    assert problems == [], "\n".join(problems)


def error_text(driver, code: int) -> str:
    main = driver.find_element(By.TAG_NAME, "main").text
    assert f"Mã lỗi {code}" in main and not any(w in driver.page_source for w in ENGLISH), main
    assert driver.find_elements(By.CSS_SELECTOR, "main a.button"), "no way back"
    return main


def test_officer_pages_and_error_pages(site, page):
    driver, base = page(), site["base"]
    check_pages(driver, base, {"login": "/login"})
    login(driver, base, "officer")
    visible, hidden = site["ids"]["bao-cao-dan-van.jpg"], site["ids"]["ket-luan-kiem-tra.png"]
    check_pages(driver, base, {
        "search": "/",
        "search with results": "/?q=" + quote("dân vận"),
        "search without results": "/?q=khongcotukhoanayđâu",
        "document": f"/doc/{visible}",
        "403": "/status",
        "404 hidden": f"/doc/{hidden}",
        "404": "/khong-co-trang-nay",
        "405": "/logout",
    })  # fmt: skip
    for path, code in (("/status", 403), (f"/doc/{hidden}", 404), ("/logout", 405)):
        driver.get(base + path)
        error_text(driver, code)
    driver.get(base + "/")  # a form without its token, posted from the page
    driver.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/logout';"
        "document.body.appendChild(f); f.submit();"
    )
    WebDriverWait(driver, 10).until(lambda d: "Mã lỗi 400" in d.page_source)
    assert "tải lại trang" in error_text(driver, 400)
    for size in (DESKTOP, PHONE):
        driver.set_window_size(*size)
        problems = frame_problems(driver, f"400 at {size[0]} px")
        assert problems == [], problems
    driver.set_window_size(*DESKTOP)


def test_phone_shows_results_before_facets(site, page):
    driver, base = page(PHONE), site["base"]
    login(driver, base, "officer", "/?q=" + quote("dân vận"))
    hits = driver.find_element(By.CSS_SELECTOR, "ol.hits").rect
    facets = driver.find_element(By.CSS_SELECTOR, ".facets").rect
    assert hits["y"] < facets["y"], (hits, facets)
    for el in driver.find_elements(By.CSS_SELECTOR, "main input, main select, main button"):
        if el.is_displayed() and el.get_attribute("type") != "hidden":
            assert el.size["height"] >= 44, (el.get_attribute("name"), el.size)
            label = driver.execute_script(
                "const e = arguments[0]; return e.labels && e.labels.length ? e.labels[0].innerText"
                " : e.getAttribute('aria-label') || e.innerText;", el)  # fmt: skip
            assert label.strip(), el.get_attribute("outerHTML")


def csv_of(driver, url: str) -> bytes:
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    req = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
        return resp.read()


def test_operator_pages_audit_filters_and_csv(site, page):
    driver, base = page(), site["base"]
    login(driver, base, "archivist", "/?q=" + quote("chi bộ"))
    visible = site["ids"]["nghi-quyet-chi-bo.png"]
    check_pages(driver, base, {
        "review": "/review",
        "status": "/status",
        "audit": "/audit",
        "document": f"/doc/{visible}",
        "search": "/?q=" + quote("chi bộ"),
    })  # fmt: skip
    driver.get(base + "/audit")
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    for field in ("f-from", "f-to"):  # what a date picker leaves in the field
        driver.execute_script(
            "arguments[0].value = arguments[1]",
            driver.find_element(By.ID, field),
            today.isoformat(),
        )
    driver.find_element(By.ID, "f-actor").send_keys("archivist")
    driver.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "from=" in d.current_url)
    rows = driver.find_elements(By.CSS_SELECTOR, "table.audit tbody tr")
    shown = driver.find_element(By.CSS_SELECTOR, "table.audit").text
    assert rows and "tìm kiếm" in shown and "đăng nhập" in shown, shown[:500]
    times = re.findall(r"\d\d/\d\d/\d{4} \d\d:\d\d", shown)
    assert times and all(t.startswith(today.strftime("%d/%m/%Y")) for t in times)
    check_pages(driver, base, {"audit filtered": driver.current_url[len(base) :]})
    driver.get(base + "/audit?from=" + quote("31/02/2026"))
    alert = driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "dd/mm/yyyy" in alert, alert
    driver.get(base + "/audit?actor=archivist&from=" + today.isoformat())
    href = driver.find_element(By.LINK_TEXT, "Tải CSV").get_attribute("href")
    data = csv_of(driver, href)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    out = run_kho("audit", "--actor", "archivist", "--json", "--limit", "200",
                  home=site["home"], env=site["env"]).stdout  # fmt: skip
    utc = {str(r["id"]): r["at"] for r in map(json.loads, out.splitlines())}
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    assert len(table) > 2 and all(r[2] == "archivist" for r in table[1:])
    for number, at, *_ in table[1:]:
        moment = datetime.fromisoformat(utc[number].replace("Z", "+00:00")).astimezone(zone)
        assert at == moment.strftime("%d/%m/%Y %H:%M"), (number, at, utc[number])
