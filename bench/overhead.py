"""What the daemon costs while it watches: resident memory and CPU share.

Runs ``calmopsd run`` in the set-up issue 16 names: a private PM2 daemon running a
real node app (an HTTP server), the app's health check against it, two log sources
growing at 200 lines/s each (an nginx combined access log, and a JSON app log with
20 organizations) and the API served on loopback (its ``/-/ready`` asked every 5 s,
as a load balancer or a probe would). Every other sampler runs at its default
interval. After a warm-up of WARMUP_S (start-up, every sampler's first rounds, a
minute of log windows filled) the daemon's RSS is sampled every second and its CPU
time (children included) taken at both ends, for DURATION_S: phase "served".

Then, for another DURATION_S, ``/metrics`` is scraped every 15 s with a token and the
dashboard's home page opened once: phase "scraped", what a host watched by
Prometheus and visited by a person pays (the modules those routes need are loaded on
their first use, see docs/decisions.md, issue 16).

The daemon gets the environment the systemd unit sets (its ``Environment=`` lines:
``MALLOC_ARENA_MAX=2``, ``MALLOC_TRIM_THRESHOLD_=131072``); a variable set for this
script wins, and ``--env NAME=VALUE`` wins over both and reaches the daemon alone (not
the references), so ``bench/overhead.py --env MALLOC_ARENA_MAX=16`` measures glibc's
default on 2 cores.
``--runs N`` repeats the whole measurement (a fresh PM2, store and daemon each time)
and ends with each figure's median.

The references, measured in the same run: a bare Python interpreter sleeping (the
floor of any Python daemon), and one that imports the libraries the daemon is built
on and sleeps.

    .venv/bin/python bench/overhead.py [DURATION_S] [WARMUP_S] [--runs N] [--env NAME=VALUE]...
                                                          (default 60 s, 75 s, 1 run)

Needs pm2 and node on PATH (``make system-deps``); every process started is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.pm2 import Pm2, wait_for  # noqa: E402  # the tests' fixture, after sys.path
from support.unit import unit_assignments  # noqa: E402
from support.unit import unit_environment as support_unit_environment  # noqa: E402

# What the daemon cannot run without at this set-up: the scheduler, the store (sqlite3),
# the samplers (psutil; urllib3 and certifi for the health check), the log (structlog),
# the API (werkzeug, waitress), the command line (click), YAML and orjson. The config's
# models are calmopsd's own (calmopsd/typed), and the dashboard's Jinja2 waits for its
# first page.
LIBRARIES = (
    "import apscheduler.schedulers.background, certifi, click, orjson, psutil, "
    "sqlite3, urllib3, structlog, waitress.server, werkzeug.routing, yaml"
)
LINES_PER_S = 200  # per log source
SERVER_JS = """\
const http = require('http');
http.createServer((req, res) => {
  res.writeHead(200, {'content-type': 'application/json'});
  res.end('{"db":"ok"}');
}).listen(Number(process.env.PORT), '127.0.0.1');
"""


def unit_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment as systemd/calmopsd.service sets it, under this one's,
    under ``overrides`` (``--env``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALMOPS")}
    for name, value in support_unit_environment().items():
        env.setdefault(name, value)
    return {**env, **(overrides or {})}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def config_text(tmp: Path, pm2_home: Path, port: int) -> str:
    return f"""\
state_dir: {tmp / "state"}
log:
  format: json
sensing:
  pm2:
    home: {pm2_home}
  http:
    checks:
      - name: web
        url: http://127.0.0.1:{port}/health
        body: {{db: ok}}
logs:
  interval: 15s
  nginx:
    - name: edge
      paths: [{tmp / "access.log"}]
  apps:
    - name: api
      paths: [{tmp / "app.log"}]
      fields: {{organization: org_id}}
api:
  listen: 127.0.0.1:0
