"""Each sampler's values as a typed shape: real readings parse field for field and write back
the JSON the sampler stored, snapshots stored before the shapes still read, and no odd value
ever makes a shape (or what reads one) raise."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.clock import ManualClock
from support.jlist import NOW_MS, entry
from support.pm2 import config_for

from calmopsd.config.logs import LogsConfig
from calmopsd.config.sensing import (
    DependenciesSamplerConfig,
    DependencyProbeConfig,
    DiskSamplerConfig,
    HttpCheckConfig,
    HttpSamplerConfig,
    MemorySamplerConfig,
)
from calmopsd.detect.evidence import Context
from calmopsd.model import Breach, IncidentType, Reading, Severity
from calmopsd.record.codec import encode_json
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot, latest_snapshots
from calmopsd.respond.impact import assess
from calmopsd.respond.problem import dominant_organization
from calmopsd.sense import SAMPLERS
from calmopsd.sense.attention import saw
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.http import HttpSampler
from calmopsd.sense.logs import SAMPLER as LOGS
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.memory import MemorySampler
from calmopsd.sense.pm2 import Pm2Sampler, Pm2Source
from calmopsd.sense.tcp import DependencySampler
from calmopsd.shapes import (
    SHAPES,
    AppInstance,
    AppVersion,
    CheckResult,
    Deploy,
    DiskValues,
    HttpValues,
    LogsValues,
    MemoryValues,
    Mount,
    Pm2App,
    Pm2Values,
    Probe,
    ProbeValues,
    Process,
    Rates,
    Totals,
    shape_of,
)

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def written_back(sampler: str, values: dict[str, Any]) -> Any:
    """The shape of ``values``, after checking it writes back the very JSON (key order too)."""
    shape = SHAPES[sampler].parse(values)
    assert json.dumps(shape.to_values()) == json.dumps(values)
    return shape


def test_every_sampler_has_a_shape_and_every_shape_a_sampler() -> None:
    assert set(SHAPES) == {*SAMPLERS, LOGS}


def test_a_memory_reading_parses_field_for_field() -> None:
    values = MemorySampler(MemorySamplerConfig(top_processes=3)).sample()

    shape = written_back("memory", values)

    assert [f.name for f in fields(MemoryValues)] == list(values)
    assert shape == MemoryValues(
        used_percent=values["used_percent"],
        total_bytes=psutil.virtual_memory().total,
        available_bytes=values["available_bytes"],
        swap_used_percent=values["swap_used_percent"],
        swap_total_bytes=psutil.swap_memory().total,
        top_processes=tuple(
            Process(p["name"], p["pid"], p["rss_bytes"]) for p in values["top_processes"]
        ),
    )
    assert len(shape.top_processes) == 3
    assert all(psutil.pid_exists(p.pid) for p in shape.top_processes if p.pid is not None)


def test_a_disk_reading_parses_with_its_fill_rate_and_a_mount_it_could_not_read(
    tmp_path: Path,
) -> None:
    gone = tmp_path / "not-mounted"
    config = DiskSamplerConfig(mounts=[tmp_path, gone], fill_rate_window=timedelta(hours=1))
    clock = ManualClock(AT)
    sampler = DiskSampler(config, clock)
    used = psutil.disk_usage(str(tmp_path)).used
    sampler.seed([(str(tmp_path), AT - timedelta(minutes=30), used - 10**9)])

    values = sampler.sample()
    shape = written_back("disk", values)

    here = values["mounts"][str(tmp_path)]
    assert shape.mounts[str(tmp_path)] == Mount(**here)
    assert [f.name for f in fields(Mount)] == [*here, "error"]
    assert shape.mounts[str(tmp_path)].used_bytes == psutil.disk_usage(str(tmp_path)).used
    assert shape.mounts[str(tmp_path)].fill_bytes_per_hour == here["fill_bytes_per_hour"] > 0
    assert shape.mounts[str(gone)] == Mount(error="No such file or directory")


def pm2_values(sampler: Pm2Sampler, listed: list[Any]) -> dict[str, Any]:
    # The step both the socket and the `pm2 jlist` paths end in: a list → the stored values.
    return sampler._values(Path("/home/app/.pm2"), Pm2Source.RPC, "7.0.4", None, listed)


def test_a_pm2_reading_parses_into_apps_instances_and_a_deploy_marker(tmp_path: Path) -> None:
    now = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    sampler = Pm2Sampler(config_for(tmp_path), ManualClock(now))
    errored = entry("worker", pm_id=1, status="errored", restart_time=4, exit_code=3)
    pm2_values(sampler, [entry("web"), errored])

    values = pm2_values(sampler, [entry("web", version="1.1.0", restart_time=1), "not an app"])
    shape = written_back("pm2", values)

    assert [f.name for f in fields(Pm2Values)] == list(values)
    assert [f.name for f in fields(Pm2App)] == list(values["apps"]["web"])
    assert (shape.state, shape.source, shape.pm2_version, shape.pm2_home) == (
        "ok",
        "rpc",
        "7.0.4",
        "/home/app/.pm2",
    )
    assert (shape.skipped, shape.gone) == (1, ("worker",))
    assert shape.apps == {
        "web": Pm2App(
            status="online",
            statuses={"online": 1},
            instances=1,
            online=1,
            restart_time=1,
            unstable_restarts=0,
            uptime_s=60.0,
            memory_bytes=50_000_000,
            cpu_percent=1.5,
            exec_mode="fork_mode",
            version="1.1.0",
            revision=None,
            restart_increase=1,
            deploy=Deploy(AppVersion("1.0.0", None), AppVersion("1.1.0", None)),
            crash_loop=None,
        )
    }
    assert shape.instances == (
        AppInstance(
            name="web",
            pm_id=0,
            pid=4242,
            status="online",
            restart_time=1,
            unstable_restarts=0,
            uptime_s=60.0,
            memory_bytes=50_000_000,
            cpu_percent=1.5,
            exec_mode="fork_mode",
            version="1.1.0",
            revision=None,
            exit_code=None,
        ),
    )


def test_pm2_not_running_is_a_shape_with_no_apps(tmp_path: Path) -> None:
    values = Pm2Sampler(config_for(tmp_path)).sample()

    shape = written_back("pm2", values)

    assert (shape.state, shape.pm2_home, shape.apps, shape.instances) == (
        "not_running",
        str(tmp_path),
        {},
        (),
    )
    assert shape.detail is not None


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"db": "ok" if self.path == "/ok" else "down"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


def test_health_checks_parse_into_check_results(server: str, closed_port: int) -> None:
    checks = [
        HttpCheckConfig(name="web", url=f"{server}/ok", body={"db": "ok"}),
        HttpCheckConfig(name="api", url=f"{server}/dbdown", body={"db": "ok"}),
        HttpCheckConfig(name="gone", url=f"http://127.0.0.1:{closed_port}/health"),
    ]
    values = HttpSampler(HttpSamplerConfig(checks=checks)).sample()

    shape = written_back("http", values)

    assert [f.name for f in fields(CheckResult)] == list(values["checks"]["web"])
    web, api, gone = (shape.checks[name] for name in ("web", "api", "gone"))
    assert (web.up, web.status, web.failure, web.down) == (True, 200, None, False)
    assert web.latency_ms == values["checks"]["web"]["latency_ms"] > 0
    assert (api.down, api.failure, api.failed_dependencies) == (
        True,
        "body_check_failed",
        ("db",),
    )
    assert (gone.down, gone.status, gone.failure) == (True, None, "connection_refused")


def test_dependency_probes_parse_into_probes(closed_port: int) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        probes = [
            DependencyProbeConfig(name="db", host="127.0.0.1", port=listener.getsockname()[1]),
            DependencyProbeConfig(name="cache", host="127.0.0.1", port=closed_port),
        ]
        values = DependencySampler(DependenciesSamplerConfig(probes=probes)).sample()

    shape = written_back("dependencies", values)

    assert [f.name for f in fields(Probe)] == list(values["probes"]["db"])
    assert shape.probes["db"] == Probe(True, values["probes"]["db"]["latency_ms"], None, None)
    assert (shape.probes["cache"].down, shape.probes["cache"].failure) == (
        True,
        "connection_refused",
    )


def test_a_logs_reading_parses_into_windows_per_organization_and_source(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    lines = []
    for second in range(60):
        for org, status in (("acme", 500 if second < 6 else 200), ("globex", 200)):
            at = int((START + timedelta(seconds=second)).timestamp() * 1000)
            lines.append(
                f'{{"time":{at},"level":"info","method":"POST","url":"/api/upload/x",'
                f'"status":{status},"org_id":"{org}"}}\n'
            )
    log.write_text("".join(lines))
    config = LogsConfig.model_validate(
        {
            "start_at": "beginning",
            "settle": "0s",
            "uploads": {"routes": ["/api/upload/*"]},
            "apps": [{"name": "api", "paths": [str(log)], "fields": {"organization": "org_id"}}],
        },
        context={"base_dir": tmp_path},
    )
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=1)))
    values = watcher.poll().values
    watcher.close()

    shape = written_back("logs", values)

    assert [f.name for f in fields(Rates)] == list(values["platform"]["1m"])
    assert [f.name for f in fields(Totals)] == list(values["sources"]["api"]["totals"])
    assert shape.window_end == "2025-03-01T12:01:00+00:00"  # the minute after the last
    acme = shape.organizations["acme"].one_minute
    assert (acme.requests, acme.server_errors, acme.uploads, acme.upload_failure_rate) == (
        60,
        6,
        60,
        0.1,
    )
    assert shape.platform.one_minute.requests_per_min == 120
    assert shape.platform.five_minutes.requests_per_min == 24
    api = shape.sources["api"]
    assert (api.kind, api.files, api.truncations) == ("app", (str(log),), 0)
    assert api.totals == Totals(requests=120, server_errors=6, uploads=120, upload_failures=6)
    assert shape.platform.window("5m") is shape.platform.five_minutes
    assert shape.platform.one_minute.figure("upload_failures") == 6
    assert shape.platform.one_minute.figure("not_a_figure") == 0


def test_stored_readings_read_back_into_the_same_shape_and_bytes(
    database: Database, tmp_path: Path
) -> None:
    readings = {
        "memory": MemorySampler(MemorySamplerConfig(top_processes=2)).sample(),
        "disk": DiskSampler(DiskSamplerConfig(mounts=[tmp_path])).sample(),
        "pm2": Pm2Sampler(config_for(tmp_path)).sample(),
    }
    for sampler, values in readings.items():
        add_snapshot(
            database,
            Scope.platform(),
            sampler=sampler,
            taken_at=AT,
            ok=True,
            duration_ms=1.0,
            readings=values,
        )

    stored = {s.sampler: s.readings for s in latest_snapshots(database, Scope.platform())}

    for sampler, values in readings.items():
        shape = SHAPES[sampler].parse(stored[sampler])
        assert shape == SHAPES[sampler].parse(values)
        assert encode_json(shape.to_values()) == encode_json(values)


# Snapshot rows as calmopsd wrote them before readings had shapes (canonical JSON: sorted keys).
STORED_BEFORE = {
    "pm2": '{"apps":{"api":{"cpu_percent":0.4,"crash_loop":null,"deploy":{"from":{"revision":'
    '"4f2a","version":"2.3.0"},"to":{"revision":"9c1d","version":"2.4.0"}},"exec_mode":'
    '"cluster_mode","instances":2,"memory_bytes":183500800,"online":2,"restart_increase":2,'
    '"restart_time":7,"revision":"9c1d","status":"online","statuses":{"online":2},'
    '"unstable_restarts":0,"uptime_s":12.5,"version":"2.4.0"}},"detail":null,"fallback":null,'
    '"gone":[],"instances":[],"pm2_home":"/home/app/.pm2","pm2_version":"6.0.14","skipped":0,'
    '"source":"rpc","state":"ok"}',
    "http": '{"checks":{"web":{"detail":"connection_refused: http://127.0.0.1:3000: Connection '
    'refused","failed_dependencies":[],"failure":"connection_refused","latency_ms":0.81,'
    '"status":null,"up":false}}}',
    "disk": '{"mounts":{"/":{"fill_bytes_per_hour":null,"free_bytes":21474836480,'
    '"hours_until_full":null,"inodes_used_percent":12.5,"total_bytes":42949672960,'
    '"used_bytes":21474836480,"used_percent":50.0},"/srv":{"error":"Permission denied"}}}',
    "dependencies": '{"probes":{"redis":{"detail":null,"failure":null,"latency_ms":0.2,'
    '"up":true}}}',
}


def test_snapshots_stored_before_readings_had_shapes_still_read() -> None:
    pm2 = Pm2Values.parse(json.loads(STORED_BEFORE["pm2"]))
    http = HttpValues.parse(json.loads(STORED_BEFORE["http"]))
    disk = DiskValues.parse(json.loads(STORED_BEFORE["disk"]))
    probes = ProbeValues.parse(json.loads(STORED_BEFORE["dependencies"]))

    api = pm2.apps["api"]
    assert (api.status, api.instances, api.memory_bytes, api.restart_increase) == (
        "online",
        2,
        183500800,
        2,
    )
    assert api.deploy == Deploy(AppVersion("2.3.0", "4f2a"), AppVersion("2.4.0", "9c1d"))
    assert (http.checks["web"].down, http.checks["web"].failure) == (True, "connection_refused")
    assert disk.mounts["/"].used_bytes == 21474836480
    assert disk.mounts["/srv"] == Mount(error="Permission denied")
    assert probes.probes["redis"] == Probe(True, 0.2, None, None)
    for sampler, text in STORED_BEFORE.items():
        assert encode_json(SHAPES[sampler].parse(json.loads(text)).to_values()) == text


@pytest.mark.parametrize(
    ("sampler", "values", "expected"),
    [
        ("memory", None, MemoryValues()),
        ("memory", {"used_percent": "91", "top_processes": [None, {"pid": True}]}, MemoryValues(
            top_processes=(Process(),)
        )),
        ("disk", {"mounts": {"/": {"used_bytes": True, "used_percent": 80}, "/x": 3}}, DiskValues(
            {"/": Mount(used_percent=80)}
        )),
        ("pm2", {"state": 1, "apps": {"a": {"deploy": {}, "statuses": {"online": "2"}}}},
         Pm2Values(apps={"a": Pm2App()})),
        ("pm2", {"apps": ["a"], "gone": "a", "instances": {"a": 1}}, Pm2Values()),
        ("http", {"checks": {"web": {"up": "no", "failed_dependencies": "db"}}}, HttpValues(
            {"web": CheckResult()}
        )),
        ("dependencies", {"probes": None}, ProbeValues()),
        ("logs", {"platform": {"1m": [], "5m": {"uploads": 2.5}}, "organizations": {"a": "x"}},
         LogsValues()),
        ("logs", [], LogsValues()),
    ],
)  # fmt: skip
def test_odd_stored_values_read_as_the_declared_defaults(
    sampler: str, values: Any, expected: Any
) -> None:
    assert SHAPES[sampler].parse(values) == expected


def test_a_failed_reading_has_no_shape() -> None:
    assert shape_of(Reading("memory", AT, False, 1.0, {}, "timed out")) is None
    assert shape_of(Reading("memory", AT, True, 1.0, {"total_bytes": 8})) == MemoryValues(
        total_bytes=8
    )


KEYS = st.sampled_from(
    [
        "apps", "checks", "probes", "mounts", "organizations", "platform", "sources", "1m", "5m",
        "totals", "top_processes", "instances", "deploy", "from", "to", "statuses", "up",
        "status", "state", "failure", "failed_dependencies", "memory_bytes", "used_bytes",
        "restart_increase", "crash_loop", "upload_failure_rate", "uploads", "files", "gone",
        "error", "web", "/",
    ]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=3), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(sampler=st.sampled_from(sorted(SHAPES)), values=JSON)
def test_no_stored_value_makes_a_shape_raise_and_what_it_writes_reads_the_same(
    sampler: str, values: Any
) -> None:
    shape = SHAPES[sampler].parse(values)
    written = json.loads(json.dumps(shape.to_values()))
    assert SHAPES[sampler].parse(written) == shape


def breach(sampler: str, metric: str) -> Breach:
    labels = (("app", "web"),) if sampler == "pm2" else ()
    return Breach(
        "rule", IncidentType.NETWORK, Severity.WARNING, labels, 1, AT, AT,
        {"sampler": sampler, "metric": metric},
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(sampler=st.sampled_from(sorted(SHAPES)), values=JSON)
def test_what_reads_readings_never_raises_on_odd_stored_values(sampler: str, values: Any) -> None:
    reading = Reading(sampler, AT, True, 1.0, values if isinstance(values, dict) else {})
    context = Context()
    context.observe(reading)
    context.observe(Reading(sampler, AT + timedelta(seconds=15), True, 1.0, reading.values))

    context.evidence(breach(sampler, "platform.1m.server_errors"))
    assess(context.checks, context.logs)
    dominant_organization(context.logs, breach("logs", "platform.5m.upload_failure_rate"))
    saw(reading)
