"""After a restart, the agent knows what it knew: rebuilt from the store, not forgotten.

Each test runs a first agent on a real SQLite file, then a second one on the same file
(what a daemon restart or a reload of the rules does) and compares.
"""

from __future__ import annotations

from datetime import timedelta

from support.scenario import Scenario, memory, pm2

from calmopsd.model import IncidentStatus
from calmopsd.record.database import Database

MIN = timedelta(minutes=1)


def told(s: Scenario, incident_id: int) -> list[str]:
    """The summary's lines about the response (the headline and customers are re-read
    from the next readings)."""
    lines = s.get(incident_id).summary.splitlines()
    return [line for line in lines if line.split(":")[0] in ("Done", "Not done", "Now", "Next")]


def test_a_restart_keeps_what_was_done_the_watch_and_the_next_step(database: Database) -> None:
    before = Scenario(database)
    before.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    before.feed("memory", memory(92), times=3)  # restarted; monitoring; advice on the limit
    incident = before.only()
    assert incident.status is IncidentStatus.MONITORING
    expected = told(before, incident.id)
    assert expected == [
        "Done: restarted PM2 app `api` at 14:00; done.",
        "Now: monitoring for 10 minutes (until 14:10).",
        "Next: approve raising `api`'s max_memory_restart, or dismiss (recommendation #1). "
        "Runbook: calmopsd runbook memory.",
    ]

    after = Scenario(database, start=before.now)
    assert told(after, incident.id) == expected
    tracked = after.agent.tracked[incident.id]
    assert (tracked.monitor_until, tracked.next_recommendation) == (
        before.agent.tracked[incident.id].monitor_until,
        1,
    )


def test_after_a_restart_the_watch_ends_when_it_was_due_not_at_once(database: Database) -> None:
    before = Scenario(database)
    before.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    before.feed("memory", memory(92), times=3)
    incident = before.only()
    after = Scenario(database, start=before.now)
    after.feed("memory", memory(92), every=MIN, times=5)  # still inside the 10 minutes
    assert "incident.not_holding" not in after.kinds(incident.id)
    after.feed("memory", memory(92), every=MIN, times=6)  # past them, still in breach
    assert after.kinds(incident.id).count("incident.not_holding") == 1


def test_after_a_restart_a_held_incident_asks_nothing_twice(database: Database) -> None:
    before = Scenario(database)
    before.feed("memory", memory(92), times=3)  # no PM2 app to restart: held
    incident = before.only()
    expected = told(before, incident.id)
    assert expected[1].startswith("Not done: no safe action fits")

    after = Scenario(database, start=before.now)
    assert told(after, incident.id) == expected
    after.feed("memory", memory(92), every=MIN, times=5)
    assert len(after.recommendations(incident.id)) == 1
    assert after.kinds(incident.id).count("incident.held") == 1
    assert told(after, incident.id)[-1] == expected[-1]
