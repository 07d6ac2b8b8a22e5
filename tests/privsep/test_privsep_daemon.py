"""The whole daemon as it runs in production: as its unprivileged user, on a read-only
system but for its state directory, every part that runs in its own thread at work.

What runs, all real processes and servers on loopback:

- ``calmopsd run`` as ``calmopsd-test`` under ``setpriv --no-new-privs`` (User= and
  NoNewPrivileges=), with the unit's ``Environment=`` (Python's -OO among them: no
  docstrings, no asserts), in a mount namespace where ``/`` is read-only but the state dir
  (``unshare --mount`` and bind mounts: ProtectSystem=strict with a StateDirectory), its
  config root's, 0640, group the daemon's;
- a JSON app log, root's and world-readable, that the test writes to: counted by the
  compiled scanner, organizations and all;
- a health URL with a body check (the urllib3 health check);
- a webhook target for notices (the notifier, through apprise) and a real Alertmanager
  (the forwarder);
- the API on loopback, asked with the token the daemon wrote for its own user.

PrivateTmp= is not emulated: the test's world lives under /tmp, which the daemon user must
reach. The oracles: what the receivers got, ``/metrics``, the process's own ids, the state
dir's owners, and ``verify-audit`` after the stop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests
from privsep_support import DAEMON_USER, ensure_user, needs_root, read_only_but, write_config
from support.alertmanager import Alertmanager, Hook, eventually, start_alertmanager
from support.process import DaemonProcess, clean_env
from support.readings import Healthy
from support.receivers import webhook
from support.unit import unit_environment

pytestmark = needs_root

DEADLINE_S = 60
LINES = [  # flat JSON, as pino or a hand-rolled logger writes it; one error line too
    *(
        {"time": f"2026-12-07T10:00:0{i % 10}.000Z", "level": "info", "method": "GET",
         "url": f"/api/items/{i}", "status": 500 if i % 5 == 0 else 200,
         "org_id": "acme" if i % 2 else "globex"}
        for i in range(40)
    ),
    {"time": "2026-12-07T10:00:09.500Z", "level": "error", "msg": "db timeout"},
]  # fmt: skip


@pytest.fixture
def health() -> Iterator[str]:
    """A health URL answering 200 with ``{"db": "ok", ...}``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def alertmanager(world: Path) -> Iterator[tuple[Alertmanager, Hook]]:
    hook = Hook()
    running = start_alertmanager(world / "alertmanager", hook)
    try:
        yield running, hook
    finally:
        running.stop()
        hook.close()


def confined(state: Path, uid: int, gid: int) -> tuple[str, ...]:
    """The read-only root, then setpriv, each exec'ing the next: the daemon keeps the pid
    Popen knows."""
    return (
        *read_only_but(state), "setpriv", "--reuid", str(uid), "--regid", str(gid),
        "--init-groups", "--no-new-privs", "--",
    )  # fmt: skip


