"""SIGKILL the real daemon in the middle of a real action, then start it again on the same
state directory: nothing is left ``stabilizing``, the audit chain verifies, each cut-off
intent is recorded ``action.interrupted`` once, and it still counts against the budget.

The actions are made slow in a real way, so the kill lands inside them every time:

- PM2: the apps run with ``wait_ready``, so ``pm2 restart`` blocks and the app stays
  ``launching`` until it sends ``ready`` — here 3 s after it starts; pm2_restart's
  verification then waits for it to be online with a new pid.
- nginx: the master is held with SIGSTOP before the daemon acts. ``nginx -t`` runs,
  ``nginx -s reload`` queues its SIGHUP, and nginx_reload's verification polls for new
  worker pids (up to 10 s) while the master cannot start them — a master slow to apply
  its configuration. It is continued after the kill and applies the reload then.

The test kills the daemon as soon as the store shows the ``action.intent`` with no
``action.executed`` after it (read-only polls with deadlines), and checks after it
exited that no result was written: the action really was cut short.

Each iteration is a new incident (a new PM2 app, a new health check), so the daemon
acts at once at its next start instead of replanning at a later tick.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from support.nginx import Nginx, running_nginx
from support.pm2 import Pm2, wait_for
from support.process import DaemonProcess, calmopsd, clean_env, write_config

from calmopsd.record.actions import runs_since
from calmopsd.record.audit import verify_file
from calmopsd.record.codec import decode_time
from calmopsd.record.database import Database, database_path

KILLS = 5
READY_AFTER_MS = 3000  # how long a restarted app stays `launching`
INTERRUPTED_WORDS = "was interrupted: calmopsd stopped while it ran"

# Reads ./ready_after_ms at start, then tells PM2 (wait_ready) it is ready that much later.
SLOW_APP_JS = """\
const fs = require('fs');
const path = require('path');
let delay = 0;
try { delay = parseInt(fs.readFileSync(path.join(__dirname, 'ready_after_ms'), 'utf8'), 10) || 0; }
catch (e) {}
setTimeout(() => { if (process.send) process.send('ready'); }, delay);
setInterval(() => {}, 1000);
"""


# -- the store, read-only, while the daemon may be writing it --------------------------


def query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of one read-only query; none while the database does not exist yet."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def events(db: Path, kind: str, incident_id: int | None = None) -> list[dict[str, Any]]:
    rows = query(
        db,
        "SELECT seq, at, incident_id, data FROM incident_events WHERE kind = ?"
        " AND (? IS NULL OR incident_id = ?) ORDER BY seq",
        kind, incident_id, incident_id,
    )  # fmt: skip
    return [
        {"seq": seq, "at": at, "incident_id": iid, "data": json.loads(data)}
        for seq, at, iid, data in rows
    ]


def executed_after(db: Path, intent: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``action.executed`` events that answer ``intent`` (same incident, action, target)."""
    return [
        e
        for e in events(db, "action.executed", intent["incident_id"])
        if e["seq"] > intent["seq"]
        and (e["data"]["action"], e["data"]["target"])
        == (intent["data"]["action"], intent["data"]["target"])
    ]


def incident_status(db: Path, incident_id: int) -> tuple[str, str]:
    ((status, summary),) = query(
        db, "SELECT status, summary FROM incidents WHERE id = ?", incident_id
    )
    return str(status), str(summary)


def statuses(db: Path) -> dict[int, str]:
    return {int(i): str(s) for i, s in query(db, "SELECT id, status FROM incidents")}


# -- the daemon ------------------------------------------------------------------------


def start_daemon(config: Path, daemons: list[DaemonProcess]) -> DaemonProcess:
    daemon = DaemonProcess("--config", str(config), env=clean_env())
    daemons.append(daemon)
    daemon.wait_for("daemon.ready", timeout=30)
    return daemon


def kill_during_action(
    daemon: DaemonProcess, db: Path, target: str, after: int, under_way: Callable[[], bool]
) -> dict[str, Any]:
    """SIGKILL ``daemon`` once an intent on ``target`` (past seq ``after``) has no result
    and ``under_way`` says the host is in the middle of it; that intent. Fails if the
    action finished first."""

    def running() -> dict[str, Any] | None:
        for intent in events(db, "action.intent"):
            if intent["seq"] > after and intent["data"]["target"] == target:
                return intent if not executed_after(db, intent) and under_way() else None
        return None

    intent = wait_for(running, f"{target}: an action.intent and the action under way", 30)
    daemon.proc.send_signal(signal.SIGKILL)
    assert daemon.proc.wait(timeout=10) == -signal.SIGKILL
    assert executed_after(db, intent) == [], "the action ended before the kill"
    return intent


