"""What the daemon costs while it watches: resident memory and CPU share.

Runs ``calmopsd run`` with every sampler at its default interval (PM2 is read
when a PM2 daemon runs for this user) for DURATION seconds after a warm-up,
sampling its RSS every second and its CPU time (children included: `pm2 jlist`
runs as a child) at both ends. The reference, timed in the same run, is a bare
Python process that imports the same libraries and sleeps: the floor any
daemon built on them pays.

    .venv/bin/python bench/overhead.py [DURATION_S]     (default 60)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

IMPORTS = (
    "import apscheduler.schedulers.background, click, psutil, pydantic, requests, "
    "sqlite_utils, structlog, yaml"
)


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def watch(proc: psutil.Process, duration: float) -> tuple[float, list[int]]:
    """CPU share of one core (%) over ``duration`` and the RSS seen each second."""
    began, cpu_before = time.monotonic(), cpu_seconds(proc)
    rss = []
    while time.monotonic() - began < duration:
        time.sleep(1)
        rss.append(proc.memory_info().rss)
    cpu = cpu_seconds(proc) - cpu_before
    return 100 * cpu / (time.monotonic() - began), rss


def main() -> None:
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "calmops.yaml"
        config.write_text("state_dir: state\nlog:\n  format: json\n")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "calmopsd", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        floor = subprocess.Popen([sys.executable, "-c", f"{IMPORTS}; import time; time.sleep(1e6)"])
        try:
            time.sleep(10)  # start-up, first round of every sampler, first roll-up
            cpu, rss = watch(psutil.Process(daemon.pid), duration)
            floor_rss = psutil.Process(floor.pid).memory_info().rss
        finally:
            for proc in (daemon, floor):
                proc.terminate()
                proc.wait(timeout=10)
    steady = statistics.median(rss[len(rss) // 2 :]) / 2**20
    print(
        f"calmopsd over {duration:.0f} s: steady RSS {steady:.1f} MiB "
        f"(max {max(rss) / 2**20:.1f}), CPU {cpu:.2f} % of one core"
    )
    print(f"reference, the same libraries imported and idle: RSS {floor_rss / 2**20:.1f} MiB")
    print(
        f"rss_mib={steady:.1f} cpu_percent={cpu:.2f} "
        f"rss_vs_library_floor={steady / (floor_rss / 2**20):.2f}"
    )


if __name__ == "__main__":
    main()
