"""CPU per PM2 sample: the sampler (over PM2's socket) against `pm2 jlist`, in the same run.

A private PM2 daemon (a temporary PM2_HOME) runs one fork app and one cluster
app with 2 instances. Each way of reading it is timed over N samples (20 N for
the socket, whose cost is near getrusage's resolution otherwise) by CPU
time (user + system) from ``getrusage``: RUSAGE_SELF for work in this process,
RUSAGE_CHILDREN for the processes it started and waited for. Also reported:
the daemon's own CPU per request (the same work whichever way it is asked),
and ``ps`` of the app pids as a floor for "run anything at all".

    .venv/bin/python bench/pm2.py [N]

Needs pm2 on PATH (``make system-deps``). Every process started is killed at
the end (the tests' PM2 fixture does the cleanup).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.pm2 import Pm2, config_for  # noqa: E402  # the tests' fixture, after sys.path

from calmopsd.sense.pm2 import Pm2Sampler  # noqa: E402

INTERVAL_S = 30  # the PM2 sampler's default interval


def cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(count: int, once: Callable[[], object], daemon: psutil.Process) -> dict[str, float]:
    """Per sample, in ms: CPU here, CPU in children, CPU in the PM2 daemon, wall time."""
    once()  # warm up: imports, first connection, page cache
    self0, child0 = cpu_s(resource.RUSAGE_SELF), cpu_s(resource.RUSAGE_CHILDREN)
    daemon0 = sum(daemon.cpu_times()[:2])
    wall0 = time.perf_counter()
    for _ in range(count):
        once()
    per = 1000 / count
    return {
        "self": (cpu_s(resource.RUSAGE_SELF) - self0) * per,
        "children": (cpu_s(resource.RUSAGE_CHILDREN) - child0) * per,
        "daemon": (sum(daemon.cpu_times()[:2]) - daemon0) * per,
        "wall": (time.perf_counter() - wall0) * per,
    }


def report(label: str, figures: dict[str, float]) -> dict[str, float]:
    total = figures["self"] + figures["children"]
    print(
        f"{label:<34} {total:8.2f} ms CPU/sample "
        f"(here {figures['self']:.2f}, children {figures['children']:.2f}; "
        f"PM2 daemon {figures['daemon']:.2f}; wall {figures['wall']:.1f} ms) "
        f"= {total / (INTERVAL_S * 10):.3f} % of a core at {INTERVAL_S}s"
    )
    return {"total": total, "daemon": figures["daemon"]}


def run(pm2: Pm2, count: int) -> None:
    pm2.start_daemon()
    fork, cluster = pm2.app("bench-fork"), pm2.app("bench-cluster")
    pm2.start(fork)
    pm2.start(cluster, "-i", "2")
    daemon = psutil.Process(pm2.daemon_pid())
    app_pids = [str(e["pid"]) for e in pm2.jlist()]
    env = pm2.env()

    by_socket = Pm2Sampler(config_for(pm2.home))
    by_jlist = Pm2Sampler(config_for(pm2.home), rpc=False)
    sources = (by_socket.sample()["source"], by_jlist.sample()["source"])
    if sources != ("rpc", "jlist"):
        raise SystemExit(f"expected to read by socket, then by jlist; read by {sources}")

    def jlist() -> None:
        subprocess.run([pm2.binary, "jlist"], env=env, capture_output=True, check=True, timeout=60)

    def ps() -> None:
        argv = ["ps", "-o", "pid=,rss=,pcpu=", "-p", ",".join(app_pids)]
        subprocess.run(argv, capture_output=True, check=True, timeout=60)

    print(
        f"{count} samples ({count * 20} by socket) of 3 processes "
        f"(1 fork app, 1 cluster app x 2) under PM2 {pm2_version()}"
    )
    # The socket path is ~1 ms: 20 times the samples, so getrusage's tick does not dominate.
    ours = report("calmopsd sampler (socket)", measure(count * 20, by_socket.sample, daemon))
    fallback = report("calmopsd sampler (jlist fallback)", measure(count, by_jlist.sample, daemon))
    reference = report("pm2 jlist, run directly", measure(count, jlist, daemon))
    floor = report("ps of the app pids (floor)", measure(count, ps, daemon))
    print(
        f"pm2_sampler_cpu_ms={ours['total']:.2f} pm2_jlist_cpu_ms={reference['total']:.2f} "
        f"pm2_fallback_cpu_ms={fallback['total']:.2f} ps_floor_cpu_ms={floor['total']:.2f} "
        f"pm2_daemon_cpu_ms_per_request={ours['daemon']:.2f} "
        f"sampler_vs_jlist={ours['total'] / reference['total']:.4f}"
    )


def pm2_version() -> str:
    # Not `pm2 --version`: that spawns a daemon in ~/.pm2.
    npm_root = subprocess.run(
        ["npm", "root", "--global"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    package = Path(npm_root) / "pm2" / "package.json"
    return package.read_text().split('"version": "', 1)[1].split('"', 1)[0]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory(prefix="pm2-bench-") as tmp:
        pm2 = Pm2(Path(tmp))
        try:
            run(pm2, count)
        finally:
            pm2.kill()
        left = pm2.leftovers()
        if left:
            raise SystemExit(f"processes left behind: {[p.pid for p in left]}")


if __name__ == "__main__":
    main()