def check_resumed(db: Path, intent: dict[str, Any]) -> None:
    """After a restart: the intent got its ``action.interrupted`` and its incident is no
    longer ``stabilizing`` (polled with a deadline)."""
    incident_id = intent["incident_id"]

    def resumed() -> bool:
        recorded = [
            e
            for e in events(db, "action.interrupted")
            if e["data"].get("intent_seq") == intent["seq"]
        ]
        return bool(recorded) and incident_status(db, incident_id)[0] != "stabilizing"

    wait_for(resumed, f"incident {incident_id} resumed after the kill", timeout=30)
    moved = [
        e["data"]
        for e in events(db, "incident.status_changed", incident_id)
        if e["seq"] > intent["seq"]
    ]
    assert moved[0]["from"] == "stabilizing"
    assert moved[0]["to"] == "open"


def stop_daemon(daemon: DaemonProcess) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=15) == 0


def check_after_all(config: Path, db: Path, intents: list[dict[str, Any]]) -> None:
    """With the daemon stopped: the chain verifies, and one interrupted per intent."""
    verified = calmopsd("verify-audit", "--config", str(config))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit OK" in verified.stdout
    assert verify_file(db).ok
    interrupted = events(db, "action.interrupted")
    for intent in intents:
        of_intent = [e for e in interrupted if e["data"].get("intent_seq") == intent["seq"]]
        assert len(of_intent) == 1, (intent, of_intent)
        assert of_intent[0]["incident_id"] == intent["incident_id"]
        assert (of_intent[0]["data"]["action"], of_intent[0]["data"]["target"]) == (
            intent["data"]["action"],
            intent["data"]["target"],
        )
        # The executor's event says it for the incident: the agent adds no second one.
        of_incident = [e for e in interrupted if e["incident_id"] == intent["incident_id"]]
        assert len(of_incident) == 1, (intent, of_incident)
    assert "stabilizing" not in statuses(db).values()


def counted_runs(db: Path, action: str, target: str) -> list[datetime]:
    opened = Database.open(db)
    try:
        since = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
        return runs_since(opened, action, target, since)
    finally:
        opened.close()


def base_config(**sections: Any) -> dict[str, Any]:
    off = {"enabled": False}
    config: dict[str, Any] = {
        "state_dir": "state",
        "log": {"level": "info", "format": "json"},
        "api": {"enabled": False},
        "logs": off,
        "incidents": {"deploy_window": "0s", "flap_hold_growth": 1},
        "playbook": {
            "memory": [],
            "disk": [],
            "upload": [],
            "dependency": [],
            "deploy": [],
        },
    }
    config.update(sections)
    return config


def write_json_config(path: Path, config: dict[str, Any]) -> Path:
    return write_config(path, json.dumps(config, indent=2) + "\n")  # JSON is YAML


@pytest.fixture
def pm2(tmp_path: Path) -> Iterator[Pm2]:
    daemon = Pm2(tmp_path / "pm2")
    try:
        daemon.start_daemon()
        yield daemon
    finally:
        daemon.kill()
    wait_for(lambda: daemon.leftovers() == [], "no PM2 process left", timeout=15)


# -- PM2 ---------------------------------------------------------------------------------


def start_slow_app(pm2: Pm2, name: str) -> Path:
    app = pm2.app(name)
    app.script.write_text(SLOW_APP_JS, encoding="utf-8")
    ecosystem = app.dir / "ecosystem.json"
    spec = {"name": name, "script": str(app.script), "wait_ready": True, "listen_timeout": 20000}
    ecosystem.write_text(json.dumps({"apps": [spec]}), encoding="utf-8")
    pm2.run("start", str(ecosystem))
    pm2.wait_entries(name, lambda e: e[0]["pm2_env"]["status"] == "online", f"{name} online")
    (app.dir / "ready_after_ms").write_text(str(READY_AFTER_MS), encoding="utf-8")
    return app.dir


