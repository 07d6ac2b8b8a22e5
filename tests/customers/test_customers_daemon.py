"""Customer messages with the real daemon and the real CLI: a draft appears for an incident
customers can see, `calmopsd messages approve` goes through the daemon's API, and the
daemon delivers it once to a real webhook; a leaking edit is refused with exit 2."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.process import DaemonProcess, clean_env, write_config
from support.receivers import Webhook, webhook

from calmopsd.record.database import Database, connect, database_path
from calmopsd.record.messages import MessageStatus, list_messages
from calmopsd.record.scope import Scope
from calmopsd.serve.message_routes import message_view


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook() as receiver:
        yield receiver


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calmopsd", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
    )  # fmt: skip


def started(config: Path) -> DaemonProcess:
    daemon = DaemonProcess("--config", str(config), env=clean_env())
    daemon.wait_for("daemon.ready")
    return daemon


def stopped(daemon: DaemonProcess) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=15) == 0


def test_a_draft_approved_through_the_cli_reaches_the_status_page_once(
    tmp_path: Path, hook: Webhook
) -> None:
    with socket.socket() as closed:  # a site that does not answer: nothing listens there
        closed.bind(("127.0.0.1", 0))
        site = f"http://127.0.0.1:{closed.getsockname()[1]}/health"
    config = write_config(
        tmp_path / "calmops.yaml",
        "state_dir: state\nlog:\n  format: json\napi:\n  listen: 127.0.0.1:0\n"
        "rule_defaults:\n  http:\n    for: 2\n"
        f"sensing:\n  pm2:\n    enabled: false\n  http:\n    interval: 1s\n"
        f"    checks:\n      - {{name: site, url: '{site}', timeout: 1s}}\n"
        f"customers:\n  channels:\n    - {{name: statuspage, url: '{hook.url('/status')}', "
        "audience: status_page}\n",
    )
    daemon = started(config)
    try:
        opened = daemon.first("incident.opened", timeout=30)
        message = daemon.first("customers.drafted", timeout=30)
        assert message["incident_id"] == opened["incident_id"]
        path = database_path(tmp_path / "state")
        reader = Database(path, connect(path, query_only=True))
        try:
            (found,) = list_messages(reader, Scope.platform(), status=MessageStatus.DRAFT)
        finally:
            reader.close()
        draft = message_view(found)
        assert (draft["phase"], draft["channel"], draft["component_status"]) == (
            "investigating", "status_page", "major_outage",
        )  # fmt: skip

        leaking = cli(config, "messages", "edit", str(draft["id"]), "--text",
                      f"The server at 127.0.0.1:{hook.port} is down.")  # fmt: skip
        assert leaking.returncode == 2, leaking
        assert "not customer-safe" in leaking.stderr
        approved = cli(config, "messages", "approve", str(draft["id"]), "--sha256",
                       draft["sha256"])  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert "approved" in approved.stdout
        deadline = time.monotonic() + 30
        while not hook.delivered() and time.monotonic() < deadline:
            time.sleep(0.05)
        (sent,) = hook.delivered()
        assert (sent.body["title"], sent.body["message"]) == ("Investigating", draft["text"])
        again = cli(config, "messages", "approve", str(draft["id"]), "--sha256",
                    draft["sha256"])  # fmt: skip
        assert again.returncode == 1  # approved once, never twice
        stopped(daemon)
    finally:
        daemon.stop()
    assert len(hook.received) == 1
    path = database_path(tmp_path / "state")
    reader = Database(path, connect(path, query_only=True))
    try:
        (final,) = list_messages(reader, Scope.platform())
        assert final.status.value == "sent" and final.decided_by and "cli:" in final.decided_by
    finally:
        reader.close()
