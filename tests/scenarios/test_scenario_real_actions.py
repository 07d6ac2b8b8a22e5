"""The agent and the real executor against a real PM2: budgets, ineffective restarts, shadow.

Readings are written by the test (the clock is manual), but every restart is a
real ``pm2 restart`` of a real node app, and ``pm2 jlist`` is the oracle.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from support.clock import ManualClock  # type: ignore[import-not-found]
from support.pm2 import Pm2, config_for
from support.scenario import T0, Scenario, pm2

from calmopsd.act.executor import SafeExecutor
from calmopsd.config.actions import ActionsConfig
from calmopsd.model import ActionRequest, OutcomeStatus, RecommendationStatus, SafeAction
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

MIN = timedelta(minutes=1)


@pytest.fixture(scope="module")
def real_pm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pm2]:
    daemon = Pm2(tmp_path_factory.mktemp("pm2"))
    try:
        daemon.start_daemon()
        yield daemon
    finally:
        daemon.kill()
    assert daemon.leftovers() == []


def running(daemon: Pm2, name: str) -> int:
    daemon.start(daemon.app(name))
    entries = daemon.wait_entries(name, lambda e: e[0]["pm2_env"]["status"] == "online", name)
    return int(entries[0]["pid"])


def pid_of(daemon: Pm2, name: str) -> int:
    return int(daemon.entries(name)[0]["pid"])


def real_executor(
    database: Database, daemon: Pm2, app: str, mode: str = "enforce", **restart: Any
) -> SafeExecutor:
    config = ActionsConfig.model_validate(
        {"mode": mode, "pm2_restart": {"apps": [app], "cooldown": "1s", **restart}}
    )
    return SafeExecutor(
        database, config, config_for(daemon.home), database.path.parent, ManualClock(T0)
    )


def errored(app: str) -> dict[str, Any]:
    return pm2(**{app: {"status": "errored"}})


def online(app: str) -> dict[str, Any]:
    return pm2(**{app: {}})


def test_past_the_budget_a_fourth_restart_becomes_a_recommendation_even_after_a_restart(
    database: Database, real_pm2: Pm2
) -> None:
    before = running(real_pm2, "budget")
    executor = real_executor(database, real_pm2, "budget")
    seen = [before]
    for minute in range(3):
        ask = ActionRequest(SafeAction.PM2_RESTART, {"app": "budget"}, None, None, "test")
        assert executor.request(ask, T0 + minute * MIN).worked
        seen.append(pid_of(real_pm2, "budget"))
    assert len(set(seen)) == 4  # three real restarts, each a new pid

    # The daemon restarts: a new executor and agent on the same store.
    s = Scenario(database, executor=real_executor(database, real_pm2, "budget"), start=T0 + 5 * MIN)
    s.feed("pm2", errored("budget"))
    assert pid_of(real_pm2, "budget") == seen[-1]  # no fourth restart
    incident = s.only()
    (rec,) = s.recommendations(incident.id)
    assert (rec.kind, rec.action, rec.params) == ("safe_action", "pm2_restart", {"app": "budget"})
    assert "ran 3 times in the last 30m (budget 3)" in rec.rationale
    refused = [e for e in s.events(incident.id) if e.kind == "action.refused"]
    assert [e.data["reason"] for e in refused] == ["budget_spent"]


def test_a_restart_that_did_not_hold_is_not_tried_again_automatically(
    database: Database, real_pm2: Pm2
) -> None:
    before = running(real_pm2, "flaky")
    s = Scenario(database, executor=real_executor(database, real_pm2, "flaky"))
    s.feed("pm2", errored("flaky"))  # pm2_app_errored fires at once: a real restart
    after = pid_of(real_pm2, "flaky")
    assert after != before
    s.feed("pm2", online("flaky"), every=MIN, times=17)  # recovers and resolves
    s.feed("pm2", errored("flaky"))  # back 18 minutes after the restart: reopened
    incident = s.only()
    assert incident.flaps == 1
    assert pid_of(real_pm2, "flaky") == after  # not restarted a second time
    kinds = [e.kind for e in s.events(incident.id)]
    assert "action.ineffective" in kinds
    refused = [e for e in s.events(incident.id) if e.kind == "action.refused"]
    assert [e.data["reason"] for e in refused] == ["ineffective"]
    recs = s.recommendations(incident.id)
    assert [(r.kind, r.status) for r in recs][-1] == ("safe_action", RecommendationStatus.PROPOSED)


def test_shadow_mode_decides_and_records_but_restarts_nothing(
    database: Database, real_pm2: Pm2
) -> None:
    before = running(real_pm2, "shadowed")
    s = Scenario(database, executor=real_executor(database, real_pm2, "shadowed", mode="shadow"))
    s.feed("pm2", errored("shadowed"))
    assert pid_of(real_pm2, "shadowed") == before
    incident = s.only()
    (shadowed,) = [e for e in s.events(incident.id) if e.kind == "action.shadowed"]
    assert shadowed.data["detail"] == "shadow mode: would have run pm2_restart on shadowed"
    assert [a["status"] for a in s.actions(incident.id)] == [OutcomeStatus.SHADOW]
    assert verify_file(database.path).ok
    assert [e.kind for e in list_events(database, Scope.platform())].count("action.intent") == 0


def test_the_audit_chain_verifies_after_real_restarts(database: Database, real_pm2: Pm2) -> None:
    running(real_pm2, "chain")
    s = Scenario(database, executor=real_executor(database, real_pm2, "chain"))
    s.feed("pm2", errored("chain"))
    s.feed("pm2", online("chain"), every=MIN, times=17)
    assert s.only().resolution == "recovered"
    assert verify_file(database.path).ok
