"""How fast calmopsd counts logs, against mawk computing the same counts in the same run.

Generates (fixed seed) a 2,000,000-line nginx combined log (about 2 % server
errors, 5 % uploads of which 8 % fail, 0.2 % of lines written a second or two
out of order) and a 1,000,000-line JSON app log, then times:

- calmopsd's catch-up: the real tailer and block counter reading each file from
  its start to per-minute counts (requests, server errors, uploads, failed uploads);
- mawk running bench/nginx.awk and bench/json.awk on the same files;

checks that both give the same counts for every minute, and reports lines/s and
the ratio (best of three runs each, warm page cache). Then steady tailing: a log
growing by 2,000 lines/s, polled every second, and the CPU time the polls take
per second of log.

    .venv/bin/python bench/logs.py [--scale 0.1]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from calmopsd.config.logs import LogsConfig, UploadsConfig
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.logs.blocks import BlockCounter, Tally
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import LineFormat, Uploads
from calmopsd.sense.logs.nginx import NginxFormat
from calmopsd.sense.logs.tailer import SourceTailer

HERE = Path(__file__).resolve().parent
MAWK = shutil.which("mawk") or "/usr/bin/mawk"
START = datetime(2025, 3, 1, tzinfo=UTC)
ROUTES = ["/api/uploads", "/api/uploads/*"]
UPLOADS = Uploads(UploadsConfig(routes=ROUTES))
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PAGES = ["/", "/api/items", "/api/items/{}", "/static/app.js", "/login", "/api/search?q={}"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "curl/8.1.2",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
]


def request(rnd: random.Random) -> tuple[str, str, int]:
    if rnd.random() < 0.05:
        failed = rnd.random() < 0.08
        status = rnd.choice([500, 502, 503, 413, 408, 499]) if failed else 201
        return rnd.choice(["POST", "PUT"]), f"/api/uploads/{rnd.randrange(10_000)}", status
    path = rnd.choice(PAGES).format(rnd.randrange(1000))
    status = rnd.choice([500, 502, 503, 504]) if rnd.random() < 0.02 else rnd.choice([200, 304])
    return "GET", path, status


def nginx_stamp(at: float) -> str:
    d = datetime.fromtimestamp(int(at), UTC)
    return f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000"


def write_nginx(path: Path, lines: int, seed: int = 42, start: datetime = START) -> None:
    rnd = random.Random(seed)
    base, span = start.timestamp(), 86_400
    with path.open("w") as f:
        batch = []
        for i in range(lines):
            at = base + span * i / lines
            if rnd.random() < 0.002:
                at -= rnd.random() * 3
            method, target, status = request(rnd)
            batch.append(
                f'203.0.113.{rnd.randrange(256)} - - [{nginx_stamp(at)}] "{method} {target} '
                f'HTTP/1.1" {status} {rnd.randrange(100_000)} "https://example.com/" '
                f'"{rnd.choice(AGENTS)}"\n'
            )
            if len(batch) >= 10_000:
                f.write("".join(batch))
                batch.clear()
        f.write("".join(batch))


def write_json(path: Path, lines: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    base, span = START.timestamp(), 86_400
    with path.open("wb") as f:
        batch = []
        for i in range(lines):
            at = datetime.fromtimestamp(base + span * i / lines, UTC)
            stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if rnd.random() < 0.3:
                record = {"time": stamp, "level": "info", "msg": "job done", "org_id": "acme"}
            else:
                method, target, status = request(rnd)
                record = {
                    "time": stamp,
                    "level": "error" if status >= 500 else "info",
                    "msg": "request completed",
                    "method": method,
                    "url": target,
                    "status": status,
                    "duration_ms": rnd.randrange(300),
                    "org_id": "acme",
                }
            batch.append(orjson.dumps(record) + b"\n")
            if len(batch) >= 10_000:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))


def ours(path: Path, line_format: LineFormat) -> tuple[float, dict[int, list[int]]]:
    """Catch-up exactly as the daemon does it: the tailer reads, the block counter counts."""
    counter, tally = BlockCounter(line_format), Tally()
    tailer = SourceTailer(
        "bench", [path], max_line_length=65536, max_read=1 << 40, start_at_end=False
    )
    began = time.perf_counter()
    tailer.poll(lambda buf, end: counter.count(buf, end, tally, 0))
    took = time.perf_counter() - began
    tailer.close()
    minutes: dict[int, list[int]] = {}
    for (minute, _), counts in tally.items():
        row = minutes.setdefault(minute, [0, 0, 0, 0])
        for i, index in enumerate((0, 1, 3, 4)):
            row[i] += counts[index]
    return took, minutes


def mawk(path: Path, program: str, stamp: str) -> tuple[float, dict[int, list[int]]]:
    began = time.perf_counter()
    out = subprocess.run(
        [MAWK, "-f", str(HERE / program), str(path)], capture_output=True, check=True
    ).stdout
    took = time.perf_counter() - began
    minutes = {}
    for row in out.decode().splitlines():
        key, *counts = row.split()
        at = datetime.strptime(key, stamp).replace(tzinfo=UTC)
        minutes[int(at.timestamp() // 60)] = [int(c) for c in counts]
    return took, minutes


def compare(name: str, path: Path, lines: int, fmt: LineFormat, program: str, stamp: str) -> float:
    our_times, mawk_times = [], []
    for _ in range(3):
        took, counted = ours(path, fmt)
        our_times.append(took)
        took, reference = mawk(path, program, stamp)
        mawk_times.append(took)
        if counted != reference:
            differ = sorted(
                m for m in counted.keys() | reference.keys() if counted.get(m) != reference.get(m)
            )
            sys.exit(
                f"{name}: counts differ from mawk in {len(differ)} minutes, first {differ[:3]}"
            )
    ours_rate, mawk_rate = lines / min(our_times), lines / min(mawk_times)
    print(f"{name}: {lines:,} lines, {len(counted):,} minutes, counts equal to mawk's")
    print(f"  calmopsd {ours_rate / 1e6:.2f} M lines/s   mawk {mawk_rate / 1e6:.2f} M lines/s")
    return ours_rate / mawk_rate, ours_rate


class StepClock:
    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current


def steady(tmp: Path, seconds: int, rate: int) -> None:
    """A log growing by ``rate`` lines/s, polled every second: CPU per second of log."""
    log = tmp / "steady.log"
    log.touch()
    config = LogsConfig.model_validate({"nginx": [{"name": "web", "paths": [str(log)]}]})
    clock = StepClock(datetime.now(UTC))
    watcher = LogWatcher(config, clock)
    watcher.poll()
    rnd = random.Random(1)
    cpu = 0.0
    for _ in range(seconds):
        clock.current += timedelta(seconds=1)
        stamp = nginx_stamp(clock.current.timestamp())
        with log.open("a") as f:
            for _ in range(rate):
                method, target, status = request(rnd)
                f.write(f'10.0.0.1 - - [{stamp}] "{method} {target} HTTP/1.1" {status} 5 "-" "x"\n')
        began = time.process_time()
        watcher.poll()
        cpu += time.process_time() - began
    watcher.close()
    share = cpu / seconds * 100
    print(f"steady tailing: {rate:,} lines/s polled every 1s for {seconds}s of log")
    print(f"  CPU {cpu * 1000 / seconds:.2f} ms per second of log = {share:.2f} % of one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the line counts")
    args = parser.parse_args()
    nginx_lines, json_lines = int(2_000_000 * args.scale), int(1_000_000 * args.scale)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        began = time.perf_counter()
        write_nginx(tmp / "access.log", nginx_lines)
        write_json(tmp / "app.log", json_lines)
        print(f"generated in {time.perf_counter() - began:.1f}s")
        nginx_ratio, _ = compare(
            "nginx combined",
            tmp / "access.log",
            nginx_lines,
            NginxFormat("combined", UPLOADS),
            "nginx.awk",
            "%d/%b/%Y:%H:%M",
        )
        fields = JsonFields(time="time", status="status", method="method", route="url")
        json_ratio, json_rate = compare(
            "JSON app log",
            tmp / "app.log",
            json_lines,
            JsonFormat(fields, UPLOADS, ["error", "fatal"]),
            "json.awk",
            "%Y-%m-%dT%H:%M",
        )
        steady(tmp, 60, 2000)
    print(
        f"nginx_speed_vs_mawk={nginx_ratio:.2f} json_speed_vs_mawk={json_ratio:.2f} "
        f"json_lines_per_s={json_rate:.0f}"
    )


if __name__ == "__main__":
    main()
