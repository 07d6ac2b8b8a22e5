"""Notifications in the real daemon process: an incident opened through its API reaches a
real webhook receiver, once, with apprise's own lines kept out of the journal; a reload
that adds a target is followed."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support.process import DaemonProcess, clean_env, write_config
from support.receivers import Received, Webhook, webhook


@pytest.fixture
def receiver() -> Iterator[Webhook]:
    with webhook() as hook:
        yield hook


def config(tmp_path: Path, *targets: str) -> Path:
    listed = "".join(f"\n    - {target}" for target in targets) or " []"
    return write_config(
        tmp_path / "calmops.yaml",
        "state_dir: state\nlog:\n  format: json\napi:\n  listen: 127.0.0.1:0\n"
        f"notify:\n  group_wait: 1s\n  targets:{listed}\n",
    )


def delivered(hook: Webhook, path: str, count: int, timeout: float = 30.0) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in hook.delivered() if r.path == path]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{count} notices at {path} not within {timeout}s: {hook.received}")


def open_incident(state: Path, **body: str) -> int:
    url = json.loads((state / "api.address").read_text())["url"]
    token = (state / "api.token").read_text().strip()
    answer = requests.post(
        f"{url}/api/ops/incidents",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_an_incident_reaches_a_real_webhook_once_and_a_reloaded_target_hears_the_next(
    tmp_path: Path, receiver: Webhook
) -> None:
    path = config(tmp_path, f"{{name: oncall, url: '{receiver.url('/oncall')}'}}")
    daemon = DaemonProcess("--config", str(path), env=clean_env())
    try:
        daemon.wait_for("daemon.ready")
        state = tmp_path / "state"
        first = open_incident(state, title="uploads failing", type="upload", severity="critical",
                              organization="acme")  # fmt: skip
        (notice,) = delivered(receiver, "/oncall", 1)
        assert f"Incident #{first} (critical, upload, organization acme)" in notice.body["title"]
        assert daemon.wait_for("notify.sent")["incident_id"] == first

        write_config(path, path.read_text().replace(
            "targets:", f"targets:\n    - {{name: acme, url: '{receiver.url('/acme')}', "
            "organization: acme}", 1))  # fmt: skip
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("config.reloaded")
        second = open_incident(state, title="api slow", type="network", severity="warning",
                               organization="acme")  # fmt: skip
        (to_acme,) = delivered(receiver, "/acme", 1)
        assert f"Incident #{second} " in to_acme.body["title"]
        assert len(delivered(receiver, "/oncall", 2)) == 2
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=15) == 0
    finally:
        daemon.stop()
    assert len(receiver.delivered()) == 3  # nothing twice
    told = "".join(daemon.raw) + (daemon.proc.stderr.read() if daemon.proc.stderr else "")
    assert f"127.0.0.1:{receiver.port}" not in told  # no URL in the journal, not apprise's
