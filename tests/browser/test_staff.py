"""Archive staff in the browser: an archivist uploads a folder and watches its batch finish
without reloading, retries and purges its failures; an officer may not upload and sees only
their own batches; a reviewer accepts in bulk and by keyboard, and a decision sent after the
session ended is applied after the login."""

from __future__ import annotations

import sqlite3

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from kho.synth.pages import render_page, write_born_digital_pdf, write_png

from .conftest import PHONE, axe_violations, login, overflow

FOLDER = {  # the scans of the uploaded folder: new records, not the site's samples
    "to-trinh-01.png": "Tờ trình về việc tổ chức hội nghị dân vận quý III.",
    "bien-ban-02.png": "Biên bản họp chi bộ tháng 8 năm 2024.",
}


def main_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "main").text


def landed(driver, path: str) -> None:
    """Wait for the page the login (or a form) leads to."""
    WebDriverWait(driver, 30).until(
        lambda d: (
            "/login" not in d.current_url
            and path in d.current_url
            and d.find_elements(By.TAG_NAME, "main")
        )
    )


def check_page(driver) -> None:
    """No sideways scrolling on a phone, no serious accessibility violation."""
    size = driver.get_window_size()
    driver.set_window_size(*PHONE)
    try:
        assert overflow(driver) == 0, driver.current_url
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert axe_violations(driver) == [], driver.current_url


def scans_folder(root):
    folder = root / "upload-folder" / "ho-so-web"
    (folder / "phu-luc").mkdir(parents=True)
    for name, text in FOLDER.items():
        page = render_page(text, height_in=3)
        write_png(folder / name, page.image, page.dpi)
    write_born_digital_pdf(folder / "phu-luc" / "thong-bao-03.pdf", ["Thông báo lịch trực."])
    (folder / "hong.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"khong phai anh" * 20)
    return folder


def test_archivist_uploads_a_folder_and_follows_its_batch(site, page):
    driver = page()
    folder = scans_folder(site["root"])
    login(driver, site["base"], "archivist", "/upload")
    landed(driver, "/upload")
    check_page(driver)
    driver.find_element(By.NAME, "name").send_keys("web-2024")
    driver.find_element(By.NAME, "unit").send_keys("qk7")
    driver.find_element(By.CSS_SELECTOR, "input[webkitdirectory]").send_keys(str(folder))
    driver.find_element(By.CSS_SELECTOR, "form.upload [type=submit]").click()
    WebDriverWait(driver, 60).until(EC.url_contains("/batches/"))
    live = WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "progress")))
    assert live.get_attribute("aria-live") == "polite"
    url = driver.current_url
    WebDriverWait(driver, 180).until(
        EC.text_to_be_present_in_element((By.ID, "progress"), "Đã xong")
    )
    assert driver.current_url == url  # followed without reloading
    line = live.text
    assert "3/3 trang" in line and "3/3 văn bản" in line and "1 tệp lỗi" in line, line
    assert "0,0 trang/phút" not in line and "0.0 trang/phút" not in line, line
    text = main_text(driver)
    assert "hong.png" in text and "Tệp bị hỏng hoặc không đọc được" in text, text
    check_page(driver)

    submit_and_wait(driver, "//button[contains(., 'Thử lại')]")
    WebDriverWait(driver, 30).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "ul.flashes"), "Đang thử lại")
    )
    submit_and_wait(driver, "//button[contains(., 'Bỏ các lỗi')]")
    WebDriverWait(driver, 30).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, "ul.flashes"), "Đã bỏ 1 lỗi")
    )
    assert "Không có lỗi." in main_text(driver)

    driver.get(site["base"] + "/batches")
    assert "web-2024" in main_text(driver) and "mau-2024" in main_text(driver)
    check_page(driver)


def test_an_officer_may_not_upload_and_sees_only_their_batches(site, page):
    driver = page()
    login(driver, site["base"], "officer", "/upload")
    landed(driver, "/upload")
    assert "không có quyền" in main_text(driver).lower()
    driver.get(site["base"] + "/batches")
    text = main_text(driver)
    assert "mau-2024" not in text and "web-2024" not in text and "Chưa có lô nào" in text
    assert not driver.find_elements(By.LINK_TEXT, "Tải lên")
    check_page(driver)


def submit_and_wait(driver, button_xpath: str) -> None:
    """Click a form's button and wait until the page it posts to has replaced this one
    (reading the next page while the old one goes away fails in the browser itself)."""
    button = driver.find_element(By.XPATH, button_xpath)
    button.click()
    WebDriverWait(driver, 30).until(EC.staleness_of(button))


def settled(driver) -> WebDriverWait:
    """A wait that looks again when the page it read was replaced meanwhile."""
    return WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))


def pending(driver) -> int:
    return int(driver.find_element(By.CSS_SELECTOR, "#pending strong").text)


def queue(site, names) -> None:
    from kho.core.catalog import Catalog

    catalog = Catalog(f"sqlite:///{site['home'] / 'catalog.sqlite'}")
    for name in names:
        catalog.set_document(site["ids"][name], review="pending", confidence=0.1)
    catalog.close()


def test_review_in_bulk_by_keyboard_and_across_an_expired_session(site, page):
    names = ["bao-cao-dan-van.jpg", "nghi-quyet-chi-bo.png", "ket-luan-kiem-tra.png",
             "thong-bao-tuyen-truyen.pdf"]  # fmt: skip
    queue(site, names)
    driver = page()
    login(driver, site["base"], "archivist", "/review?decided=anything")
    landed(driver, "/review")
    assert "anything" not in main_text(driver)  # the URL says nothing on the page
    start = pending(driver)
    assert start >= 4
    assert "j" in driver.find_element(By.CSS_SELECTOR, "p.hint").text
    check_page(driver)

    boxes = driver.find_elements(By.CSS_SELECTOR, "input[name=doc]")
    boxes[0].click()
    boxes[1].click()
    driver.find_element(By.XPATH, "//button[contains(., 'Chấp nhận các mục đã chọn')]").click()
    settled(driver).until(lambda d: pending(d) == start - 2)
    assert main_text(driver).count("Đã ghi:") == 2

    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    row = driver.find_element(By.CSS_SELECTOR, "tr.current")
    assert row.find_element(By.CSS_SELECTOR, "details").get_attribute("open")
    body.send_keys("a")
    settled(driver).until(lambda d: pending(d) == start - 3)
    assert main_text(driver).count("Đã ghi:") == 1

    with sqlite3.connect(site["home"] / "catalog.sqlite") as db:  # the session ends
        db.execute("DELETE FROM web_sessions")
    last = driver.find_element(By.CSS_SELECTOR, "tr[data-doc]").get_attribute("data-doc")
    driver.find_element(By.CSS_SELECTOR, "tr[data-doc] button[value=accept]").click()
    WebDriverWait(driver, 30).until(EC.url_contains("/login"))
    settled(driver).until(lambda d: "sẽ được ghi ngay sau khi đăng nhập" in main_text(d))
    check_page(driver)
    driver.find_element(By.NAME, "name").send_keys("archivist")
    from .conftest import PASSWORDS

    driver.find_element(By.NAME, "password").send_keys(PASSWORDS["archivist"])
    driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
    landed(driver, "/review")
    assert "Đã ghi (gửi trước khi đăng nhập lại)" in main_text(driver)
    assert pending(driver) == start - 4
    assert not driver.find_elements(By.CSS_SELECTOR, f"tr[data-doc='{last}']")