def pm2_config(pm2: Pm2, apps: list[str]) -> dict[str, Any]:
    off = {"enabled": False}
    return base_config(
        sensing={
            "memory": off, "disk": off, "http": off, "dependencies": off,
            "pm2": {"home": str(pm2.home), "interval": "500ms", "timeout": "20s"},
        },
        rules=[{
            "name": "app_stopped", "sampler": "pm2", "metric": "apps.{app}.status",
            "op": "==", "threshold": "stopped", "for": 1, "clear_for": "1s",
            "severity": "critical", "type": "network",
        }],
        playbook={**base_config()["playbook"], "network": ["pm2_restart"]},
        actions={
            "mode": "enforce", "timeout": "20s",
            "pm2_restart": {"apps": apps, "max_runs": 1, "window": "1h", "cooldown": "1s"},
        },
    )  # fmt: skip


def has_status(pm2: Pm2, name: str, status: str) -> bool:
    return [e["pm2_env"]["status"] for e in pm2.entries(name)] == [status]


def stop_app(pm2: Pm2, name: str) -> int:
    """``pm2 stop`` it (the breach); its pid before."""
    (before,) = pm2.wait_entries(
        name, lambda e: e[0]["pm2_env"]["status"] == "online", f"{name} online"
    )
    pm2.run("stop", name)
    pm2.wait_entries(name, lambda e: e[0]["pm2_env"]["status"] == "stopped", f"{name} stopped")
    return int(before["pid"])


def test_sigkill_during_real_pm2_restarts_leaves_every_incident_actionable_and_counted(
    tmp_path: Path, pm2: Pm2, daemons: list[DaemonProcess]
) -> None:
    apps = [f"slow{i}" for i in range(KILLS)]
    for name in apps:
        start_slow_app(pm2, name)
    config = write_json_config(tmp_path / "calmops.yaml", pm2_config(pm2, apps))
    db = database_path(tmp_path / "state")
    intents: list[dict[str, Any]] = []
    for name in apps:
        old_pid = stop_app(pm2, name)
        daemon = start_daemon(config, daemons)
        if intents:
            check_resumed(db, intents[-1])
        after = intents[-1]["seq"] if intents else 0
        launching = partial(has_status, pm2, name, "launching")  # PM2 is restarting it
        intents.append(kill_during_action(daemon, db, name, after, launching))
        # The restart the daemon asked for goes on without it: a real one, a new pid.
        (entry,) = pm2.wait_entries(
            name, lambda e: e[0]["pm2_env"]["status"] == "online", f"{name} back online"
        )
        assert int(entry["pid"]) not in (0, old_pid)
    assert [i["data"]["target"] for i in intents] == apps
    assert len({i["incident_id"] for i in intents}) == KILLS

    daemon = start_daemon(config, daemons)
    check_resumed(db, intents[-1])
    wait_for(lambda: "stabilizing" not in statuses(db).values(), "nothing stabilizing")
    # The first app's interrupted restart spent its budget (1 per hour): once its incident
    # recovered, stopping it again reopens the incident and the restart is refused.
    first = intents[0]["incident_id"]
    wait_for(lambda: incident_status(db, first)[0] == "resolved", "the first incident resolved")
    stop_app(pm2, apps[0])

    def refused() -> list[dict[str, Any]] | None:
        return events(db, "action.refused", first) or None

    (refusal,) = wait_for(refused, "the fourth restart refused", timeout=20)
    assert refusal["data"]["reason"] == "budget_spent"
    assert (
        refusal["data"]["detail"]
        == f"pm2_restart on {apps[0]} ran 1 times in the last 1h (budget 1)"
    )
    wait_for(lambda: incident_status(db, first)[0] == "open", "the reopened incident open")
    assert [e for e in events(db, "action.intent") if e["seq"] > intents[-1]["seq"]] == []
    stop_daemon(daemon)

    check_after_all(config, db, intents)
    for intent in intents:
        at = decode_time(intent["at"])
        assert counted_runs(db, "pm2_restart", intent["data"]["target"]) == [at]


# -- nginx -------------------------------------------------------------------------------


