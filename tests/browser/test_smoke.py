"""The browser harness itself: each role logs in through the form and reaches its pages."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from .conftest import login


def test_each_role_logs_in_and_searches(site, page):
    driver = page()
    login(driver, site["base"], "officer", "/?q=d%C3%A2n+v%E1%BA%ADn")
    assert "q=" in driver.current_url, driver.current_url
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "bao-cao-dan-van.jpg" in text or "Báo cáo" in text, text[-500:]
    driver.delete_all_cookies()
    login(driver, site["base"], "outsider", "/?q=d%C3%A2n+v%E1%BA%ADn")
    assert "bao-cao-dan-van.jpg" not in driver.find_element(By.TAG_NAME, "main").text
