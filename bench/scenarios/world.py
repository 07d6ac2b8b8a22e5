"""One scenario's world: a temp dir, PM2 with its apps, the dependency, maybe nginx, the
real daemon on a short-interval config, and read-only looks at its store."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from apps import Listener, ProxyNginx, start_web, start_worker
from support.nginx import free_port
from support.pm2 import Pm2
from support.process import DaemonProcess, calmopsd, clean_env
from traffic import Traffic

from calmopsd.config.rules import shipped_rules
from calmopsd.record.keyframes import Decoder

T = TypeVar("T")
FAST = "500ms"
CLEAR = "3s"

RULES: list[dict[str, Any]] = [
    {"name": "health_check_failing", "sampler": "http", "metric": "checks.{check}.up",
     "op": "==", "threshold": False, "for": 2, "clear_for": CLEAR, "severity": "critical",
     "type": "network"},
    {"name": "pm2_app_errored", "sampler": "pm2", "metric": "apps.{app}.status", "op": "==",
     "threshold": "errored", "for": 1, "clear_for": CLEAR, "severity": "critical",
     "type": "app"},
    {"name": "pm2_app_not_online", "sampler": "pm2", "metric": "apps.{app}.status",
     "op": "!=", "threshold": "online", "for": 3, "clear_for": CLEAR, "type": "app"},
    {"name": "pm2_app_restarting", "sampler": "pm2", "metric": "apps.{app}.restart_increase",
     "op": ">=", "threshold": 3, "for": 1, "sum_over": "20s", "clear_for": CLEAR,
     "type": "app"},
    {"name": "dependency_down", "sampler": "dependencies", "metric": "probes.{probe}.up",
     "op": "==", "threshold": False, "for": 2, "clear_for": CLEAR, "severity": "critical",
     "type": "dependency"},
    {"name": "app_memory", "sampler": "pm2", "metric": "apps.{app}.memory_bytes", "op": ">",
     "threshold": 300_000_000, "for": 2, "clear_for": CLEAR, "type": "memory"},
]  # fmt: skip

# The shipped disk and log rules as the working tree ships them (shipped_rules(): levels,
# hysteresis, volumes), with shorter holds: disk rules `for` 3 readings (500 ms apart),
# `clear_for` 3s; log rules `for` 3 fresh minute windows as shipped (lowered per
# scenario only where it says so), `clear_for` 1m instead of 15m.
LOG_CLEAR = "1m"


def shipped(sampler: str, hold: int, clear_for: str) -> list[dict[str, Any]]:
    rules = []
    for rule in shipped_rules():
        if rule.sampler == sampler:
            listed = rule.model_dump(by_alias=True, exclude_defaults=True)
            rules.append({**listed, "for": hold, "clear_for": clear_for})
    return rules


def host_rules(log_hold: int = 3) -> list[dict[str, Any]]:
    return [*RULES, *shipped("disk", 3, CLEAR), *shipped("logs", log_hold, LOG_CLEAR)]


class Timeout(Exception):
    """The scenario ran past its hard timeout."""


def wait_for(check: Callable[[], T | None], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:  # an empty list is still waiting
            return found
        if time.monotonic() > deadline:
            raise Timeout(f"no {what} within {timeout:.0f}s")
        time.sleep(0.2)


class World:
    """Everything one scenario starts; :meth:`close` stops all of it."""

    def __init__(self, tmp: Path, nginx: bool = False):
        self.tmp = tmp
        self.state = tmp / "state"
        self.db = self.state / "calmopsd.db"
        self.pm2 = Pm2(tmp / "pm2")
        self.web_port = free_port()
        self.listener = Listener(free_port())
        self.nginx: ProxyNginx | None = ProxyNginx(tmp / "nginx", self.web_port) if nginx else None
        self.daemon: DaemonProcess | None = None
        self.fault_at: datetime | None = None
        self.next_lines: dict[int, list[str]] = {}
        self._watching = True
        self.verify_rc: int | None = None
        self.by_hand = ""  # what the scenario did as a person would
        self.notes: list[str] = []  # what else the scenario saw, for its row
        self.deploy_window = "0s"  # each scenario starts its apps just before the daemon
        self.logs: dict[str, Any] | None = None  # a logs: section; None: logs off
        self.log_hold = 3
        self.disk: Path | None = None  # a mount the disk sampler watches; None: disk off
        self.temp_dir: Path | None = None  # clear_temp's allowlisted dir on that mount
        self.traffic: Traffic | None = None
        self.cleanups: list[Callable[[], None]] = []  # run by close(), last first

    # -- set-up ------------------------------------------------------------------------

    def start(self, web_mode: str = "run", **web_spec: object) -> None:
        self.pm2.start_daemon()
        self.web = start_web(self.pm2, self.web_port, web_mode, **web_spec)
        self.worker = start_worker(self.pm2)
        self.listener.open()
        if self.nginx is not None:
            self.nginx.start()

    def health_url(self) -> str:
        if self.nginx is not None:
            return f"http://127.0.0.1:{self.nginx.port}/health"
        return f"http://127.0.0.1:{self.web_port}/health"

    def config(self) -> dict[str, Any]:
        actions: dict[str, Any] = {"mode": "enforce", "timeout": "20s"}
        if self.nginx is not None:
            actions = self.nginx.actions_config()
            actions["nginx_reload"] = {"cooldown": "1s"}
        actions["pm2_restart"] = {"apps": ["web"], "cooldown": "1s"}
        actions["pause_jobs"] = {"apps": ["worker"], "cooldown": "1s", "ttl": "20s"}
        if self.temp_dir is not None:
            actions["clear_temp"] = {"dirs": [str(self.temp_dir)], "cooldown": "1s"}
        check = {"name": "web", "url": self.health_url(), "timeout": "1s"}
        check["through_nginx"] = self.nginx is not None
        disk: dict[str, Any] = {"enabled": False}
        if self.disk is not None:
            disk = {"interval": FAST, "mounts": [str(self.disk)], "fill_rate_window": "20s"}
        return {
            "state_dir": str(self.state),
            "log": {"level": "info", "format": "json"},
            "api": {"enabled": False},
            "logs": self.logs or {"enabled": False},
            "rules": host_rules(self.log_hold),
            "incidents": {"deploy_window": self.deploy_window, "monitor_for": "5s", "tick": "1s"},
            "actions": actions,
            "sensing": {
                "memory": {"enabled": False},
                "disk": disk,
                "pm2": {"home": str(self.pm2.home), "interval": FAST, "timeout": "10s"},
                "http": {"interval": FAST, "checks": [check]},
                "dependencies": {
                    "interval": FAST,
                    "probes": [{"name": "db", "host": "127.0.0.1", "port": self.listener.port,
                                "timeout": "500ms"}],
                },
            },
        }  # fmt: skip

    def start_daemon(self) -> None:
        path = self.tmp / "calmops.yaml"
        path.write_text(json.dumps(self.config(), indent=2) + "\n", encoding="utf-8")
        self.daemon = DaemonProcess("--config", str(path), env=clean_env())
        self.daemon.wait_for("daemon.ready", timeout=30)
        threading.Thread(target=self._watch, daemon=True).start()

    def kill9_daemon(self) -> None:
        if self.daemon is None:
            raise Timeout("no daemon to kill")
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.proc.wait(timeout=10)

    def fault(self) -> None:
        self.fault_at = datetime.now(UTC)

    # -- the store, read-only ----------------------------------------------------------

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def incidents(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT id, organization_id, type, status, opened_at, resolved_at, summary,"
            " resolution FROM incidents ORDER BY id"
        )
        keys = ("id", "org", "type", "status", "opened_at", "resolved_at", "summary", "resolution")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def actions(self) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT incident_id, action, status, outcome FROM incident_actions ORDER BY id"
        )
        return [
            {"incident": i, "action": a, "status": s, "outcome": json.loads(o)}
            for i, a, s, o in rows
        ]

    def event_kinds(self, *kinds: str) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(kinds))
        rows = self.query(
            f"SELECT incident_id, kind, at, data FROM incident_events WHERE kind IN ({marks})"
            " ORDER BY seq",
            *kinds,
        )
        return [{"incident": i, "kind": k, "event_at": at, **json.loads(d)} for i, k, at, d in rows]

    def snapshots(self, sampler: str) -> list[dict[str, Any]]:
        """Every stored reading of ``sampler``'s values, oldest first."""
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute(
                "SELECT id, base, readings FROM health_snapshots WHERE sampler = ? AND ok = 1 "
                "ORDER BY id",
                [sampler],
            ).fetchall()
            decoder = Decoder(conn)  # rows are changes against keyframes (issue 16)
            return [decoder.readings(*row) for row in rows]
        finally:
            conn.close()

    def samplers_seen(self) -> set[str]:
        return {s for (s,) in self.query("SELECT DISTINCT sampler FROM health_snapshots")}

    def first_incident(self, timeout: float) -> dict[str, Any]:
        return wait_for(lambda: (self.incidents() or [None])[0], "incident", timeout)

    def resolved(self, incident_id: int, timeout: float) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            found = [i for i in self.incidents() if i["id"] == incident_id]
            return found[0] if found and found[0]["status"] == "resolved" else None

        return wait_for(done, f"incident {incident_id} resolved", timeout)

    def _watch(self) -> None:
        """Keep each Next: line an unresolved incident showed (a resolved one says none)."""
        while self._watching:
            for incident in self.incidents():
                if incident["status"] != "resolved":
                    for line in incident["summary"].splitlines():
                        seen = self.next_lines.setdefault(incident["id"], [])
                        if line.startswith("Next:") and line not in seen:
                            seen.append(line)
            time.sleep(0.1)

    def verify_audit(self) -> int:
        done = calmopsd("verify-audit", "--state-dir", str(self.state))
        self.verify_rc = done.returncode
        return done.returncode

    # -- clean-up ----------------------------------------------------------------------

    def close(self) -> list[str]:
        """Stop everything; what was left running (should be nothing)."""
        self._watching = False
        if self.traffic is not None:
            self.traffic.stop()
        if self.daemon is not None and self.daemon.proc.poll() is None:
            self.daemon.proc.send_signal(signal.SIGTERM)
            try:
                self.daemon.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # one that will not stop is killed
                self.daemon.stop()
        self.listener.close()
        if self.nginx is not None:
            self.nginx.stop()
        self.pm2.kill()
        for cleanup in reversed(self.cleanups):
            cleanup()
        left = [f"pm2 pid {p.pid}" for p in self.pm2.leftovers()]
        if self.nginx is not None:
            left += [f"nginx pid {p.pid}" for p in self.nginx.leftovers()]
        return left
