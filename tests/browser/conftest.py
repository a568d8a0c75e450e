"""The web pages in a real browser: Chromium (Debian's chromium and chromium-driver) driven by
selenium against a real `kho web serve` on an archive ingested by the real CLI.

`site` is that archive and server, shared by the module's tests: three principals, as the
three users come to it (`officer`: searches, clearance 1, unit qk7; `archivist`: operator and
reviewer, every unit; `outsider`: another unit, qk9), logging in with passwords. `browser`
is one headless Chromium for the session; `page(size)` sizes its window (DESKTOP, PHONE).
`login`, `overflow` and `axe_violations` are the checks the tests share.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ..conftest import REPO, run_kho, serve_web

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
AXE = REPO / ".venv" / "share" / "kho" / "axe" / "axe.min.js"
DESKTOP, PHONE = (1280, 900), (390, 844)
PASSWORDS = {"officer": "officer-pw-1", "archivist": "archivist-pw-1", "outsider": "outsider-pw-1"}
PRINCIPALS = {  # name: (clearance, units, extra lines)
    "officer": (1, ["qk7"], ""),
    "archivist": (3, ["*"], "operator = true\nreviewer = true\n"),
    "outsider": (3, ["qk9"], ""),
}
SAMPLES = {  # sample file: (level, unit)
    "bao-cao-dan-van.jpg": (0, "qk7/f9"),
    "nghi-quyet-chi-bo.png": (1, "qk7"),
    "ket-luan-kiem-tra.png": (2, "qk7"),
    "quyet-dinh-chinh-sach.pdf": (0, "qk9"),
    "thong-bao-tuyen-truyen.pdf": (0, "qk7/f9"),
}


def need_browser() -> None:
    """Fail in CI, skip elsewhere (saying why), when Chromium, its driver or axe is missing."""
    missing = [str(p) for p in (CHROMIUM, DRIVER, AXE) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        msg = f"browser tests need {', '.join(missing)}: run scripts/setup"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def config_text() -> str:
    from kho.web.auth import hash_password

    out = ['[web]\nauth = "password"\n']
    for name, (clearance, units, extra) in PRINCIPALS.items():
        out.append(f"[principals.{name}]\nclearance = {clearance}\nunits = {units!r}\n{extra}"
                   f'password = "{hash_password(PASSWORDS[name])}"\n')  # fmt: skip
    return "\n".join(out).replace("'", '"')


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The archive and its server: {"base", "home", "env", "ids" (file -> doc id)}."""
    need_browser()
    root = tmp_path_factory.mktemp("site")
    config = root / "kho.toml"
    config.write_text(config_text(), encoding="utf-8")
    scans = root / "scans"
    scans.mkdir()
    rows = ["file,level,unit"]
    for name, (level, unit) in SAMPLES.items():
        shutil.copy(REPO / "samples" / name, scans / name)
        rows.append(f"{name},{level},{unit}")
    (scans / "kho-manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    home, env = root / "home", {"KHO_CONFIG": str(config)}
    run_kho("ingest", str(scans), "--batch", "mau-2024", "--jobs", "2", "-q", home=home, env=env)
    import json

    found = run_kho("search", "", "--json", "--as", "archivist", home=home, env=env).stdout
    ids = {h["filename"]: h["doc_id"] for h in json.loads(found)}
    proc, base = serve_web(home, env)
    yield {"base": base, "home": home, "env": env, "ids": ids, "root": root}
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
                 "--lang=vi-VN"):  # fmt: skip
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(str(DRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser):
    """The browser, its cookies cleared, sized by `page(size)`; back to DESKTOP after."""

    def sized(size=DESKTOP):
        browser.set_window_size(*size)
        return browser

    browser.delete_all_cookies()
    yield sized
    browser.set_window_size(*DESKTOP)


def login(driver, base: str, name: str, next_path: str = "/") -> None:
    """Log in through the login form as `name`, landing on `next_path`."""
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login?next={quote(next_path, safe='')}")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORDS[name])
    driver.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(  # landed, or refused with a message: never half-way
        lambda d: "/login" not in d.current_url or d.find_elements(By.CSS_SELECTOR, ".error")
    )


def overflow(driver) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return driver.execute_script(
        "return Math.max(0, document.documentElement.scrollWidth - window.innerWidth);"
    )


def axe_violations(driver, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of the page at the given impacts, one line each."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations));"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in result
        if v["impact"] in impacts
    ]