def mount_options(pid: int, point: str) -> list[str]:
    """The per-mount options of the mount at ``point`` as process ``pid`` sees it."""
    found: list[str] = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == point:
            found = fields[5].split(",")  # the last mount at a point is the one in force
    return found


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare is not installed")
def test_the_daemon_counts_checks_notifies_and_forwards_as_its_user_on_a_read_only_system(
    world: Path, health: str, alertmanager: tuple[Alertmanager, Hook]
) -> None:
    manager, _ = alertmanager
    user = ensure_user(DAEMON_USER)
    state = world / "state"
    state.mkdir(mode=0o700)
    os.chown(state, user.pw_uid, user.pw_gid)
    logs = world / "logs"
    logs.mkdir(mode=0o755)
    app_log = logs / "api-out.log"
    app_log.write_text("")
    app_log.chmod(0o644)
    host = "privsep-daemon"
    with webhook() as hook:
        config = write_config(
            world / "calmops.yaml",
            {
                "state_dir": str(state),
                "log": {"level": "info", "format": "json"},
                "api": {"listen": "127.0.0.1:0"},
                "notify": {"group_wait": "1s", "targets": [
                    {"name": "oncall", "url": hook.url("/oncall")}]},
                "alertmanager": {"url": manager.url, "interval": "1m", "host": host},
                "sensing": {
                    "pm2": {"enabled": False},
                    "dependencies": {"enabled": False},
                    "http": {"interval": "1s", "checks": [
                        {"name": "app", "url": health, "body": {"db": "ok"}}]},
                },
                "logs": {"interval": "1s", "start_at": "beginning", "apps": [
                    {"name": "api", "paths": [str(app_log)],
                     "fields": {"organization": "org_id"}}]},
            },
            group=user.pw_gid,
        )  # fmt: skip
        daemon = DaemonProcess(
            "--config", str(config),
            env=clean_env(  # as the unit runs it: PYTHONOPTIMIZE=2, its malloc settings
                **unit_environment(), HOME="/nonexistent", PYTHONPATH=str(Path(__file__).parents[2])
            ),
            wrap=confined(state, user.pw_uid, user.pw_gid),
        )  # fmt: skip
        try:
            ready = daemon.wait_for("daemon.ready", timeout=DEADLINE_S)
            assert ready["log_scanner"] == "compiled"
            running = psutil.Process(daemon.proc.pid)
            assert running.uids().real == running.uids().effective == user.pw_uid
            assert running.gids().real == user.pw_gid
            assert mount_options(daemon.proc.pid, "/")[0] == "ro"
            assert mount_options(daemon.proc.pid, str(state))[0] == "rw"

            with app_log.open("a", encoding="utf-8") as out:
                out.write("".join(json.dumps(line) + "\n" for line in LINES))
            address = json.loads((state / "api.address").read_text())["url"]
            token = (state / "api.token").read_text().strip()
            auth = {"Authorization": f"Bearer {token}"}

            def scraped() -> str:
                return requests.get(f"{address}/metrics", headers=auth, timeout=10).text

            def counted() -> str | None:
                text = scraped()
                done = metric(text, 'calmopsd_log_requests_total{source="api"}') == 40
                up = metric(text, 'calmopsd_http_check_up{check="app"}') == 1
                return text if done and up else None

            text = eventually(counted, DEADLINE_S, "the log's 40 requests counted and the check up")
            assert metric(text, 'calmopsd_log_server_errors_total{source="api"}') == 8
            assert metric(text, 'calmopsd_log_error_lines_total{source="api"}') == 1
            assert metric(text, 'calmopsd_log_parse_errors_total{source="api"}') == 0

            opened = requests.post(
                f"{address}/api/ops/incidents", headers=auth, timeout=10,
                json={"title": "uploads failing", "type": "upload", "severity": "critical",
                      "organization": "acme"},
            )  # fmt: skip
            assert opened.status_code == 201, opened.text
            number = int(opened.json()["id"])
            notices = eventually(
                lambda: [r for r in hook.delivered() if r.path == "/oncall"], DEADLINE_S, "notice"
            )
            assert (
                f"Incident #{number} (critical, upload, organization acme)"
                in (notices[0].body["title"])
            )
            alerts = eventually(lambda: manager.alerts(host), DEADLINE_S, "the alert")
            assert [a["labels"]["incident_id"] for a in alerts] == [str(number)]

            daemon.proc.send_signal(signal.SIGTERM)
            assert daemon.proc.wait(timeout=30) == 0
        finally:
            daemon.stop()

    owners = {p.name: (p.stat().st_uid, p.stat().st_mode & 0o777) for p in state.iterdir()}
    assert owners["calmopsd.db"] == (user.pw_uid, 0o600)
    assert owners["calmopsd.db.audit-head"] == (user.pw_uid, 0o600)
    verified = subprocess.run(
        [sys.executable, "-m", "calmopsd", "verify-audit", "--state-dir", str(state)],
        capture_output=True, text=True, timeout=60, check=False, env=clean_env(),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
