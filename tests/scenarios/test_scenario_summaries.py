"""Decision summaries, line by line, for whole scenarios (times are the manual clock's, UTC)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from support.scenario import (
    Scenario,
    ScriptedExecutor,
    check,
    disk,
    http,
    logs,
    memory,
    pm2,
    shadow_executor,
)

from calmopsd.config import Config
from calmopsd.model import ActionOutcome, ActionRequest, IncidentStatus, OutcomeStatus
from calmopsd.record.database import Database, database_path
from calmopsd.respond.summary import MAX_LINES

MIN = timedelta(minutes=1)


def lines(s: Scenario) -> list[str]:
    text = s.only().summary
    assert len(text.splitlines()) <= MAX_LINES
    return text.splitlines()


def test_a_memory_leak_restarted_then_recovering_then_resolved(database: Database) -> None:
    s = Scenario(database)
    s.feed("logs", logs(errors_per_min=0))
    s.feed("pm2", pm2(api={"memory_bytes": 900 << 20}, worker={"memory_bytes": 100 << 20}))
    s.feed("memory", memory(93), times=3)
    assert lines(s) == [
        "Memory at 93 % on the host since 14:00 (threshold 85 %).",
        "Customers: no impact seen yet; error rate normal.",
        "Done: restarted PM2 app `api` at 14:01; done.",
        "Now: monitoring for 10 minutes (until 14:11).",
        "Next: approve raising `api`'s max_memory_restart, or dismiss (recommendation #1). "
        "Runbook: calmopsd runbook memory.",
    ]
    s.feed("memory", memory(61), every=MIN, times=3)
    assert lines(s)[2:4] == [
        "Done: restarted PM2 app `api` at 14:01; it worked; memory now 61 %.",
        "Now: recovering since 14:01; resolves at 14:16 if it holds.",
    ]
    s.feed("memory", memory(61), every=MIN, times=14)
    assert lines(s)[3:] == ["Now: resolved at 14:16 (recovered).", "Next: none."]


def test_a_bad_deploy_says_why_it_did_not_restart_and_asks_for_a_rollback(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"deploy": {"from": "1.4.0", "to": "1.5.0"}}))
    s.wait(2 * MIN)
    s.feed("logs", logs(errors_per_min=42, organizations=[("acme", 30), ("globex", 12)]), times=3)
    assert lines(s) == [
        "Server errors at 42 % of requests (1 min) since 14:02 (threshold 5 %). "
        "Likely deploy: began 2 min after a deploy of api.",
        "Customers: partial outage, investigating: 42 server errors/min; affected: "
        "organizations acme, globex.",
        "Done: nothing yet.",
        "Not done: no restart during a deploy window (`api` was just deployed); "
        "a rollback is for a human to decide.",
        "Now: open, warning; watching.",
        "Next: decide whether to roll back `api`, or dismiss (recommendation #1). "
        "Runbook: calmopsd runbook deploy.",
    ]


def test_a_filling_disk_in_shadow_mode_escalates_and_asks_a_human(database: Database) -> None:
    s = Scenario(database, executor=shadow_executor(database))
    s.feed("logs", logs(errors_per_min=0))
    s.feed("disk", disk(86), times=3)
    first = lines(s)
    assert first == [
        "Disk / at 86 % full since 14:00 (threshold 80 %).",
        "Customers: no impact seen yet; error rate normal.",
        "Done: nothing yet.",
        "Not done: would clear old temp uploads; shadow mode, nothing ran.",
        "Now: open, warning; watching.",
        "Next: clear old temp uploads by hand if it does not recover (recommendation #1). "
        "Runbook: calmopsd runbook disk.",
    ]
    s.feed("disk", disk(96), times=3)
    second = lines(s)
    assert [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b] == [0, 4]
    assert second[0] == "Disk / at 96 % full since 14:00 (threshold 80 %)."
    assert second[4] == "Now: open, critical; watching."


def test_a_flapping_incident_says_so_and_how_long_the_clear_must_hold(database: Database) -> None:
    s = Scenario(database)
    for _ in range(2):
        s.feed("memory", memory(90), times=3)
        s.feed("memory", memory(60), every=MIN, times=30)
    s.feed("memory", memory(90), times=3)
    s.feed("memory", memory(60), every=MIN, times=3)
    assert lines(s)[3:] == [
        "Not done: no safe action fits (no PM2 app to restart).",
        "Now: recovering since 15:02; resolves at 15:36 if it holds. "
        "Flapping: reopened 2 times, clear hold now 34 minutes.",
        "Next: find what holds the memory (top processes are in the evidence) (recommendation #1). "
        "Runbook: calmopsd runbook memory.",
    ]
    assert len(s.recommendations(s.only().id)) == 1  # the same advice is not repeated


def test_the_same_facts_give_the_same_text(tmp_path: Path) -> None:
    texts = []
    for run in range(2):
        database = Database.open(database_path(tmp_path / f"run{run}"))
        s = Scenario(database)
        s.feed("pm2", pm2(api={}))
        s.feed("memory", memory(90), times=3)
        s.feed("memory", memory(60), every=MIN, times=5)
        texts.append(s.only().summary)
        database.close()
    assert texts[0] == texts[1]
    assert len(texts[0].splitlines()) == 5


def test_an_operators_own_rule_reads_plainly_and_no_log_source_is_no_error_rate(
    database: Database,
) -> None:
    own = {
        "rules": [{"name": "root_nearly_full", "sampler": "disk", "op": ">", "threshold": 70,
                   "metric": "mounts.{mount}.used_percent", "type": "disk"}]
    }  # fmt: skip
    s = Scenario(database, Config.model_validate(own))
    s.feed("logs", {"platform": {"1m": {"server_errors_per_min": 0}}, "sources": {}})
    s.feed("disk", disk(72.5), times=3)
    assert lines(s)[:2] == [
        "root_nearly_full: used_percent at 72 % (mount /); fires > 70 % since 14:00.",
        "Customers: no impact seen yet; no error rate read yet.",
    ]


class ClearsNothing(ScriptedExecutor):
    """clear_temp succeeds, as the real one does on a dir with no old files."""

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome:
        super().request(request, now)
        return ActionOutcome(OutcomeStatus.SUCCEEDED, "removed 0 files (0 bytes) from /srv/tmp")


def test_a_clear_that_freed_nothing_says_so(database: Database) -> None:
    s = Scenario(database, executor=ClearsNothing())
    s.feed("disk", disk(86), times=3)
    assert lines(s)[2] == (
        "Done: cleared old temp uploads at 14:00; done (removed 0 files (0 bytes) from /srv/tmp)."
    )


def test_an_app_crashing_while_pm2_restarts_it_is_one_app_incident_pointing_at_its_log(
    database: Database,
) -> None:
    """The crash loop and the health check it fails (straight to the app's port) are one
    problem, typed app, not network: nothing is reloaded or restarted, and the next step
    is the app's error log."""
    s = Scenario(database)
    s.feed("pm2", pm2(api={"restart_increase": 3, "crash_loop": "restarting"}))
    s.feed("http", http(health=check("connection_refused", via_nginx=False)), times=3)
    (incident,) = s.incidents()
    assert (incident.type, incident.fingerprint) == ("app", "app:app=api")
    assert s.executor.requests == []
    assert lines(s) == [
        "PM2 app `api` restarted 3 times in 5 min since 14:00. "
        "Likely app: crashing while PM2 restarts it: api.",
        "Customers: major outage, investigating: health check `health` failing; "
        "affected: all traffic.",
        "Done: nothing yet.",
        "Not done: no safe action fits (`api` crashes while PM2 restarts it: another restart "
        "would not help).",
        "Now: open, critical; watching.",
        "Next: read app `api`'s error log (pm2 logs api --err) and fix what makes it fail "
        "(recommendation #1). Runbook: calmopsd runbook app.",
    ]


def test_an_errored_app_is_restarted_and_the_health_check_it_broke_is_the_same_incident(
    database: Database,
) -> None:
    s = Scenario(database)
    s.feed("pm2", pm2(api={"status": "errored", "crash_loop": "errored"}))
    s.feed("http", http(health=check("connection_refused", via_nginx=False)), times=3)
    assert [(i.type, i.fingerprint) for i in s.incidents()] == [("app", "app:app=api")]
    assert [(r.action.value, r.params) for r in s.executor.requests] == [
        ("pm2_restart", {"app": "api"})
    ]


def test_the_headline_shows_the_figure_as_last_read_and_its_peak(database: Database) -> None:
    """Not frozen at the breach: the figure follows the readings, and the worst it reached
    stays in the line once it comes down."""
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("memory", memory(90), times=3)
    assert lines(s)[0] == "Memory at 90 % on the host since 14:00 (threshold 85 %)."
    s.feed("memory", memory(99.5))
    assert lines(s)[0] == "Memory at 100 % on the host since 14:00 (threshold 85 %)."
    s.feed("memory", memory(88))
    assert lines(s)[0] == ("Memory at 88 % on the host since 14:00 (threshold 85 %; peak 100 %).")
    s.feed("memory", memory(60), every=MIN, times=17)
    # Resolved: told by the worst it reached, not by the calm reading that ended it.
    assert s.only().status is IncidentStatus.RESOLVED
    assert lines(s)[0] == (
        "Memory at 100 % on the host since 14:00 (threshold 85 %; last read 60 %)."
    )


def test_an_agent_after_a_restart_keeps_the_peak_the_stored_readings_hold(
    database: Database,
) -> None:
    """Found by a tester: after a reload the headline said "peak 38 %" under a current
    60 %; the worst reached lived in the previous agent's memory only."""
    s = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"))
    s.feed("memory", memory(90), times=3, stored=True)
    s.feed("memory", memory(99.5), stored=True)
    s.feed("memory", memory(88), stored=True)
    assert lines(s)[0] == "Memory at 88 % on the host since 14:00 (threshold 85 %; peak 100 %)."
    again = Scenario(database, executor=ScriptedExecutor(pm2_restart="refused"), start=s.now)
    again.feed("memory", memory(87), stored=True)
    # As without the restart: 87 is too near the 88 shown to rewrite the line.
    assert lines(again)[0] == (
        "Memory at 88 % on the host since 14:00 (threshold 85 %; peak 100 %)."
    )
    again.feed("memory", memory(99), stored=True)
    assert lines(again)[0] == (
        "Memory at 99 % on the host since 14:00 (threshold 85 %; peak 100 %)."
    )


def test_an_app_port_that_does_not_answer_points_at_the_app_behind_the_check(
    database: Database,
) -> None:
    """Found by the fault harness: the next step named a literal `<app>`."""
    s = Scenario(database)
    s.feed("pm2", pm2(api={}))
    s.feed("http", http(web=check("connection_refused", via_nginx=False)), times=3)
    (incident,) = s.incidents()
    assert (incident.type, s.executor.requests) == ("app", [])
    assert lines(s)[-1] == (
        "Next: read the error log of the app behind health check `web` (pm2 logs APP --err) "
        "(recommendation #1). Runbook: calmopsd runbook app."
    )


def test_a_failing_health_check_is_its_own_incidents_impact_not_every_incidents(
    database: Database,
) -> None:
    """Found by a tester: while `web` failed (its own incident open), a disk incident and a
    memory incident each told "major outage … health check web failing", and each drafted
    an outage notice of its own for customers."""
    s = Scenario(database)
    s.feed("http", http(web=502), times=3)
    s.feed("disk", disk(97, hours_until_full=2), times=3)
    s.feed("http", http(web=502))  # the next round refreshes both
    web, full = s.incidents()
    assert (web.type, full.type) == ("network", "disk")
    assert web.impact["health_failing"] == ["web"]
    assert full.impact["health_failing"] == [] and not full.impact["seen"]
    assert "health check" not in full.summary
