"""A reload onto an empty file keeps the running config; one onto a file that drops every
token or rule (cut off mid-write, or meant) is applied, with a loud config.reload_drops."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from support.process import DaemonProcess, calmopsd, clean_env, write_config

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.daemon.responding import TICK_JOB
from calmopsd.record.audit import list_events
from calmopsd.record.scope import Scope
from calmopsd.serve.tokens import digest

HEAD = "state_dir: state\nlog:\n  format: json\n"
RULES = (
    "rules:\n"
    "  - {name: hot, sampler: memory, metric: used_percent, op: '>', threshold: 90,"
    " type: memory}\n"
)
API = (
    "api:\n  listen: 127.0.0.1:0\n  tokens:\n"
    f"    - {{name: ops, super_admin: true, role: viewer, sha256: {digest('ops-secret')}}}\n"
    f"    - {{name: ci, super_admin: true, role: viewer, sha256: {digest('ci-secret')}}}\n"
)
EMPTY_PROBLEM = (
    "the config is empty (no keys: an empty file, only comments, or null): refused, because "
    "running on all defaults would revoke every API token and reset the rules; to run on "
    "the defaults, set one key, e.g. state_dir: /var/lib/calmopsd"
)


def status_with(url: str, token: str) -> int:
    answer = requests.get(f"{url}/api/ops/health", headers={"Authorization": f"Bearer {token}"},
                          timeout=10)  # fmt: skip
    return answer.status_code


def test_sighup_onto_an_emptied_file_keeps_every_token_and_rule_in_force(
    tmp_path: Path,
) -> None:
    config_file = write_config(tmp_path / "calmops.yaml", HEAD + RULES + API)
    daemon = DaemonProcess("--config", str(config_file), env=clean_env())
    try:
        daemon.wait_for("daemon.ready")
        url = json.loads((tmp_path / "state" / "api.address").read_text())["url"]
        assert status_with(url, "ops-secret") == 200
        write_config(config_file, "")  # what a write cut off at its first byte leaves
        daemon.proc.send_signal(signal.SIGHUP)
        failed = daemon.wait_for("config.reload_failed")
        assert failed["errors"] == [f"{config_file}: {EMPTY_PROBLEM}"]
        assert status_with(url, "ops-secret") == 200  # not revoked
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=10) == 0
    finally:
        daemon.stop()
    verified = calmopsd("verify-audit", "--state-dir", str(tmp_path / "state"))
    assert "audit OK: 3 events verified" in verified.stdout  # started, rejected, stopped


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.database is not None and daemon.scheduler.running:
            daemon.stop()


def start(config_file: Path, daemons: list[Daemon]) -> Daemon:
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: [])
    daemons.append(daemon)
    daemon.start()
    return daemon


def reload_logs(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    daemon.reload()  # once applied, it logs JSON lines (before that, console ones)
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_file_cut_off_before_its_rules_is_applied_and_said_loudly(
    tmp_path: Path, daemons: list[Daemon], capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = write_config(tmp_path / "calmops.yaml", HEAD + RULES + API)
    daemon = start(config_file, daemons)
    assert daemon.serving is not None and daemon.serving.server is not None
    url = daemon.serving.server.url
    assert url is not None
    write_config(config_file, HEAD)  # cut off after the head: still valid YAML
    logs = reload_logs(daemon, capsys)
    (warning,) = [e for e in logs if e["event"] == "config.reload_drops"]
    assert (warning["level"], warning["dropped"]) == ("warning", [
        "api.tokens: every API token (2: ops, ci); only the local CLI's is left",
        "rules: every rule of your own (1: hot); the shipped rules apply instead",
        "api: every setting of the section; its defaults apply instead",
    ])  # fmt: skip
    assert status_with(url, "ops-secret") == 401  # applied: an operator may mean it
    assert [rule.name for rule in daemon.config.detection_rules()][:2] == [
        "memory_used",
        "disk_used",
    ]
    assert daemon.database is not None
    reloaded = list_events(daemon.database, Scope.platform())[-1]
    assert (reloaded.kind, reloaded.data["dropped"]) == ("config.reloaded", warning["dropped"])
    write_config(config_file, HEAD + "rules:\n  - {name: hot, sampl")  # cut mid-rule: broken
    assert [e["event"] for e in reload_logs(daemon, capsys) if e["level"] != "info"] == [
        "config.reload_failed"
    ]
    assert daemon.stop() == 0  # while capsys's stream, which it logs to, is open
    daemons.clear()


def test_removing_one_of_two_tokens_is_an_ordinary_reload(
    tmp_path: Path, daemons: list[Daemon], capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = write_config(tmp_path / "calmops.yaml", HEAD + RULES + API)
    daemon = start(config_file, daemons)
    write_config(config_file, HEAD + RULES + API.rsplit("    - ", 1)[0])
    logs = reload_logs(daemon, capsys)
    assert [e["event"] for e in logs if e["level"] != "info"] == []
    assert [t.name for t in daemon.config.api.tokens] == ["ops"]
    assert daemon.database is not None
    assert list_events(daemon.database, Scope.platform())[-1].data["dropped"] == []
    assert daemon.stop() == 0
    daemons.clear()


def test_a_reload_keeps_the_rhythm_of_retention_and_the_tick(
    tmp_path: Path, daemons: list[Daemon], capsys: pytest.CaptureFixture[str]
) -> None:
    """A reload used to run both again at once, into one still going on a busy host."""
    config_file = write_config(tmp_path / "calmops.yaml", HEAD + RULES + API)
    daemon = start(config_file, daemons)
    deadline = time.monotonic() + 20  # until the first runs on start have been handed out
    while time.monotonic() < deadline:
        due = {job: daemon.scheduler.get_job(job).next_run_time for job in ("retention", TICK_JOB)}
        if min(due.values()) > datetime.now(UTC):
            break
        time.sleep(0.02)
    assert min(due.values()) > datetime.now(UTC), due
    write_config(config_file, HEAD + RULES + API + "incidents:\n  tick: 1h\n")
    assert [e["event"] for e in reload_logs(daemon, capsys) if e["level"] != "info"] == []
    after = {job: daemon.scheduler.get_job(job).next_run_time for job in due}
    assert after == due
    write_config(config_file, HEAD + RULES + API + "incidents:\n  tick: 5s\n")
    reload_logs(daemon, capsys)
    tick = daemon.scheduler.get_job(TICK_JOB).next_run_time
    assert tick <= due[TICK_JOB] and (tick - datetime.now(UTC)).total_seconds() <= 5
    assert daemon.stop() == 0
    daemons.clear()
