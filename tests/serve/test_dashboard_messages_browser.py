"""Customer messages in a real browser (headless Chromium): an operator edits a draft,
approves it through the dialog with the keyboard, and sees it go out; a super-admin
discards another with a note.

One browser session and one served store for the module: the template store drafted by
the real drafting consumer (:mod:`support.customer_board`), served on loopback by
waitress; acme's channel is a real webhook on loopback that the real courier (apprise)
delivers to. Every wait is a WebDriverWait on a condition. The messages section is
screenshotted to docs/screenshots/messages.png (README.md shows it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from support.api import Template, secret
from support.browser import SCREENSHOTS, browser, wait
from support.customer_board import Drafted, drafted_copy
from support.receivers import Webhook, webhook

from calmopsd.customers.courier import Courier
from calmopsd.notices.send import AppriseSender
from calmopsd.record.audit import list_events
from calmopsd.record.messages import MessageStatus, get_message
from calmopsd.record.scope import Scope
from calmopsd.serve.server import ApiServer

PLATFORM = Scope.platform()
NEW_TEXT = "Some file uploads are failing for your account.\nWe are looking into it."


@dataclass
class Board:
    drafted: Drafted
    server: ApiServer
    hook: Webhook

    @property
    def url(self) -> str:
        assert self.server.url is not None
        return self.server.url

    def status(self, org: str) -> MessageStatus:
        found = get_message(self.drafted.database, PLATFORM, self.drafted.message[org])
        assert found is not None
        return found.status


@pytest.fixture(scope="module")
def board(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    with webhook() as hook:
        drafted = drafted_copy(template, tmp_path_factory.mktemp("messages"),
                               hook_url=f"json://127.0.0.1:{hook.port}")  # fmt: skip
        server = ApiServer(drafted.app, listen="127.0.0.1:0")
        server.start()
        try:
            yield Board(drafted, server, hook)
        finally:
            server.stop(2.0)
            drafted.database.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with browser(tmp_path_factory.mktemp("profile")) as session:
        yield session


def sign_in(driver: WebDriver, board: Board, token: str, page: str) -> None:
    driver.get(board.url + page)
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    driver.find_element(By.ID, "token").send_keys(secret(token))
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver).until(lambda d: d.current_url.endswith(page))


def told(driver: WebDriver, words: str) -> bool:
    """Whether the page (after the decision's redirect) tells ``words`` in its notice."""
    return bool(
        wait(driver).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".notices"), words))
    )


def section_shot(driver: WebDriver, name: str) -> Path:
    """The messages section alone, as docs/screenshots/NAME.png."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1280, min(max(height + 40, 1000), 4000))
    path = SCREENSHOTS / f"{name}.png"
    driver.find_element(By.ID, "messages").screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path


def test_an_operator_edits_a_draft_approves_it_through_the_dialog_and_it_goes_out(
    driver: WebDriver, board: Board
) -> None:
    d = board.drafted
    page, number = f"/company/acme/ops/incidents/{d.incident['acme']}", d.message["acme"]
    sign_in(driver, board, "acme-op", page)
    assert "a message to acme only" in driver.find_element(By.ID, "customer-impact").text

    driver.find_element(By.CSS_SELECTOR, f"#edit-{number} summary").click()
    text = wait(driver).until(ec.element_to_be_clickable((By.ID, f"edit-text-{number}")))
    text.clear()
    first, second = NEW_TEXT.split("\n")
    text.send_keys(first, Keys.ENTER, second)
    driver.find_element(By.ID, f"edit-save-{number}").click()
    assert told(driver, f"Message {number} edited")
    shown = driver.find_element(By.ID, f"message-text-{number}").text
    assert shown == NEW_TEXT

    driver.find_element(By.ID, f"message-approve-{number}").click()
    dialog = wait(driver).until(
        ec.visibility_of_element_located((By.ID, f"dialog-message-approve-{number}"))
    )
    for fact in ("Investigating", first, second, "acme-mail", "SHA-256"):
        assert fact in dialog.text, fact
    driver.save_screenshot(str(SCREENSHOTS / "message-approve-dialog.png"))
    # Keyboard only: the dialog put the focus on its confirm button; Enter approves.
    focused = driver.switch_to.active_element
    assert focused.get_attribute("id") == f"message-approve-confirm-{number}"
    focused.send_keys(Keys.ENTER)

    assert told(driver, f"Message {number} approved: it goes to acme-mail.")
    deliveries = driver.find_element(By.ID, f"deliveries-{number}")
    assert "acme-mail: pending" in deliveries.text
    assert board.status("acme") is MessageStatus.APPROVED

    courier = Courier(d.database, AppriseSender(10), d.config.customers, timedelta(hours=6))
    assert courier.run_once(d.clock.now())["sent"] == 1
    driver.refresh()
    wait(driver).until(
        ec.text_to_be_present_in_element((By.ID, f"deliveries-{number}"), "acme-mail: sent")
    )
    assert [(r.path, r.body["title"], r.body["message"]) for r in board.hook.delivered()] == [
        ("/acme", "Investigating", NEW_TEXT)
    ]
    assert board.status("acme") is MessageStatus.SENT
    section_shot(driver, "messages")
    driver.set_window_size(390, 1000)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    driver.set_window_size(1280, 1000)
    assert overflow is False  # the text, the sha256 and the deliveries fit a phone's width
    actors = [(e.kind, e.actor) for e in list_events(d.database, PLATFORM)
              if e.kind in ("message.edited", "message.approved")]  # fmt: skip
    assert actors == [("message.edited", "token:acme-op"), ("message.approved", "token:acme-op")]


def test_a_super_admin_discards_another_draft_with_a_note(driver: WebDriver, board: Board) -> None:
    d = board.drafted
    page, number = f"/ops/incidents/{d.incident['globex']}", d.message["globex"]
    driver.find_element(By.CSS_SELECTOR, "header form button").click()  # sign out
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    sign_in(driver, board, "root", page)
    discard = (By.ID, f"message-discard-{number}")
    wait(driver).until(ec.element_to_be_clickable(discard)).click()
    wait(driver).until(
        ec.visibility_of_element_located((By.ID, f"dialog-message-discard-{number}"))
    )
    note = driver.switch_to.active_element
    assert note.get_attribute("id") == f"message-note-{number}"
    note.send_keys("told them by phone", Keys.TAB)
    confirm = driver.switch_to.active_element
    assert confirm.get_attribute("id") == f"message-discard-confirm-{number}"
    confirm.send_keys(Keys.ENTER)
    assert told(driver, f"Message {number} discarded")
    assert "told them by phone" in driver.find_element(By.ID, f"message-{number}").text
    assert board.status("globex") is MessageStatus.DISCARDED
