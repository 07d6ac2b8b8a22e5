"""One input, one write transaction: opening an incident commits all at once or not at all."""

from __future__ import annotations

from functools import partial

import pytest
from support.scenario import T0, Scenario, ScriptedExecutor, memory, pm2

from calmopsd.model import IncidentStatus, Reading
from calmopsd.record.audit import list_events, record_event
from calmopsd.record.database import Database
from calmopsd.record.incidents import list_incidents
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def writes(database: Database, work: object) -> int:
    before = database.write_transactions
    assert callable(work)
    work()
    return database.write_transactions - before


def test_the_reading_that_opens_an_incident_costs_one_write_transaction(
    database: Database,
) -> None:
    s = Scenario(database, executor=ScriptedExecutor())
    s.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    s.feed("memory", memory(92), times=2)  # not yet confirmed
    assert list_incidents(database, PLATFORM) == []
    reading = Reading("memory", s.now, True, 1.0, memory(92))
    with database.unit():
        opened = writes(database, partial(s.agent.observe, reading))
    assert opened == 0  # joined the input's unit: no transaction of its own
    (incident,) = list_incidents(database, PLATFORM)
    assert incident.status is IncidentStatus.STABILIZING  # the restart is requested
    kinds = [e.kind for e in list_events(database, PLATFORM, incident_id=incident.id)]
    assert kinds == [
        "incident.opened",
        "incident.classified",
        "incident.status_changed",
        "action.requested",
    ]


def test_each_input_is_exactly_one_write_transaction(database: Database) -> None:
    s = Scenario(database, executor=ScriptedExecutor())
    s.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    s.feed("memory", memory(92), times=2)
    reading = Reading("memory", s.now, True, 1.0, memory(92))
    assert writes(database, partial(s.handle, partial(s.agent.observe, reading))) == 2
    # ... the reading's, and the outcome's (the scripted executor writes nothing itself)
    (incident,) = list_incidents(database, PLATFORM)
    assert incident.status is IncidentStatus.MONITORING
    assert writes(database, partial(s.handle, partial(s.agent.tick, s.now))) == 1


def test_a_unit_that_fails_leaves_nothing_behind_and_reads_its_own_writes(
    database: Database,
) -> None:
    before = list_events(database, PLATFORM)
    with pytest.raises(RuntimeError), database.unit():
        record_event(database, PLATFORM, kind="test.first", actor="t", at=T0)
        record_event(database, PLATFORM, kind="test.second", actor="t", at=T0)
        seen = [e.kind for e in list_events(database, PLATFORM)]
        assert seen[-2:] == ["test.first", "test.second"]  # inside: visible already
        raise RuntimeError("the agent failed half-way")
    assert list_events(database, PLATFORM) == before
    record_event(database, PLATFORM, kind="test.after", actor="t", at=T0)
    assert [e.seq for e in list_events(database, PLATFORM)] == [
        *(e.seq for e in before),
        len(before) + 1,
    ]  # the chain goes on from where it was: no gap from the rolled-back events


def test_a_write_that_fails_inside_a_unit_is_undone_whole_and_the_rest_stands(
    database: Database,
) -> None:
    with database.unit():
        record_event(database, PLATFORM, kind="test.kept", actor="t", at=T0)
        with pytest.raises(RuntimeError), database.write() as tx:
            tx.db.execute("UPDATE schema_migrations SET name = 'edited'")
            raise RuntimeError("the audit event that should go with it failed")
        names = {r[0] for r in tx.db.execute("SELECT name FROM schema_migrations")}
        assert "edited" not in names  # undone inside the unit already
    assert [e.kind for e in list_events(database, PLATFORM)][-1] == "test.kept"
    with database.read() as db:
        assert "edited" not in {r[0] for r in db.execute("SELECT name FROM schema_migrations")}