def nginx_config(pm2: Pm2, server: Nginx, check: str) -> dict[str, Any]:
    off = {"enabled": False}
    actions = server.actions_config()
    actions["nginx_reload"] = {"max_runs": KILLS, "window": "1h", "cooldown": "1s"}
    return base_config(
        sensing={
            "memory": off, "disk": off, "dependencies": off,
            "pm2": {"home": str(pm2.home), "interval": "500ms", "timeout": "20s"},
            # Through nginx, which answers 502: nginx shows the fault, so a reload fits.
            "http": {"interval": "500ms", "checks": [{
                "name": check, "url": f"http://127.0.0.1:{server.port}/bad-gateway",
                "timeout": "2s", "through_nginx": True,
            }]},
        },
        # Three readings: the PM2 reading (all apps online) is in before it fires.
        rules=[{
            "name": "check_down", "sampler": "http", "metric": "checks.{check}.up",
            "op": "==", "threshold": False, "for": 3,
            "severity": "critical", "type": "network",
        }],
        playbook={**base_config()["playbook"], "network": ["nginx_reload"]},
        actions=actions,
    )  # fmt: skip


def hup_pending(pid: int) -> bool:
    """A SIGHUP sent to process ``pid`` that it has not handled yet (it is stopped)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    pending = next(line for line in status.splitlines() if line.startswith("ShdPnd:"))
    return bool(int(pending.split()[1], 16) & (1 << (signal.SIGHUP - 1)))


def replaced(server: Nginx, old: set[int]) -> bool:
    """Serving workers again, none of them one of ``old``."""
    current = server.workers()
    return bool(current) and current.isdisjoint(old)


def test_sigkill_during_real_nginx_reloads_leaves_every_incident_actionable_and_counted(
    tmp_path: Path, pm2: Pm2, daemons: list[DaemonProcess]
) -> None:
    web = pm2.app("web")
    pm2.start(web)
    pm2.wait_entries("web", lambda e: e[0]["pm2_env"]["status"] == "online", "web online")
    config_path = tmp_path / "calmops.yaml"
    db = database_path(tmp_path / "state")
    intents: list[dict[str, Any]] = []
    with running_nginx(tmp_path / "nginx") as server:
        master = server.master_pid()
        for i in range(KILLS):
            write_json_config(config_path, nginx_config(pm2, server, f"site{i}"))
            workers = server.workers()
            os.kill(master, signal.SIGSTOP)
            try:
                daemon = start_daemon(config_path, daemons)
                if intents:
                    check_resumed(db, intents[-1])
                    assert INTERRUPTED_WORDS in incident_status(db, intents[-1]["incident_id"])[1]
                after = intents[-1]["seq"] if intents else 0
                signalled = partial(hup_pending, master)  # `nginx -s reload` has run
                intents.append(kill_during_action(daemon, db, "nginx", after, signalled))
            finally:
                os.kill(master, signal.SIGCONT)
            # The reload it signalled is applied once the master runs: new workers.
            wait_for(partial(replaced, server, workers), "new nginx workers")
            assert server.master_pid() == master
            assert server.get("/") == (200, "up")
        assert len({i["incident_id"] for i in intents}) == KILLS

        # One more failing check: its reload is refused, the five cut-off ones spent it.
        write_json_config(config_path, nginx_config(pm2, server, f"site{KILLS}"))
        workers = server.workers()
        daemon = start_daemon(config_path, daemons)
        check_resumed(db, intents[-1])

        def refused() -> list[dict[str, Any]] | None:
            return events(db, "action.refused") or None

        (refusal,) = wait_for(refused, "the sixth reload refused", timeout=20)
        assert refusal["data"]["reason"] == "budget_spent"
        assert refusal["data"]["detail"] == (
            f"nginx_reload on nginx ran {KILLS} times in the last 1h (budget {KILLS})"
        )
        wait_for(lambda: "stabilizing" not in statuses(db).values(), "nothing stabilizing")
        stop_daemon(daemon)
        assert server.workers() == workers  # nothing reloaded it
    for intent in intents:
        assert incident_status(db, intent["incident_id"])[0] == "open"
        # Its check is gone from the config: no reading says it still fires, so the agent
        # does not plan for it again (on stale pre-crash state, with no PM2 reading yet).
        assert events(db, "incident.held", intent["incident_id"]) == []
    assert INTERRUPTED_WORDS in incident_status(db, intents[-1]["incident_id"])[1]
    check_after_all(config_path, db, intents)
    at = [decode_time(i["at"]) for i in intents]
    assert counted_runs(db, "nginx_reload", "nginx") == at
    assert at[-1] - at[0] < timedelta(hours=1)
