"""/metrics, /-/healthy and /-/ready on a real daemon (in-process, its real store and API on
loopback): parsed with prometheus-client's own parser, values held to what the daemon read
and the store holds, reloads that fail, who may read /metrics."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from support.clock import ManualClock

from calmopsd.config import Config, load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.model import IncidentType, Reading, Severity
from calmopsd.record.audit import record_event
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import add_action, open_incident
from calmopsd.record.loads import Cadence
from calmopsd.record.scope import Scope
from calmopsd.sense import Planned
from calmopsd.serve.app import create_app
from calmopsd.serve.monitoring import Monitoring
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Tokens, digest
from calmopsd.serve.vitals import Vitals

PLATFORM = Scope.platform()
BASE = "state_dir: state\nlog:\n  format: json\n"
TOKENS = """\
api:
  listen: 127.0.0.1:0
  unix_socket: {socket}
  metrics: {access}
  tokens:
    - {{name: root-view, super_admin: true, role: viewer, sha256: {root}}}
    - {{name: acme-op, organization: acme, role: operator, sha256: {acme}}}
"""
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Memory:
    name = "memory"

    def sample(self) -> dict[str, Any]:
        return {"used_percent": 42.5, "total_bytes": 8 << 30, "available_bytes": 3 << 30,
                "swap_used_percent": 0.0, "swap_total_bytes": 0, "top_processes": []}  # fmt: skip


class Disk:
    name = "disk"

    def sample(self) -> dict[str, Any]:
        mount = {"used_percent": 91.0, "used_bytes": 91, "free_bytes": 9, "total_bytes": 100,
                 "inodes_used_percent": 3.0, "fill_bytes_per_hour": 7200,
                 "hours_until_full": 2.0}  # fmt: skip
        return {"mounts": {"/": mount, "/var": {"error": "gone"}}}


class Failing:
    name = "pm2"

    def sample(self) -> dict[str, Any]:
        raise RuntimeError("no PM2 here")


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.database is not None and daemon.scheduler.running:
            daemon.stop()


def start(tmp_path: Path, daemons: list[Daemon], access: str = "open_on_loopback") -> Daemon:
    config_file = tmp_path / "calmops.yaml"
    api = TOKENS.format(socket=tmp_path / "api.sock", access=access,
                        root=digest("secret-root"), acme=digest("secret-acme"))  # fmt: skip
    config_file.write_text(BASE + api)
    planned = [Planned(Memory(), 60, 5), Planned(Disk(), 30, 2), Planned(Failing(), 60, 1)]
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: planned)
    daemons.append(daemon)
    daemon.start()
    return daemon


def url_of(daemon: Daemon) -> str:
    assert daemon.serving is not None and daemon.serving.server is not None
    url = daemon.serving.server.url
    assert url is not None
    return url


def wait_until(condition: Callable[[], bool], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def parse(text: str) -> Series:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(daemon: Daemon, **kwargs: Any) -> Series:
    response = requests.get(url_of(daemon) + "/metrics", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def read_all(daemon: Daemon) -> Series:
    """A scrape once every sampler has a reading."""
    sensing = daemon.sensing
    assert sensing is not None
    wait_until(lambda: {"memory", "disk", "pm2"} <= set(sensing.latest))
    return scrape(daemon)


def test_every_reading_is_a_gauge_in_base_units_and_each_sampler_says_whether_it_worked(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons)
    series = read_all(daemon)
    assert series[("calmopsd_memory_used_percent", ())] == 42.5
    assert series[("calmopsd_memory_total_bytes", ())] == 8 << 30
    root = (("mount", "/"),)
    assert series[("calmopsd_disk_used_percent", root)] == 91.0
    assert series[("calmopsd_disk_fill_bytes_per_second", root)] == 2.0
    assert series[("calmopsd_disk_full_in_seconds", root)] == 7200.0
    assert ("calmopsd_disk_used_percent", (("mount", "/var"),)) not in series  # its error
    assert series[("calmopsd_sampler_success", (("sampler", "memory"),))] == 1.0
    assert series[("calmopsd_sampler_success", (("sampler", "pm2"),))] == 0.0
    assert series[("calmopsd_sampler_interval_seconds", (("sampler", "disk"),))] == 30.0
    assert 0 <= series[("calmopsd_sampler_age_seconds", (("sampler", "disk"),))] < 10
    assert not [name for name, _ in series if name.startswith("calmopsd_pm2_")]
    assert series[("calmopsd_config_last_reload_successful", ())] == 1.0
    assert series[("calmopsd_build_info", (("version", "0.1.0"),))] == 1.0
    assert {labels for name, labels in series if name == "calmopsd_scrape_collector_success"} \
        == {(("collector", c),) for c in ("build", "samplers", "readings", "incidents",
                                          "actions", "budgets", "audit", "config",
                                          "notices", "customer_messages",
                                          "alertmanager")}  # fmt: skip
    assert all(name.startswith("calmopsd_") for name, _ in series)


def test_incidents_actions_budgets_and_the_audit_head_are_what_the_store_holds(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons)
    database = daemon.database
    assert database is not None
    now = daemon.clock.now()
    opened = open_incident(
        database, Scope.organization("acme"), organization_id="acme", fingerprint="upload:acme",
        type=IncidentType.UPLOAD, severity=Severity.WARNING, title="uploads", at=now,
        actor="test",
    )  # fmt: skip
    for status in ("succeeded", "refused", "refused"):
        add_action(database, PLATFORM, opened.id, action="pm2_restart", params={},
                   status=status, at=now, actor="test")  # fmt: skip
    for target in ("api", "api", "web"):
        data = {"action": "pm2_restart", "target": target, "dry_run": False}
        record_event(database, PLATFORM, kind="action.intent", actor="test", at=now, data=data)
    series = scrape(daemon)
    org = (("organization", "acme"), ("severity", "warning"), ("status", "open"),
           ("type", "upload"))  # fmt: skip
    assert series[("calmopsd_incidents_open", org)] == 1.0
    assert series[("calmopsd_actions_total", (("action", "pm2_restart"), ("outcome", "refused")))] \
        == 2.0  # fmt: skip
    restart = (("action", "pm2_restart"),)
    # The budget is per target: api has had two of its three runs, web one.
    assert series[("calmopsd_action_budget_remaining_runs", restart)] == 1.0
    assert series[("calmopsd_action_budget_max_runs", restart)] == 3.0
    assert series[("calmopsd_action_budget_remaining_runs", (("action", "clear_temp"),))] == 4.0
    head = database.anchor.head
    assert head is not None
    assert series[("calmopsd_audit_head_sequence", ())] == head.seq
    assert not [labels for name, labels in series if any(k == "incident_id" for k, _ in labels)]


def test_a_reload_that_fails_reads_0_keeps_the_success_time_and_makes_it_unready(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons)
    url = url_of(daemon)
    read_all(daemon)
    before = scrape(daemon)[("calmopsd_config_last_reload_success_timestamp_seconds", ())]
    config_file = tmp_path / "calmops.yaml"
    good = config_file.read_text()
    config_file.write_text(good + "sensing: {memory: {interval: nonsense}}\n")
    daemon.reload()
    after = scrape(daemon)
    assert after[("calmopsd_config_last_reload_successful", ())] == 0.0
    assert after[("calmopsd_config_last_reload_success_timestamp_seconds", ())] == before
    ready = requests.get(url + "/-/ready", timeout=10)
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert {k: v == "ok" for k, v in checks.items()} == {
        "store": True, "scheduler": True, "readings": True, "config": False,
    }  # fmt: skip
    assert checks["config"].startswith("the reload at ")
    config_file.write_text(good)
    daemon.reload()
    again = scrape(daemon)
    assert again[("calmopsd_config_last_reload_successful", ())] == 1.0
    assert again[("calmopsd_config_last_reload_success_timestamp_seconds", ())] > before
    assert requests.get(url + "/-/ready", timeout=10).status_code == 200


def test_healthy_and_ready_need_no_token_and_other_paths_still_401_before_routing(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons)
    url = url_of(daemon)
    read_all(daemon)
    assert requests.get(url + "/-/healthy", timeout=10).json() == {"healthy": True}
    ready = requests.get(url + "/-/ready", timeout=10)
    assert (ready.status_code, ready.json()["ready"]) == (200, True)
    assert requests.head(url + "/-/ready", timeout=10).status_code == 200
    posted = requests.post(url + "/-/ready", timeout=10)
    assert (posted.status_code, posted.json()["error"]) == (405, "method_not_allowed")
    for path in ("/-/other", "/metrics/", "/api/ops/health", "/-/healthy/../api/ops/health"):
        assert requests.get(url + path, timeout=10).status_code == 401, path


def test_a_token_that_is_sent_is_checked_and_an_organization_token_finds_no_metrics(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons)
    url = url_of(daemon) + "/metrics"
    assert requests.get(url, timeout=10).status_code == 200
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")
    acme = requests.get(url, headers={"Authorization": "Bearer secret-acme"}, timeout=10)
    assert (acme.status_code, acme.json()["error"]) == (404, "not_found")
    root = requests.get(url, headers={"Authorization": "Bearer secret-root"}, timeout=10)
    assert root.status_code == 200 and "calmopsd_build_info" in root.text


def test_with_metrics_token_loopback_needs_a_super_admin_token_too(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = start(tmp_path, daemons, access="token")
    url = url_of(daemon) + "/metrics"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer secret-acme"},
                        timeout=10).status_code == 404  # fmt: skip
    series = scrape(daemon, headers={"Authorization": "Bearer secret-root"})
    assert series[("calmopsd_build_info", (("version", "0.1.0"),))] == 1.0
    ready = requests.get(url_of(daemon) + "/-/ready", timeout=10)
    assert ready.status_code != 401 and set(ready.json()["checks"]) == {
        "store", "scheduler", "readings", "config"
    }  # fmt: skip


def test_the_unix_socket_counts_as_this_host(tmp_path: Path, daemons: list[Daemon]) -> None:
    start(tmp_path, daemons)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect(str(tmp_path / "api.sock"))
        client.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.0 200 OK"
    assert ("calmopsd_audit_head_sequence", ()) in parse(body.decode())


def test_readings_that_stop_coming_make_it_unready_naming_the_sampler(tmp_path: Path) -> None:
    clock = ManualClock()
    database = Database.open(database_path(tmp_path / "state"))
    old = clock.now() - timedelta(seconds=191)
    latest = {"memory": Reading("memory", old, True, 1.0, {"used_percent": 1.0}),
              "disk": Reading("disk", clock.now(), True, 1.0, {})}  # fmt: skip
    running = [True]
    vitals = Vitals(
        latest=lambda: latest,
        sampling=lambda: {"memory": Cadence(60, 10), "disk": Cadence(60, 10)},
        running=lambda: running[0], actions=lambda: Config().actions,
        metrics=lambda: "open_on_loopback",
    )  # fmt: skip
    app = create_app(
        Operations(database, clock), Tokens(), monitoring=Monitoring(database, clock, vitals)
    )
    try:
        client = app.test_client()
        answer = client.get("/-/ready")
        assert (answer.status_code, answer.json) == (
            503,
            {
                "ready": False,
                "checks": {
                    "store": "ok",
                    "scheduler": "ok",
                    "readings": "stale: memory",
                    "config": "ok",
                },
            },
        )
        latest["memory"] = latest["disk"]
        running[0] = False
        assert client.get("/-/ready").json["checks"]["scheduler"] == "not running"
        database.close()
        closed = client.get("/-/ready").json
        assert closed["checks"]["store"] == "the database cannot be read"
    finally:
        database.close()
