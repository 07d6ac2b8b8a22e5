"""The weekly summary through the real API (waitress on loopback, real tokens) and the real
CLI (a subprocess on the store): the recorded history's figures, scopes from the
attacker's side, bad queries as 400 JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from structlog.testing import capture_logs
from support.api import secret, token_entries
from support.clock import ManualClock
from support.process import calmopsd, clean_env
from support.weeks import at, recorded
from werkzeug.test import Client

from calmopsd.record.database import Database, database_path
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens


class Api:
    def __init__(self, state: Path):
        self.state = state
        self.database = Database.open(database_path(state))
        recorded(self.database)
        app = create_app(Operations(self.database, ManualClock(at(8, 9, 0)), Hooks()),
                         Tokens(token_entries()))  # fmt: skip
        self.server = ApiServer(app, listen="127.0.0.1:0")
        self.server.start()

    def get(self, token: str | None, query: str = "week=2026-W10") -> requests.Response:
        assert self.server.url is not None
        headers = {"Authorization": f"Bearer {secret(token)}"} if token else {}
        return requests.get(f"{self.server.url}/api/ops/summary/weekly?{query}", timeout=30,
                            headers=headers)  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    made = Api(tmp_path_factory.mktemp("weekly") / "state")
    yield made
    made.server.stop(2.0)
    made.database.close()


def _figures(answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    week: dict[str, Any] = answer.json()["week"]
    return week


def test_the_super_admin_reads_the_platforms_week(api: Api) -> None:
    answer = api.get("root")
    week = _figures(answer)
    assert answer.json()["organization_id"] is None
    assert answer.json()["title"] == "Stability summary, 2026-W10"
    assert week["incidents"]["opened"] == 4
    assert week["time_to_detect"] == {"count": 4, "median_s": 90.0, "p90_s": 300.0}
    assert week["time_to_resolve"] == {"count": 3, "median_s": 1800.0, "p90_s": 7680.0}
    assert week["availability"] == [
        {"check": "api", "readings": 4, "up_share": 0.75},
        {"check": "web", "readings": 4, "up_share": 1.0},
    ]
    pm2 = next(a for a in week["actions"] if a["action"] == "pm2_restart")
    assert (pm2["ran"], pm2["ineffective_rate"]) == (3, 0.5)
    assert week["budget_exhaustions"] == [
        {"action": "nginx_reload", "reason": "cooldown", "count": 1},
        {"action": "pm2_restart", "reason": "budget_spent", "count": 1},
    ]
    assert week["approvals"] == {"pending": 1, "expired": 1}
    assert week["recurring"][0] == {"fingerprint": "disk:/", "count": 3, "previous_count": 1}
    before = answer.json()["previous_week"]
    assert (before["label"], before["incidents"]["opened"]) == ("2026-W09", 2)


def test_an_organization_reads_only_its_own_week(api: Api) -> None:
    answer = api.get("acme-view")
    week = _figures(answer)
    assert answer.json()["organization_id"] == "acme"
    assert week["incidents"]["opened"] == 2
    assert week["availability"] == []
    assert "globex" not in answer.text and "disk:/" not in answer.text
    assert api.get("acme-op", "week=2026-W10&organization_id=acme").json() == answer.json()
    for other in ("globex", "nobody"):
        refused = api.get("acme-op", f"week=2026-W10&organization_id={other}")
        assert (refused.status_code, refused.json()["error"]) == (404, "not_found"), other


def test_the_super_admin_narrows_to_one_organization_and_is_traced(api: Api) -> None:
    with capture_logs() as logs:
        week = _figures(api.get("root", "week=2026-W10&organization_id=globex"))
    assert week["incidents"]["by_type_severity"] == [
        {"type": "memory", "severity": "warning", "count": 1}
    ]
    assert week["budget_exhaustions"][0]["action"] == "nginx_reload"
    traced = [e for e in logs if e["event"] == "api.bypass_read"]
    assert [(e["what"], e["organizations"]) for e in traced] == [("summary", ["globex"])]


def test_the_default_is_the_last_seven_days(api: Api) -> None:
    answer = api.get("root", "")
    assert answer.json()["week"]["label"] == "the 7 days to 2026-03-10 09:00 UTC"
    assert answer.json()["week"]["incidents"]["opened"] == 5  # A to D, and the one after W10
    assert answer.json()["previous_week"]["incidents"]["opened"] == 2


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("week=2026-W54", "not a week of the ISO calendar"),
        ("week=9999-W52", "from 1970 to 9998"),  # its end is past what a date holds
        ("week=0001-W01", "from 1970 to 9998"),  # the week before it is too
        ("week=1969-W52", "from 1970 to 9998"),
        ("week=W10", "YYYY-Www"),
        ("week=2026-W12", "has not begun"),
        ("week=2026-W10&since=7d", "not both"),
        ("since=forever", "duration"),
        ("since=400d", "between 1h and 31d"),
        ("week=2026-W10&week=2026-W09", "more than once"),
        ("weeks=2026-W10", "weeks"),
        ("week=" + "9" * 500, "week"),
        ("organization_id=a%00b", "organization_id"),
    ],
)
def test_a_bad_query_is_a_400_json_error(api: Api, query: str, said: str) -> None:
    answer = api.get("root", query)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error", "detail"}
    assert said in answer.json()["detail"]


def test_no_token_is_a_401(api: Api) -> None:
    assert api.get(None).status_code == 401
    assert api.get("nobody-at-all").status_code == 401


def test_the_cli_tells_the_same_week(api: Api) -> None:
    env = {**clean_env(), "CALMOPS_STATE_DIR": str(api.state)}
    done = calmopsd("summary", "--week", "2026-W10", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == [
        "Stability summary, 2026-W10",
        "",
        "4 incidents opened (2026-W09: 2): 1 app critical, 1 app warning, 1 disk warning, "
        "1 memory warning.",
    ]
    assert "Flapping: disk:/ reopened 2 times (rule disk_used)." in done.stdout
    as_json = calmopsd("summary", "--week", "2026-W10", "--organization", "acme", "--json",
                       env=env)  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == api.get("acme-view").json()
    bad = calmopsd("summary", "--week", "2026-W99", env=env)
    assert (bad.returncode, bad.stderr.strip()) == (
        2, "summary: 2026-W99 is not a week of the ISO calendar"
    )  # fmt: skip
    far = calmopsd("summary", "--week", "9999-W52", env=env)
    assert (far.returncode, far.stderr.strip()) == (
        2, "summary: a week is from 1970 to 9998 (got 9999-W52)"
    )  # fmt: skip
    none = calmopsd("summary", "--state-dir", str(api.state.parent / "nothing"), env=env)
    assert none.returncode == 1 and "no database" in none.stderr


# -- the dashboard's page (server-side: werkzeug's test client over the same store) --------

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _signed_in(api: Api, token: str) -> Client:
    app = create_app(Operations(api.database, ManualClock(at(8, 9, 0)), Hooks()),
                     Tokens(token_entries()))  # fmt: skip
    client = app.test_client()
    found = _CSRF.search(client.get("/ops/login").get_data(as_text=True))
    assert found is not None
    signed = client.post("/ops/login", data={"csrf": found.group(1), "token": secret(token)})
    assert signed.status_code == 303
    return client


def test_the_dashboard_page_shows_the_week_on_one_screen(api: Api) -> None:
    page = _signed_in(api, "root").get("/ops/summary?week=2026-W10")
    shown = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Stability summary, 2026-W10" in shown
    assert "<li>Flapping: disk:/ reopened 2 times (rule disk_used).</li>" in shown
    assert re.search(r"<td>api</td><td>75.00 %</td><td>4</td><td>80.00 %</td>", shown)
    assert re.search(r"<td>pm2_restart</td><td>3</td><td>2 \(67 %\)</td><td>1 \(50 %\)</td>", shown)
    assert 'id="summary-weeks"' in shown  # the weeks' counts and MTTR stay below it


def test_an_organizations_page_is_its_own_and_a_bad_week_a_400_page(api: Api) -> None:
    acme = _signed_in(api, "acme-op")
    shown = acme.get("/company/acme/ops/summary?week=2026-W10").get_data(as_text=True)
    assert "Stability summary for acme, 2026-W10" in shown
    assert "<li>2 incidents opened (2026-W09: 1): 1 app critical, 1 app warning.</li>" in shown
    assert "globex" not in shown and "weekly-checks" not in shown
    assert acme.get("/company/globex/ops/summary").status_code == 404
    assert acme.get("/ops/summary").status_code == 404
    bad = acme.get("/company/acme/ops/summary?week=2026-W99")
    assert (bad.status_code, bad.mimetype) == (400, "text/html")
    assert "not a week of the ISO calendar" in bad.get_data(as_text=True)
