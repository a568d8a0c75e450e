"""The browser harness itself: each role logs in through the form and reaches its pages."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import login


def test_each_role_logs_in_and_searches(site, page):
    driver = page()
    login(driver, site["base"], "officer", "/?q=dan+van")  # every toned form: OCR'd too
    WebDriverWait(driver, 20).until(ec.url_contains("/?q="))  # the login's redirect
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "bao-cao-dan-van.jpg" in text or "Báo cáo" in text, text[-500:]
    driver.delete_all_cookies()
    login(driver, site["base"], "outsider", "/?q=dan+van")
    WebDriverWait(driver, 20).until(ec.url_contains("/?q="))
    assert "bao-cao-dan-van.jpg" not in driver.find_element(By.TAG_NAME, "main").text
