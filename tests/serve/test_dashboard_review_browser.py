"""The post-incident review in a real browser (headless Chromium): an operator opens a
resolved incident's page, edits the review's notes through the form (no script needed)
and sees its words on the page after the redirect; nothing is wider than a phone.

The store is the template's with acme's incident resolved and its review drafted by the
real drafting consumer (:mod:`support.review_board`), served on loopback by waitress.
Every wait is a WebDriverWait on a condition. The review section is screenshotted to
docs/screenshots/review.png (README.md shows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from support.api import Template, secret
from support.browser import SCREENSHOTS, browser, wait
from support.review_board import Reviewed, reviewed_copy

from calmopsd.serve.server import ApiServer

NOTES = "Temp uploads now expire after a day.\nThe cron job that clears them is monitored."


@pytest.fixture(scope="module")
def served(
    template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Reviewed, str]]:
    reviewed = reviewed_copy(template, tmp_path_factory.mktemp("review"))
    server = ApiServer(reviewed.app, listen="127.0.0.1:0")
    server.start()
    try:
        assert server.url is not None
        yield reviewed, server.url
    finally:
        server.stop(2.0)
        reviewed.database.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with browser(tmp_path_factory.mktemp("profile")) as session:
        yield session


def section_shot(driver: WebDriver, name: str) -> Path:
    """The review section alone, as docs/screenshots/NAME.png."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height + 40, 1000), 4000))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.find_element(By.ID, "review").screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path


def test_an_operator_edits_the_reviews_notes_through_the_form_and_sees_them(
    driver: WebDriver, served: tuple[Reviewed, str]
) -> None:
    reviewed, url = served
    page = f"/company/acme/ops/incidents/{reviewed.incident['acme']}"
    driver.get(url + page)
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    driver.find_element(By.ID, "token").send_keys(secret("acme-op"))
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver).until(lambda d: d.current_url.endswith(page))
    review = driver.find_element(By.ID, "review")
    assert "Post-incident review" in review.text and "Root cause" in review.text
    assert driver.find_element(By.ID, "review-timeline").text.startswith("Time to detect")

    driver.find_element(By.CSS_SELECTOR, "#review-edit summary").click()
    notes = wait(driver).until(ec.element_to_be_clickable((By.ID, "review-text-notes")))
    label = driver.find_element(By.CSS_SELECTOR, "label[for=review-text-notes]")
    assert label.text == "Notes"
    notes.clear()
    first, second = NOTES.split("\n")
    notes.send_keys(first, Keys.ENTER, second)
    driver.find_element(By.ID, "review-save").click()

    wait(driver).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notices"), "Review saved: notes")
    )
    assert driver.find_element(By.ID, "review-notes").text == NOTES
    assert "last edited by token:acme-op" in driver.find_element(By.ID, "review-meta").text
    saved = reviewed.review()
    assert (saved.texts["notes"], saved.edited_fields) == (NOTES, ("notes",))
    assert reviewed.edits() == [(reviewed.incident["acme"], "token:acme-op", {"notes": NOTES})]

    section_shot(driver, "review")
    driver.find_element(By.CSS_SELECTOR, "#review-edit summary").click()  # the form open too
    driver.set_window_size(390, 1000)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    driver.set_window_size(1280, 1000)
    assert overflow is False  # the words, the figures and the form fit a phone's width
