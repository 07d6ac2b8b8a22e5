"""A pause held while its incident is unresolved: extended, bounded, handed to a person.

Real PM2 (one daemon for the module) and real SQLite, on a manual clock. ``pm2 jlist``
is the oracle for whether the worker is paused; the audit log for what was decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock  # type: ignore[import-not-found]
from support.pm2 import Pm2, config_for

from calmopsd.act.executor import SafeExecutor
from calmopsd.config.actions import ActionsConfig
from calmopsd.model import (
    ActionRequest,
    IncidentStatus,
    IncidentType,
    OutcomeStatus,
    Resolution,
    SafeAction,
    Severity,
)
from calmopsd.record.actions import list_active
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import change_status, open_incident
from calmopsd.record.scope import Scope

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PLATFORM = Scope.platform()
TERM = timedelta(minutes=10)


@pytest.fixture(scope="module")
def pm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pm2]:
    daemon = Pm2(tmp_path_factory.mktemp("pm2"))
    try:
        daemon.start_daemon()
        yield daemon
    finally:
        daemon.kill()
    assert daemon.leftovers() == []


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.open(database_path(tmp_path / "state"))
    yield db
    db.close()


def worker(pm2: Pm2, name: str) -> str:
    pm2.start(pm2.app(name))
    pm2.wait_entries(name, lambda e: status(e) == "online", f"{name} online")
    return name


def status(entries: list[dict[str, Any]]) -> str:
    return ",".join(e["pm2_env"]["status"] for e in entries)


def executor(
    database: Database, pm2: Pm2, app: str, clock: ManualClock, **pause: Any
) -> SafeExecutor:
    config = ActionsConfig.model_validate(
        {"mode": "enforce", "pause_jobs": {"apps": [app], "max_runs": 1, **pause}}
    )
    state = database.path.parent
    return SafeExecutor(database, config, config_for(pm2.home), state, clock)


def incident(database: Database) -> int:
    return open_incident(
        database, PLATFORM, organization_id=None, fingerprint="dependency:probe=db",
        type=IncidentType.DEPENDENCY, severity=Severity.CRITICAL, title="db down", at=T0,
        actor="calmopsd",
    ).id  # fmt: skip


def pause(incident_id: int | None, **fields: Any) -> ActionRequest:
    return ActionRequest(
        SafeAction.PAUSE_JOBS, {"ttl": "10m"}, incident_id, None, "db is down", **fields
    )


def kinds(database: Database, *wanted: str) -> list[str]:
    return [e.kind for e in list_events(database, PLATFORM) if not wanted or e.kind in wanted]


def events(database: Database, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in list_events(database, PLATFORM) if e.kind == kind]


def paused(pm2: Pm2, app: str) -> bool:
    return status(pm2.entries(app)) == "stopped"


def resolve(database: Database, incident_id: int, at: datetime) -> None:
    assert change_status(
        database, PLATFORM, incident_id, expected=IncidentStatus.OPEN,
        new=IncidentStatus.RESOLVED, at=at, actor="calmopsd", resolution=Resolution.RECOVERED,
    )  # fmt: skip


def test_a_pause_is_extended_while_its_incident_is_unresolved_then_ends_handed_to_a_person(
    pm2: Pm2, database: Database
) -> None:
    app = worker(pm2, "ext-spent")
    clock = ManualClock(T0)
    run = executor(database, pm2, app, clock, max_extensions=2)
    found = incident(database)
    assert run.request(pause(found), T0).status is OutcomeStatus.SUCCEEDED
    assert paused(pm2, app)

    assert run.revert_due(clock.advance(TERM)) == []  # 14:10: extended to 14:20
    assert run.revert_due(clock.advance(TERM)) == []  # 14:20: extended to 14:30
    assert [a.expires_at for a in list_active(database)] == [T0 + 3 * TERM]
    assert paused(pm2, app)
    assert run.revert_due(clock.advance(TERM - timedelta(seconds=1))) == []  # not due yet
    assert run.revert_due(clock.advance(timedelta(seconds=1))) == [1]  # 14:30: spent

    assert status(pm2.wait_entries(app, lambda e: status(e) == "online", "back")) == "online"
    assert [(e["extension"], e["extensions_left"], e["expires_at"]) for e in
            events(database, "action.extended")] == [
        (1, 1, "2026-03-02T14:20:00.000000+00:00"), (2, 0, "2026-03-02T14:30:00.000000+00:00"),
    ]  # fmt: skip
    assert events(database, "action.extended")[0]["detail"] == (
        f"pause_jobs extended by 10m to 14:20 UTC: incident #{found} is still open "
        "(1 more extension allowed)"
    )
    [spent] = events(database, "action.extension_spent")
    assert spent["detail"] == (
        f"pause_jobs ends although incident #{found} is still open "
        "(extended 2 times, the most allowed): a person decides whether to pause_jobs again"
    )
    assert kinds(database, "action.extended", "action.extension_spent", "action.reverted") == [
        "action.extended", "action.extended", "action.extension_spent", "action.reverted",
    ]  # fmt: skip
    assert list_active(database) == []
    assert verify_file(database.path).ok


def test_extensions_are_no_new_runs_and_never_mark_the_pause_ineffective(
    pm2: Pm2, database: Database
) -> None:
    app = worker(pm2, "ext-budget")
    clock = ManualClock(T0)
    run = executor(database, pm2, app, clock, max_extensions=3, cooldown="1s")
    found = incident(database)
    assert run.request(pause(found), T0).worked
    for _ in range(3):
        assert run.revert_due(clock.advance(TERM)) == []
        assert run.symptom_returned(found, clock.now()) == []  # it holds, it did not fail
    assert kinds(database, "action.intent") == ["action.intent"]  # one run, three extensions
    assert run.revert_due(clock.advance(TERM)) == [1]  # spent: reverted, handed over
    assert run.symptom_returned(found, clock.now()) == []
    assert kinds(database, "action.ineffective") == []
    again = run.request(pause(found), clock.now())
    assert again.reason == "budget_spent"  # max_runs 1: the one run, not four
    assert run.request(pause(found, approved_by="dana"), clock.now()).worked  # a person may
    assert verify_file(database.path).ok


def test_a_pause_whose_incident_resolved_meanwhile_is_reverted_on_time(
    pm2: Pm2, database: Database
) -> None:
    app = worker(pm2, "ext-resolved")
    clock = ManualClock(T0)
    run = executor(database, pm2, app, clock)
    found = incident(database)
    assert run.request(pause(found), T0).worked
    assert run.revert_due(clock.advance(TERM)) == []  # still open: extended
    resolve(database, found, clock.advance(timedelta(minutes=3)))
    assert run.revert_due(clock.advance(TERM - timedelta(minutes=3))) == [1]  # on time
    assert kinds(database, "action.extended", "action.extension_spent") == ["action.extended"]
    assert status(pm2.wait_entries(app, lambda e: status(e) == "online", "back")) == "online"


def test_a_pause_for_no_incident_or_a_resolved_one_ends_on_time_as_before(
    pm2: Pm2, database: Database
) -> None:
    app = worker(pm2, "ext-none")
    clock = ManualClock(T0)
    run = executor(database, pm2, app, clock, max_runs=2, cooldown="1s")
    assert run.request(pause(None), T0).worked
    assert run.revert_due(clock.advance(TERM)) == [1]
    found = incident(database)
    resolve(database, found, clock.now())
    assert run.request(pause(found), clock.now()).worked
    assert run.revert_due(clock.advance(TERM)) == [2]
    assert kinds(database, "action.extended", "action.extension_spent") == []


def test_a_persons_revert_during_an_extension_ends_it_at_once(pm2: Pm2, database: Database) -> None:
    app = worker(pm2, "ext-person")
    clock = ManualClock(T0)
    run = executor(database, pm2, app, clock)
    found = incident(database)
    assert run.request(pause(found), T0).worked
    assert run.revert_due(clock.advance(TERM)) == []  # extended
    assert run.revert(1, clock.advance(timedelta(minutes=2)), "dana") == (True, "reverted")
    assert status(pm2.wait_entries(app, lambda e: status(e) == "online", "back")) == "online"
    assert run.revert_due(clock.advance(TERM)) == []  # nothing left to end or extend
    [reverted] = [e for e in list_events(database, PLATFORM) if e.kind == "action.reverted"]
    assert (reverted.actor, reverted.data["status"]) == ("dana", "succeeded")
    assert run.symptom_returned(found, clock.now()) == []
    assert verify_file(database.path).ok


def test_a_restart_keeps_the_extensions_already_used(pm2: Pm2, tmp_path: Path) -> None:
    app = worker(pm2, "ext-restart")
    clock = ManualClock(T0)
    path = database_path(tmp_path / "restarted")
    database = Database.open(path)
    found = incident(database)
    first = executor(database, pm2, app, clock, max_extensions=2)
    assert first.request(pause(found), T0).worked
    assert first.revert_due(clock.advance(TERM)) == []  # one extension used
    database.close()  # the daemon stops during the extension

    database = Database.open(path)  # and starts again
    try:
        again = executor(database, pm2, app, ManualClock(clock.now()), max_extensions=2)
        assert again.revert_due(clock.advance(TERM)) == []  # the second, the last
        assert again.revert_due(clock.advance(TERM)) == [1]
        assert [e["extension"] for e in events(database, "action.extended")] == [1, 2]
        assert len(events(database, "action.extension_spent")) == 1
    finally:
        database.close()
    assert verify_file(path).ok


def test_with_no_extensions_allowed_it_ends_on_time_and_still_hands_over(
    pm2: Pm2, database: Database
) -> None:
    app = worker(pm2, "ext-zero")
    clock = ManualClock(T0)
    run = executor(database, pm2, app, clock, max_extensions=0)
    found = incident(database)
    assert run.request(pause(found), T0).worked
    assert run.revert_due(clock.advance(TERM)) == [1]
    [spent] = events(database, "action.extension_spent")
    assert spent["detail"] == (
        f"pause_jobs ends although incident #{found} is still open (never extended): "
        "a person decides whether to pause_jobs again"
    )
    assert kinds(database, "action.extended") == []
