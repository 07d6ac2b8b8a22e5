"""The dashboard's views are made at its first request, once, and routing is the same
before and after (calmopsd/serve/dashboard/table.py). In a fresh interpreter, since
this one has imported every module already; served by real waitress."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.clock import ManualClock

from calmopsd.record.database import Database
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Tokens

ROOT = Path(__file__).parents[2]

SCRIPT = r"""
import json, sys, threading
from datetime import UTC, datetime
from pathlib import Path

import requests

from calmopsd.record.database import Database
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens

sys.path.insert(0, sys.argv[2])
from support.clock import ManualClock

VIEWS = "calmopsd.serve.dashboard.routes"
report = {}
database = Database.open(Path(sys.argv[1]) / "calmopsd.db")
app = create_app(Operations(database, ManualClock(datetime(2026, 1, 1, tzinfo=UTC))), Tokens([]))
server = ApiServer(app, listen="127.0.0.1:0")
server.start()
try:
    base = server.url
    report["at_start"] = VIEWS in sys.modules
    # Routing needs no view: an API path without a token, a wrong method on a page.
    report["api_401"] = requests.get(base + "/api/ops/incidents", timeout=30).status_code
    report["after_api"] = VIEWS in sys.modules
    css = requests.get(base + "/ops/static/dashboard.css", timeout=30)
    report["static"] = css.status_code, VIEWS in sys.modules
    import calmopsd.serve.dashboard.routes as routes_module  # now, to count the builds
    real_build, builds = routes_module.build, []
    def counted(*args):
        builds.append(1)
        return real_build(*args)
    routes_module.build = counted
    answers = []
    def first(): answers.append(requests.get(base + "/ops/login", timeout=30).status_code)
    threads = [threading.Thread(target=first) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join(30)
    report["logins"] = sorted(answers)
    report["builds"] = len(builds)
    report["page_redirect"] = requests.get(base + "/ops/incidents", timeout=30,
                                           allow_redirects=False).status_code
    report["missing"] = requests.get(base + "/company/acme/ops/nowhere", timeout=30,
                                     allow_redirects=False).status_code
    report["wrong_method"] = requests.put(base + "/ops/login", timeout=30).status_code
finally:
    server.stop(2.0)
    database.close()
print(json.dumps(report))
"""


def test_the_dashboard_is_made_at_its_first_request_and_only_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(ROOT / "tests")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "at_start": False,
        "api_401": 401,
        "after_api": False,
        "static": [200, False],  # a file of the directory needs no view
        "logins": [200, 200, 200, 200],
        "builds": 1,
        "page_redirect": 303,  # no session: to the sign-in form
        "missing": 303,  # the catch-all page needs a session too
        "wrong_method": 401,  # no route for PUT: the API's hook answers, as before
    }


def test_a_dashboard_that_cannot_be_made_is_a_plain_500_page_and_the_api_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import calmopsd.serve.dashboard.routes as routes_module

    tries: list[int] = []

    def broken(*args: object) -> None:
        tries.append(1)
        raise RuntimeError("a template helper is missing")

    monkeypatch.setattr(routes_module, "build", broken)
    database = Database.open(tmp_path / "calmopsd.db")
    try:
        clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
        client = create_app(Operations(database, clock), Tokens([])).test_client()
        with capture_logs() as logs:
            pages = [client.get(path) for path in ("/ops/login", "/ops/incidents")]
            api = client.get("/api/ops/incidents")
    finally:
        database.close()
    assert [(page.status_code, page.mimetype) for page in pages] == [(500, "text/html")] * 2
    assert b"Dashboard unavailable" in pages[0].data and b"template" not in pages[0].data
    assert len(tries) == 2  # once a request, not again from its error handler
    assert [e["event"] for e in logs if e["event"] == "serve.dashboard_failed"] == [
        "serve.dashboard_failed"
    ] * 2
    assert api.status_code == 401  # the API is untouched: no token, as ever
