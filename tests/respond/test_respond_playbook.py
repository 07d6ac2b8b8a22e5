"""The playbook's choice of a restart never undoes calmopsd's own pause of background jobs."""

from __future__ import annotations

from calmopsd.model import IncidentType, SafeAction
from calmopsd.respond.playbook import Hold, Situation, Step, choose
from calmopsd.shapes import Pm2App

APPS = {"web": Pm2App(status="online"), "jobs-worker": Pm2App(status="stopped")}


def test_a_stopped_app_is_restarted_when_calmopsd_did_not_stop_it() -> None:
    found = choose([SafeAction.PM2_RESTART], Situation(IncidentType.DEPENDENCY, {}, APPS))
    assert found == Step(
        SafeAction.PM2_RESTART, {"app": "jobs-worker"}, "`jobs-worker` is not running"
    )


def test_an_app_its_own_pause_stopped_is_never_restarted_behind_the_pause() -> None:
    """Found by a tester: a probe down paused jobs-worker; a failing web check then joined
    the incident and calmopsd restarted the worker it had paused, web untouched."""
    paused = Situation(IncidentType.DEPENDENCY, {}, APPS, paused_apps=frozenset({"jobs-worker"}))
    found = choose([SafeAction.PM2_RESTART], paused)
    assert isinstance(found, Hold)
    assert "no PM2 app is errored or stopped" in found.detail
    named = Situation(
        IncidentType.APP, {"app": "jobs-worker"}, APPS, paused_apps=frozenset({"jobs-worker"})
    )
    held = choose([SafeAction.PM2_RESTART], named)
    assert isinstance(held, Hold)
    assert "stopped by calmopsd's own pause of background jobs" in held.detail
