"""Headless Chromium driven by Selenium through Debian's chromedriver, torn down for sure.

Debian's ``chromium`` and ``chromium-driver`` are the same version, so Selenium is
pointed at both (no Selenium Manager, nothing downloaded). The browser talks only
to servers on 127.0.0.1. :func:`browser` yields one session and, whatever happens,
quits it and then kills chromedriver if it is still there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

DEADLINE_S = 15.0
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)  # fmt: skip
        if found:
            return found
    raise RuntimeError(f"none of {names} is installed: make system-deps installs them")


@contextmanager
def browser(profile: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    options.add_argument("--headless=new")
    if os.geteuid() == 0:
        # Chromium refuses to start as root with its sandbox on; the tests run as root
        # in CI containers, and the browser only ever loads our own loopback server.
        options.add_argument("--no-sandbox")
    for argument in ("--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking",
                     "--window-size=1280,1000", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(argument)
    service = Service(executable_path=_binary("chromedriver"), log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(DEADLINE_S)
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            process = service.process
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(5)


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    """A wait that looks again when what it read belonged to the page being replaced (a form
    posted, a redirect): Chromium says so as a stale element, or as "Node with given id
    does not belong to the document". Either is a condition not met yet; the deadline still
    fails the test, with the last error."""
    return WebDriverWait(driver, DEADLINE_S, ignored_exceptions=(WebDriverException,))


def screenshot(driver: WebDriver, name: str, width: int = 1280) -> Path:
    """The whole page at ``width`` (its full height), saved as docs/screenshots/NAME.png."""
    driver.set_window_size(width, 1000)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(max(height + 40, 600), 4000))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path
