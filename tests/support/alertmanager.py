"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on loopback, the webhook
receiver it routes to, and incidents in a real store: for the fleet tests."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
import requests

from calmopsd.model import Incident, IncidentStatus, IncidentType, Severity
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, get_incident, open_incident
from calmopsd.record.scope import Scope

BINARY = "/usr/bin/prometheus-alertmanager"
PLATFORM = Scope.platform()
T = TypeVar("T")

CONFIG = """\
route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}
        send_resolved: true
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(check: Callable[[], T], timeout: float = 10.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what or check}")
        time.sleep(0.05)


class Hook:
    """The webhook receiver Alertmanager notifies: every body it was sent, in order."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def notified(self, incident_id: int, host: str, status: str) -> list[dict[str, Any]]:
        """The alerts of ``incident_id`` on ``host`` notified with ``status``."""
        return [
            alert
            for body in self.received
            for alert in body["alerts"]
            if alert["labels"].get("host") == host
            and alert["labels"].get("incident_id") == str(incident_id)
            and alert["status"] == status
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Alertmanager:
    """One ``prometheus-alertmanager`` process on a loopback port, gossip off."""

    def __init__(self, directory: Path, port: int, hook: str):
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "am.yml"
        config.write_text(CONFIG.format(hook=hook), encoding="utf-8")
        self.url = f"http://127.0.0.1:{port}"
        self.log = (directory / "am.log").open("w")
        self.proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config}",
                f"--storage.path={directory}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        eventually(self._ready, timeout=15, what="alertmanager /-/ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"alertmanager exited {self.proc.returncode}: see {self.log.name}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def alerts(self, host: str) -> list[dict[str, Any]]:
        """The active alerts with this host label, by incident_id."""
        matcher = quote(f'host="{host}"')
        response = requests.get(f"{self.url}/api/v2/alerts?filter={matcher}", timeout=5)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return sorted(found, key=lambda alert: int(alert["labels"]["incident_id"]))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.log.close()


def start_alertmanager(directory: Path, hook: Hook, port: int | None = None) -> Alertmanager:
    if not Path(BINARY).exists():
        pytest.skip(f"{BINARY} is not installed (make system-deps installs it)")
    return Alertmanager(directory, port or free_port(), hook.url)


def incident(
    database: Database,
    at: datetime,
    *,
    type: IncidentType = IncidentType.MEMORY,
    severity: Severity = Severity.WARNING,
    organization: str | None = None,
    resource: str = "host",
    title: str = "memory at 93 %",
) -> Incident:
    return open_incident(
        database, PLATFORM, organization_id=organization, fingerprint=f"{type}:{resource}",
        type=type, severity=severity, title=title, at=at, actor="calmopsd",
    )  # fmt: skip


def resolve(database: Database, incident_id: int, at: datetime) -> Incident:
    assert change_status(
        database, PLATFORM, incident_id, expected=IncidentStatus.OPEN,
        new=IncidentStatus.RESOLVED, at=at, actor="dana", resolution="manual",
    )  # fmt: skip
    resolved = get_incident(database, PLATFORM, incident_id)
    assert resolved is not None
    return resolved