"""


def nginx_line(now: datetime, rng: random.Random) -> str:
    status = rng.choice((200,) * 40 + (201, 304, 404, 500, 502))
    path = rng.choice(("/", "/api/items", "/upload", "/static/app.js", "/login"))
    method = "POST" if path in ("/upload", "/login") else "GET"
    stamp = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'10.0.{rng.randrange(256)}.{rng.randrange(256)} - - [{stamp}] "{method} {path} HTTP/1.1" '
        f'{status} {rng.randrange(100, 9000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"\n'
    )


def app_line(now: datetime, rng: random.Random) -> str:
    if rng.random() < 0.2:  # job lines and warnings mixed with the requests
        record: dict[str, object] = {"level": "warn", "msg": "job took long", "job": "mailer"}
    else:
        status = rng.choice((200,) * 30 + (400, 404, 500))
        record = {
            "level": "error" if status >= 500 else "info",
            "method": rng.choice(("GET", "POST")),
            "url": rng.choice(("/api/items", "/api/upload", "/api/me")),
            "status": status,
            "org_id": f"org-{rng.randrange(20)}",
        }
    record["time"] = now.isoformat(timespec="milliseconds")
    return json.dumps(record) + "\n"


def write_logs(tmp: Path, stop: threading.Event) -> None:
    """Both logs grow by LINES_PER_S a second each, in tenths of a second."""
    rng = random.Random(16)
    with (
        (tmp / "access.log").open("a", encoding="utf-8") as nginx,
        (tmp / "app.log").open("a", encoding="utf-8") as app,
    ):
        while not stop.wait(0.1):
            now = datetime.now(UTC)
            nginx.write("".join(nginx_line(now, rng) for _ in range(LINES_PER_S // 10)))
            app.write("".join(app_line(now, rng) for _ in range(LINES_PER_S // 10)))
            nginx.flush()
            app.flush()


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def watch(
    proc: psutil.Process, duration: float, ask: dict[float, list[str]], api: ApiClient
) -> tuple[float, list[int]]:
    """CPU share of one core (%) over ``duration`` and the RSS seen each second; each route
    in ``ask[period]`` is asked every ``period`` seconds."""
    began, cpu_before = time.monotonic(), cpu_seconds(proc)
    rss = []
    tick = 0
    while time.monotonic() - began < duration:
        time.sleep(1)
        tick += 1
        for period, routes in ask.items():
            if tick % period == 0:
                for route in routes:
                    api.get(route)
        rss.append(proc.memory_info().rss)
    cpu = cpu_seconds(proc) - cpu_before
    return 100 * cpu / (time.monotonic() - began), rss


class ApiClient:
    """The daemon's API at the address and with the token it wrote to its state dir."""

    def __init__(self, state: Path):
        address = wait_for(lambda: _read_json(state / "api.address"), "the API's address", 60)
        self.url = str(address["url"]).rstrip("/")
        self.token = (state / "api.token").read_text().strip()
        self.session = requests.Session()

    def get(self, route: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        got = self.session.get(self.url + route, headers=headers, timeout=30)
        if got.status_code != 200:
            raise SystemExit(f"GET {route}: {got.status_code} {got.text[:200]}")


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        found: dict[str, object] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found


def steady(rss: list[int]) -> float:
    """The median of the second half, in MiB: after the phase's first requests settled."""
    return statistics.median(rss[len(rss) // 2 :]) / 2**20


@contextlib.contextmanager
def idle(code: str) -> Iterator[psutil.Process]:
    proc = subprocess.Popen([sys.executable, "-c", f"{code}; import time; time.sleep(1e6)"])
    try:
        yield psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def start_app(pm2: Pm2) -> int:
    """A node HTTP server under PM2 answering the health check; its port."""
    pm2.start_daemon()
    app = pm2.app("web")
    app.script.write_text(SERVER_JS, encoding="utf-8")
    port = free_port()
    pm2.start(app, PORT=str(port))
    wait_for(lambda: _answers(port), "the node app's health route")
    return port


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok
    except requests.RequestException:
        return False


def run(
    tmp: Path, pm2: Pm2, duration: float, warmup: float, overrides: dict[str, str]
) -> dict[str, float]:
    port = start_app(pm2)
    config = tmp / "calmops.yaml"
    config.write_text(config_text(tmp, pm2.home, port))
    for name in ("access.log", "app.log"):
        (tmp / name).touch()
    stop = threading.Event()
    writer = threading.Thread(target=write_logs, args=(tmp, stop), daemon=True)
    writer.start()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "calmopsd", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "daemon.log").open("wb"),  # closed with the process
        env=unit_environment(overrides),
    )
    try:
        proc = psutil.Process(daemon.pid)
        api = ApiClient(tmp / "state")
        probe = {5.0: ["/-/ready"]}
        watch(proc, warmup, probe, api)
        served = watch(proc, duration, probe, api)
        api.get("/ops/login")  # a dashboard page, once
        scraped = watch(proc, duration, {**probe, 15.0: ["/metrics"]}, api)
        with idle("pass") as bare, idle(LIBRARIES) as libraries:
            time.sleep(3)
            floors = bare.memory_info().rss / 2**20, libraries.memory_info().rss / 2**20
    finally:
        stop.set()
        daemon.terminate()
        daemon.wait(timeout=20)
    return report(duration, served, scraped, floors, overrides)


def report(
    duration: float,
    served: tuple[float, list[int]],
    scraped: tuple[float, list[int]],
    floors: tuple[float, float],
    overrides: dict[str, str],
) -> dict[str, float]:
    for label, (cpu, rss) in (("served", served), ("scraped", scraped)):
        print(
            f"calmopsd {label:<8} over {duration:.0f} s: steady RSS {steady(rss):.1f} MiB "
            f"(max {max(rss) / 2**20:.1f}), CPU {cpu:.2f} % of one core"
        )
    print("the daemon's environment as the unit sets it: " + " ".join(unit_assignments()))
    if overrides:
        print("and from --env: " + " ".join(f"{k}={v}" for k, v in overrides.items()))
    print(f"reference, a bare Python interpreter idle: RSS {floors[0]:.1f} MiB")
    print(f"reference, the same libraries imported and idle: RSS {floors[1]:.1f} MiB")
    figures = {
        "rss_mib": steady(served[1]),
        "rss_scraped_mib": steady(scraped[1]),
        "cpu_percent": served[0],
        "rss_vs_bare_python": steady(served[1]) / floors[0],
        "rss_vs_library_floor": steady(served[1]) / floors[1],
    }
    print(
        " ".join(
            f"{k}={v:.2f}" if "cpu" in k or "_vs_" in k else f"{k}={v:.1f}"
            for k, v in figures.items()
        )
    )
    return figures


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The daemon's steady RSS and CPU share in issue 16's set-up "
        "(see the module's docstring)."
    )
    parser.add_argument(
        "duration",
        nargs="?",
        type=float,
        default=60.0,
        help="seconds of each measured phase (default 60)",
    )
    parser.add_argument(
        "warmup",
        nargs="?",
        type=float,
        default=75.0,
        help="seconds before the first phase (default 75)",
    )
    parser.add_argument("--runs", type=int, default=1, help="whole measurements in a row")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the daemon's environment only (repeatable)",
    )
    found = parser.parse_args()
    if any("=" not in item for item in found.env):
        parser.error("--env takes NAME=VALUE")
    return found


def main() -> None:
    args = arguments()
    # A SIGTERM (or a SIGINT, ignored in a background job) still stops what was started.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: sys.exit(1))
    overrides = dict(item.split("=", 1) for item in args.env)
    runs = []
    for number in range(args.runs):
        if args.runs > 1:
            print(f"run {number + 1} of {args.runs}", flush=True)
        runs.append(measure(args.duration, args.warmup, overrides))
    if args.runs > 1:
        print(
            "medians: "
            + " ".join(
                f"{key}={statistics.median(run[key] for run in runs):.2f}" for key in runs[0]
            )
        )


def measure(duration: float, warmup: float, overrides: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as tmp:
        pm2 = Pm2(Path(tmp) / "pm2")
        try:
            figures = run(Path(tmp), pm2, duration, warmup, overrides)
        finally:
            pm2.kill()
        left = pm2.leftovers()
        if left:
            raise SystemExit(f"processes left behind: {[p.pid for p in left]}")
    return figures


if __name__ == "__main__":
    main()
