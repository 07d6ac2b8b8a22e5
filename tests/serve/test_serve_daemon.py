"""The daemon serves the API: up with the scheduler, down at stop (well within 5 s), its own
token for the local CLI, health checks that really sample, tokens that follow a reload."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.record.audit import list_events
from calmopsd.record.scope import Scope
from calmopsd.sense import Planned
from calmopsd.serve.tokens import digest

PLATFORM = Scope.platform()
QUIET = "state_dir: state\nlog:\n  format: json\n"


class Counting:
    """A sampler that counts its rounds."""

    name = "memory"

    def __init__(self) -> None:
        self.rounds = 0

    def sample(self) -> dict[str, Any]:
        self.rounds += 1
        return {"used_percent": 20.0, "available_bytes": 1 << 30, "top_processes": []}


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.database is not None and daemon.scheduler.running:
            daemon.stop()


def start(tmp_path: Path, daemons: list[Daemon], api: str, *samplers: Any) -> Daemon:
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(QUIET + api)
    planned = [Planned(s, 60, 5) for s in samplers]
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: planned)
    daemons.append(daemon)
    daemon.start()
    return daemon


def wait_until(condition: Callable[[], bool], deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def api_of(daemon: Daemon) -> tuple[str, dict[str, str]]:
    assert daemon.serving is not None and daemon.serving.server is not None
    token = (daemon.config.state_dir / "api.token").read_text().strip()
    return f"{daemon.serving.server.url}/api/ops", {"Authorization": f"Bearer {token}"}


def test_the_api_answers_while_the_daemon_runs_and_its_port_is_closed_after_stop(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons, "api:\n  listen: 127.0.0.1:0\n")
    url, auth = api_of(daemon)
    token_file = daemon.config.state_dir / "api.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert requests.get(f"{url}/health", headers=auth, timeout=10).status_code == 200
    opened = requests.post(
        f"{url}/incidents",
        json={"title": "Payments slow", "type": "dependency", "severity": "warning"},
        headers={**auth, "X-Calmops-Actor": "dana"},
        timeout=10,
    )
    assert opened.status_code == 201
    assert daemon.database is not None
    (event,) = [e for e in list_events(daemon.database, PLATFORM) if e.kind == "incident.opened"]
    assert event.actor == "cli:dana"
    assert daemon.serving is not None and daemon.serving.server is not None
    port = daemon.serving.server.port
    began = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - began < 5.0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass
    assert not token_file.exists()


def test_a_health_check_through_the_api_runs_a_sampling_round(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    sampler = Counting()
    daemon = start(tmp_path, daemons, "api:\n  listen: 127.0.0.1:0\n", sampler)
    url, auth = api_of(daemon)
    wait_until(lambda: sampler.rounds == 1)  # the scheduled round at start
    checked = requests.post(f"{url}/incidents", json={"action": "health_check"}, headers=auth,
                            timeout=30)  # fmt: skip
    assert checked.status_code == 200
    assert sampler.rounds == 2
    body = checked.json()
    assert body["checked"] is True
    assert "memory" in [r["sampler"] for r in body["readings"]]
    assert requests.get(f"{url}/health?check=now", headers=auth, timeout=30).status_code == 200
    assert sampler.rounds == 3
    assert daemon.database is not None
    kinds = [e.kind for e in list_events(daemon.database, PLATFORM)]
    assert kinds.count("health.check_requested") == 2


def test_a_reload_applies_new_tokens_but_keeps_the_address_until_a_restart(
    tmp_path: Path, daemons: list[Daemon], capsys: pytest.CaptureFixture[str]
) -> None:
    first = f"  - {{name: ops, super_admin: true, role: viewer, sha256: {digest('first')}}}\n"
    daemon = start(tmp_path, daemons, "api:\n  listen: 127.0.0.1:0\n  tokens:\n" + first)
    url, _ = api_of(daemon)
    assert requests.get(f"{url}/health", headers=bearer("first"), timeout=10).status_code == 200
    second = f"  - {{name: ops, super_admin: true, role: viewer, sha256: {digest('second')}}}\n"
    (tmp_path / "calmops.yaml").write_text(
        QUIET + "api:\n  listen: 127.0.0.1:9\n  tokens:\n" + second
    )
    capsys.readouterr()
    daemon.reload()
    said = capsys.readouterr().out  # console lines until the reload applies format: json
    (line,) = [line for line in said.splitlines() if "config.restart_required" in line]
    assert "api.listen" in line
    assert requests.get(f"{url}/health", headers=bearer("first"), timeout=10).status_code == 401
    assert requests.get(f"{url}/health", headers=bearer("second"), timeout=10).status_code == 200
    assert daemon.config.api.listen == "127.0.0.1:0"
    assert daemon.stop() == 0  # while capsys's stream, which it logs to, is open
    daemons.clear()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_address_in_use_is_one_error_and_the_daemon_watches_on(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = start(tmp_path, daemons, f"api:\n  listen: 127.0.0.1:{port}\n")
        assert daemon.serving is not None and daemon.serving.server is None
        assert daemon.scheduler.running
        assert not (daemon.config.state_dir / "api.token").exists()
        assert daemon.database is not None
        (unavailable,) = [
            e for e in list_events(daemon.database, PLATFORM) if e.kind == "api.unavailable"
        ]
        assert unavailable.data["error"] == "Address already in use"
        assert daemon.stop() == 0
        daemons.clear()


def test_the_api_can_be_served_on_a_unix_socket_only(tmp_path: Path, daemons: list[Daemon]) -> None:
    path = tmp_path / "api.sock"
    daemon = start(tmp_path, daemons, f"api:\n  listen:\n  unix_socket: {path}\n")
    token = (daemon.config.state_dir / "api.token").read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(
            f"GET /api/ops/incidents HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.0 200")
    assert json.loads(body) == {"incidents": [], "next_cursor": None}
    assert daemon.stop() == 0
    daemons.clear()
    assert not path.exists()
