"""A real Prometheus (Debian's /usr/bin/prometheus) scrapes a real daemon's /metrics on
loopback, without a token, and answers a query with what the daemon read."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.sense import Planned

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
DEADLINE_S = 45.0

pytestmark = pytest.mark.skipif(
    not Path(PROMETHEUS).exists(), reason="needs Prometheus (apt install prometheus)"
)


class Memory:
    name = "memory"

    def sample(self) -> dict[str, Any]:
        return {"used_percent": 42.5, "total_bytes": 8 << 30, "available_bytes": 3 << 30}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    """``found()``'s first true answer (a failed request counts as none), within the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            answer = found()
        except requests.RequestException:
            answer = None
        if answer:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"Prometheus did not show {what} within {DEADLINE_S}s")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text("state_dir: state\nlog:\n  format: json\napi:\n  listen: 127.0.0.1:0\n")
    planned = [Planned(Memory(), 1, 1)]
    running = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: planned)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def prometheus(tmp_path: Path, daemon: Daemon) -> Iterator[str]:
    assert daemon.serving is not None and daemon.serving.server is not None
    target = f"127.0.0.1:{daemon.serving.server.port}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: calmopsd\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_prometheus_scrapes_calmopsd_on_loopback_and_queries_its_series(
    daemon: Daemon, prometheus: str
) -> None:
    def target_up() -> list[dict[str, Any]]:
        active = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
        return [t for t in active["activeTargets"] if t["health"] == "up"]

    (target,) = wait_for("the target up", target_up)
    assert target["labels"]["job"] == "calmopsd"
    assert target["scrapeUrl"].endswith("/metrics")

    def query(expression: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{prometheus}/api/v1/query", params={"query": expression},
                              timeout=5).json()  # fmt: skip
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    (memory,) = wait_for(
        "calmopsd_memory_used_percent", lambda: query("calmopsd_memory_used_percent")
    )
    assert float(memory["value"][1]) == 42.5
    (success,) = wait_for(
        "sampler success", lambda: query('calmopsd_sampler_success{sampler="memory"}')
    )
    assert float(success["value"][1]) == 1.0
    (loaded,) = query("calmopsd_config_last_reload_successful")
    assert float(loaded["value"][1]) == 1.0
