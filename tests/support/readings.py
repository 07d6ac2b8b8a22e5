"""Readings as the default samplers produce them, and how they drift from round to round.

For measuring storage (tests/record/test_record_retention.py, bench/storage.py):
one round comes from the real samplers (memory and disk of this machine, a
health check and a probe against a healthy loopback server, PM2 through the
sampler's own parser from a recorded ``pm2 jlist`` shape), so the stored shape
cannot drift from the code; :class:`Drift` then moves the numbers that move on a
real host every round (memory and disk use, each PM2 process's CPU, memory and
uptime, latencies) and now and then the ones that move rarely (the order of the
top processes, a PM2 restart), so compact storage is measured on readings that
change, not on one row repeated.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import psutil
from support.clock import ManualClock

from calmopsd.config.sensing import (
    DependenciesSamplerConfig,
    DependencyProbeConfig,
    HttpCheckConfig,
    HttpSamplerConfig,
    SensingConfig,
)
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.http import HttpSampler
from calmopsd.sense.memory import MemorySampler
from calmopsd.sense.pm2 import Pm2Source, Pm2State
from calmopsd.sense.pm2 import values as pm2_values
from calmopsd.sense.pm2_parse import read_instances, summarize
from calmopsd.sense.tcp import DependencySampler

START = datetime(2026, 3, 1, tzinfo=UTC)

NOW_MS = int(START.timestamp() * 1000)


def jlist_entry(name: str, pm_id: int, exec_mode: str) -> dict[str, Any]:
    """One ``pm2 jlist`` element as PM2 7.0.4 prints it (its environment cut short)."""
    pm2_env = {
        "name": name,
        "pm_id": pm_id,
        "status": "online",
        "restart_time": 3,
        "unstable_restarts": 0,
        "exec_mode": exec_mode,
        "pm_uptime": NOW_MS - 86_400_000,
        "created_at": NOW_MS - 7 * 86_400_000,
        "exit_code": 0,
        "version": "1.4.2",
        "instances": 2 if exec_mode == "cluster_mode" else 1,
        "node_version": "20.20.2",
        "versioning": {"revision": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "branch": "main"},
        "env": {"NODE_ENV": "production", "PM2_HOME": "/home/app/.pm2"},
        "pm_exec_path": f"/srv/app/{name}.js",
    }
    return {
        "pid": 12000 + pm_id,
        "name": name,
        "pm2_env": pm2_env,
        "pm_id": pm_id,
        "monit": {"memory": 180_000_000 + pm_id, "cpu": 2.5},
    }


def pm2_reading() -> dict[str, Any]:
    """Two apps, one in cluster mode with 2 instances, through the sampler's own parser.

    The second of two samples: with a sample before it, restart_increase and
    the rest are filled in, as in steady state.
    """
    listed = [
        jlist_entry("api", 0, "cluster_mode"),
        jlist_entry("api", 1, "cluster_mode"),
        jlist_entry("worker", 2, "fork_mode"),
    ]
    parsed = read_instances(listed)
    assert parsed is not None
    instances, skipped = parsed
    _, marks = summarize(instances, NOW_MS - 30_000, None)
    apps, _ = summarize(instances, NOW_MS, marks)
    return pm2_values(
        Pm2State.OK,
        Path("/home/app/.pm2"),
        source=Pm2Source.RPC.value,
        pm2_version="7.0.4",
        apps=apps,
        instances=[i.as_values(NOW_MS) for i in instances],
        skipped=skipped,
        gone=[],
    )


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"db":"ok","cache":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def round_of_readings(sensing: SensingConfig) -> dict[str, dict[str, Any]]:
    """One reading of every default sampler: memory and disk of this machine, one health
    check and one probe against a healthy loopback server, PM2 from a recorded list."""
    clock = ManualClock(START)
    disk = DiskSampler(sensing.disk, clock=clock)
    used = psutil.disk_usage("/").used
    disk.seed([("/", START - timedelta(hours=1), used - 2**20)])  # a fill rate, as in steady state
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        url = f"http://127.0.0.1:{port}/health"
        http = HttpSamplerConfig(checks=[HttpCheckConfig(name="app", url=url, body={"db": "ok"})])
        probe = DependencyProbeConfig(name="postgres", host="127.0.0.1", port=port)
        readings = {
            "memory": MemorySampler(sensing.memory).sample(),
            "disk": disk.sample(),
            "pm2": pm2_reading(),
            "http": HttpSampler(http).sample(),
            "dependencies": DependencySampler(DependenciesSamplerConfig(probes=[probe])).sample(),
        }
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert readings["http"]["checks"]["app"]["up"] is True
    assert readings["dependencies"]["probes"]["postgres"]["up"] is True
    assert readings["disk"]["mounts"]["/"]["fill_bytes_per_hour"] is not None
    return readings


class Drift:
    """Each sampler's next readings from its last: what moves every round, and what rarely.

    Deterministic for a seed. Counters grow, gauges wander within their bounds, and
    about once a day a top process swaps places and a PM2 instance restarts.
    """

    def __init__(self, first: dict[str, dict[str, Any]], seed: int = 7):
        self.rng = random.Random(seed)
        self.last = orjson.loads(orjson.dumps(first))

    def next(self, sampler: str, step_s: float) -> dict[str, Any]:
        values: dict[str, Any] = orjson.loads(orjson.dumps(self.last[sampler]))
        getattr(self, f"_{sampler}")(values, step_s)
        self.last[sampler] = values
        return values

    def _memory(self, v: dict[str, Any], step_s: float) -> None:
        rng = self.rng
        v["available_bytes"] = max(
            2**30, v["available_bytes"] + rng.randrange(-(2**14), 2**14) * 4096
        )
        v["used_percent"] = round(100 - v["available_bytes"] * 100 / v["total_bytes"], 1)
        top = v["top_processes"]
        for process in top:
            process["rss_bytes"] = max(2**20, process["rss_bytes"] + rng.randrange(-64, 64) * 4096)
        if rng.random() < step_s / 86_400 and len(top) > 1:
            top[0], top[1] = top[1], top[0]

    def _disk(self, v: dict[str, Any], step_s: float) -> None:
        for mount in v["mounts"].values():
            grown = self.rng.randrange(0, 64) * 4096
            mount["used_bytes"] += grown
            mount["free_bytes"] -= grown
            mount["used_percent"] = round(mount["used_bytes"] * 100 / mount["total_bytes"], 1)
            mount["fill_bytes_per_hour"] = self.rng.randrange(0, 8 * 2**20)
            rate = mount["fill_bytes_per_hour"]
            mount["hours_until_full"] = round(mount["free_bytes"] / rate, 2) if rate else None

    def _pm2(self, v: dict[str, Any], step_s: float) -> None:
        rng = self.rng
        for instance in v["instances"]:
            instance["cpu_percent"] = float(rng.randrange(0, 12))
            instance["memory_bytes"] += rng.randrange(-512, 512) * 4096
            instance["uptime_s"] += step_s
            if rng.random() < step_s / 86_400:
                instance["restart_time"] += 1
                instance["uptime_s"] = 0.0
                instance["pid"] += 100
        for name, app in v["apps"].items():
            mine = [i for i in v["instances"] if i["name"] == name]
            app["cpu_percent"] = sum(i["cpu_percent"] for i in mine)
            app["memory_bytes"] = sum(i["memory_bytes"] for i in mine)
            app["uptime_s"] = min(i["uptime_s"] for i in mine)
            restarts = sum(i["restart_time"] for i in mine)
            app["restart_increase"] = restarts - app["restart_time"]
            app["restart_time"] = restarts

    def _http(self, v: dict[str, Any], step_s: float) -> None:
        for check in v["checks"].values():
            check["latency_ms"] = round(self.rng.uniform(1.0, 9.0), 2)

    def _dependencies(self, v: dict[str, Any], step_s: float) -> None:
        for probe in v["probes"].values():
            probe["latency_ms"] = round(self.rng.uniform(0.1, 2.0), 2)
