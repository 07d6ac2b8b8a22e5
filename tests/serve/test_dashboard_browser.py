"""The dashboard in a real browser (headless Chromium): sign in, approve and reject through
the dialog, sign out; another organization's pages and a forged form are refused.

One browser session and one served store for the module; the store was filled by the
real agent and executor (:mod:`support.dashboard`), and the approval runs ``pause_jobs``
for real. Every wait is a WebDriverWait on a condition, with a deadline. Screenshots of
every page go to docs/screenshots/ (README.md shows them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from support.api import secret
from support.browser import browser, screenshot, wait
from support.dashboard import Served, build

from calmopsd.model import RecommendationStatus
from calmopsd.record.audit import list_events
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    found = build(tmp_path_factory.mktemp("dashboard"))
    yield found
    found.stack.close()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with browser(tmp_path_factory.mktemp("profile")) as session:
        yield session


def heading(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def sign_in(driver: WebDriver, served: Served, token: str, page: str) -> None:
    # The page before may be a sign-in page too: wait for it to be gone, or the token is
    # typed into the old form while the new page loads.
    before = driver.find_elements(By.TAG_NAME, "html")
    driver.get(served.url + page)
    if before:
        wait(driver).until(ec.staleness_of(before[0]))
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    assert "/ops/login" in driver.current_url
    driver.find_element(By.ID, "token").send_keys(secret(token))
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver).until(lambda d: d.current_url.endswith(page))


def sign_out(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))


def test_a_super_admin_approves_through_the_dialog_and_sees_the_outcome_in_the_timeline(
    driver: WebDriver, served: Served
) -> None:
    driver.get(served.url + "/ops/login")
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    screenshot(driver, "login")
    sign_in(driver, served, "root", "/ops/incidents")
    incident, rec = served.incident["dependency"], served.recommendation["dependency"]
    wait(driver).until(ec.element_to_be_clickable((By.ID, f"incident-{incident}")))
    screenshot(driver, "incidents")
    driver.find_element(By.ID, f"incident-{incident}").click()
    wait(driver).until(lambda d: heading(d) == f"Incident {incident}")
    assert "unreachable" in driver.find_element(By.ID, "summary").text

    driver.find_element(By.ID, f"approve-{rec}").click()
    dialog = wait(driver).until(ec.visibility_of_element_located((By.ID, f"dialog-approve-{rec}")))
    shown = dialog.text
    facts = ("pause_jobs", "Target", "jobs",
             "0 of 0 runs left on jobs in 2h (spent: your approval lifts it)",
             "the incident is still unresolved", "the kill switch is off")  # fmt: skip
    for fact in facts:
        assert fact in shown, fact
    screenshot(driver, "approve-dialog")
    # Keyboard only: the dialog put the focus on its confirm button; Enter approves.
    focused = driver.switch_to.active_element
    assert focused.get_attribute("id") == f"approve-confirm-{rec}"
    page = driver.find_element(By.TAG_NAME, "html")
    focused.send_keys(Keys.ENTER)
    wait(driver).until(ec.staleness_of(page))  # the approval posted: the incident comes back

    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "timeline"), "action.executed"))
    assert f"Recommendation {rec} executed" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert "recommendation.executed" in driver.find_element(By.ID, "timeline").text
    assert "succeeded" in driver.find_element(By.ID, "actions").text
    assert served.flag.exists()  # pause_jobs really ran
    screenshot(driver, "incident")
    approved = [e for e in list_events(served.stack.database, PLATFORM, incident_id=incident)
                if e.kind == "recommendation.approved"]  # fmt: skip
    assert [e.actor for e in approved] == ["token:root"]


def test_rejecting_another_recommendation_records_the_note_as_the_token(
    driver: WebDriver, served: Served
) -> None:
    incident, rec = served.incident["memory"], served.recommendation["memory"]
    driver.get(f"{served.url}/ops/incidents/{incident}")
    driver.find_element(By.ID, f"reject-{rec}").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, f"dialog-reject-{rec}")))
    note = driver.switch_to.active_element
    assert note.get_attribute("id") == f"note-{rec}"
    note.send_keys("restarting api by hand at 15:00")
    driver.find_element(By.ID, f"reject-confirm-{rec}").click()
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, f"rec-{rec}"), "rejected"))
    found = get_recommendation(served.stack.database, PLATFORM, rec)
    assert found is not None and found.status is RecommendationStatus.REJECTED
    assert (found.decided_by, found.decision_note) == (
        "token:root",
        "restarting api by hand at 15:00",
    )


def test_every_page_renders_and_is_screenshotted(driver: WebDriver, served: Served) -> None:
    for name, title in (("health", "Health"), ("history", "History"),
                        ("summary", "Weekly summary"), ("runbook", "Runbook")):  # fmt: skip
        driver.get(f"{served.url}/ops/{name}")
        wait(driver).until(lambda d, t=title: heading(d) == t)
        screenshot(driver, name)
    driver.get(f"{served.url}/ops/health")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.spark polyline")
    driver.get(f"{served.url}/ops/incidents/{served.incident['dependency']}")
    wait(driver).until(ec.presence_of_element_located((By.ID, "timeline")))
    screenshot(driver, "incident-phone", width=390)
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert overflow is False  # usable at phone width: nothing wider than the screen


def test_signing_out_ends_the_session(driver: WebDriver, served: Served) -> None:
    sign_out(driver)
    driver.get(f"{served.url}/ops/incidents")
    wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    assert "/ops/login?next=/ops/incidents" in driver.current_url


def test_an_organization_sees_another_organizations_pages_as_not_found(
    driver: WebDriver, served: Served
) -> None:
    sign_in(driver, served, "acme-op", "/company/acme/ops/incidents")
    # After the sign-in's redirect has loaded (under load it may still be on its way).
    mine = (By.ID, f"incident-{served.incident['acme']}")
    wait(driver).until(ec.presence_of_element_located(mine))
    assert not driver.find_elements(By.ID, f"incident-{served.incident['dependency']}")
    for page in ("/company/globex/ops/incidents",
                 f"/company/acme/ops/incidents/{served.incident['dependency']}",
                 f"/ops/incidents/{served.incident['acme']}"):  # fmt: skip
        driver.get(served.url + page)
        wait(driver).until(lambda d: heading(d) == "Not found")
    screenshot(driver, "not-found")


def test_a_forged_form_token_is_refused_and_nothing_is_decided(
    driver: WebDriver, served: Served
) -> None:
    incident, rec = served.incident["acme"], served.recommendation["acme"]
    driver.get(f"{served.url}/company/acme/ops/incidents/{incident}")
    driver.find_element(By.ID, f"reject-{rec}").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, f"dialog-reject-{rec}")))
    driver.execute_script(
        "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'forged')"
    )
    driver.find_element(By.ID, f"reject-confirm-{rec}").click()
    wait(driver).until(lambda d: heading(d) == "Form refused")
    found = get_recommendation(served.stack.database, PLATFORM, rec)
    assert found is not None and found.status is RecommendationStatus.PROPOSED
