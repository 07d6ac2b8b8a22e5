"""How fast calmopsd counts logs shaped as users' are, against mawk computing the same counts in
the same run.

Generates (fixed seed) one log of each shape issue 16 lists, 1,000,000 lines each by
default (about 2 % server errors, 5 % uploads of which 8 % fail, 0.2 % of lines written a
second or two out of order, 40 organizations):

- nginx combined; nginx with a custom log_format ending in ``"$http_x_org_id"``;
  nginx ``escape=json``;
- a flat JSON app log, requests mixed with job lines, keys in three orders;
- pino-http (nested ``req``/``res`` with headers, epoch-ms time, numeric levels, the
  organization a child logger's binding);
- winston (``format.json()``: keys sorted, ISO ``timestamp``).

Each is counted with and without organizations (a shape without an organization key
only without). calmopsd's figure is its catch-up as the daemon does it (the real
tailer reading the file from its start into the block counter, in-process); mawk runs
bench/nginx.awk or bench/json.awk on the same file as a whole process. Both must give
the same counts per minute and organization (requests, server errors, uploads, failed
uploads) or the run stops. Best of three each, warm page cache. Then steady tailing: a
log growing by 2,000 lines/s, polled every second, and the CPU time the polls take per
second of log.

calmopsd counts with its compiled scanner when it is built (the header says which);
``CALMOPS_NO_SCANNER=1`` times the counting of a host without it.

    .venv/bin/python bench/logs.py [--scale 0.1] [--only pino]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from calmopsd.config.logs import LogsConfig, UploadsConfig
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.logs.blocks import BlockCounter, Tally
from calmopsd.sense.logs.compiled import SCANNER
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import LineFormat, Uploads
from calmopsd.sense.logs.nginx import NginxFormat
from calmopsd.sense.logs.tailer import SourceTailer

HERE = Path(__file__).resolve().parent
MAWK = shutil.which("mawk") or "/usr/bin/mawk"
START = datetime(2025, 3, 1, tzinfo=UTC)
SPAN_S = 86_400
ROUTES = ["/api/uploads", "/api/uploads/*"]
UPLOADS = Uploads(UploadsConfig(routes=ROUTES))
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PAGES = ["/", "/api/items", "/api/items/{}", "/static/app.js", "/login", "/api/search?q={}"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "curl/8.1.2",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
]
ORGS = [f"org-{i:02d}" for i in range(40)]
CUSTOM = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time "$http_x_org_id"'
)
Counts = dict[tuple[int, str | None], list[int]]


def request(rnd: random.Random) -> tuple[str, str, int]:
    if rnd.random() < 0.05:
        failed = rnd.random() < 0.08
        status = rnd.choice([500, 502, 503, 413, 408, 499]) if failed else 201
        return rnd.choice(["POST", "PUT"]), f"/api/uploads/{rnd.randrange(10_000)}", status
    path = rnd.choice(PAGES).format(rnd.randrange(1000))
    status = rnd.choice([500, 502, 503, 504]) if rnd.random() < 0.02 else rnd.choice([200, 304])
    return "GET", path, status


def moments(rnd: random.Random, lines: int) -> list[float]:
    base = START.timestamp()
    out = []
    for i in range(lines):
        at = base + SPAN_S * i / lines
        if rnd.random() < 0.002:
            at -= rnd.random() * 3
        out.append(at)
    return out


def nginx_stamp(at: float) -> str:
    d = datetime.fromtimestamp(int(at), UTC)
    return f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000"


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write(path: Path, lines: int, seed: int, line: Callable[[random.Random, float], bytes]) -> None:
    rnd = random.Random(seed)
    with path.open("wb") as f:
        batch: list[bytes] = []
        for at in moments(rnd, lines):
            batch.append(line(rnd, at))
            if len(batch) >= 10_000:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))


def combined(rnd: random.Random, at: float) -> bytes:
    method, target, status = request(rnd)
    return (
        f'203.0.113.{rnd.randrange(256)} - - [{nginx_stamp(at)}] "{method} {target} HTTP/1.1" '
        f'{status} {rnd.randrange(100_000)} "https://example.com/" "{rnd.choice(AGENTS)}"\n'
    ).encode()


def custom(rnd: random.Random, at: float) -> bytes:
    return combined(rnd, at)[:-1] + b' %.3f "%s"\n' % (rnd.random(), rnd.choice(ORGS).encode())


def nginx_json(rnd: random.Random, at: float) -> bytes:
    method, target, status = request(rnd)
    stamp = datetime.fromtimestamp(int(at), UTC).isoformat()
    return (
        f'{{"time":"{stamp}","remote_addr":"203.0.113.{rnd.randrange(256)}",'
        f'"request":"{method} {target} HTTP/1.1","status":"{status}",'
        f'"body_bytes_sent":"{rnd.randrange(100_000)}","request_time":"{rnd.random():.3f}",'
        f'"http_user_agent":"{rnd.choice(AGENTS)}","org":"{rnd.choice(ORGS)}"}}\n'
    ).encode()


def flat_mixed(rnd: random.Random, at: float) -> bytes:
    org = rnd.choice(ORGS)
    if rnd.random() < 0.3:
        record: dict[str, object] = {"time": iso(at), "level": "info", "msg": "job done",
                                     "job": "mail", "org_id": org}  # fmt: skip
        return orjson.dumps(record) + b"\n"
    method, target, status = request(rnd)
    parts = {
        "time": iso(at),
        "level": "error" if status >= 500 else "info",
        "msg": "request completed",
        "method": method,
        "url": target,
        "status": status,
        "duration_ms": rnd.randrange(300),
        "org_id": org,
    }
    order = rnd.randrange(3)
    keys = list(parts)
    if order == 1:
        keys = ["level", "msg", "org_id", "status", "method", "url", "time", "duration_ms"]
    elif order == 2:
        keys = ["msg", "url", "method", "duration_ms", "status", "level", "org_id", "time"]
    return orjson.dumps({k: parts[k] for k in keys}) + b"\n"


def pino_http(rnd: random.Random, at: float) -> bytes:
    method, target, status = request(rnd)
    level = 50 if status >= 500 else 30
    msg = "request errored" if status >= 500 else "request completed"
    trace = "at onResFinished (/app/node_modules/pino-http/logger.js:115:39)"
    err = (
        f',"err":{{"type":"Error","message":"failed with status code {status}",'
        f'"stack":"Error: failed with status code {status}\\n    {trace}"}}'
        if status >= 500
        else ""
    )
    return (
        f'{{"level":{level},"time":{int(at * 1000)},"pid":4242,"hostname":"web-1",'
        f'"orgId":"{rnd.choice(ORGS)}","req":{{"id":{rnd.randrange(1 << 20)},'
        f'"method":"{method}","url":"{target}","query":{{}},"params":{{}},"headers":{{'
        f'"host":"api.example.com","connection":"keep-alive","accept":"*/*",'
        f'"user-agent":"{rnd.choice(AGENTS)}","accept-encoding":"gzip, deflate"}},'
        f'"remoteAddress":"::ffff:10.0.0.{rnd.randrange(256)}","remotePort":{rnd.randrange(65536)}}},'
        f'"res":{{"statusCode":{status},"headers":{{"content-type":"application/json",'
        f'"content-length":"{rnd.randrange(5000)}"}}}}{err},"responseTime":{rnd.randrange(300)},'
        f'"msg":"{msg}"}}\n'
    ).encode()


def winston(rnd: random.Random, at: float) -> bytes:
    method, target, status = request(rnd)
    record = {
        "durationMs": rnd.randrange(300),
        "level": "error" if status >= 500 else "info",
        "message": "request completed",
        "method": method,
        "orgId": rnd.choice(ORGS),
        "status": status,
        "timestamp": iso(at),
        "url": target,
    }
    return orjson.dumps(record) + b"\n"  # winston's format.json() sorts keys


@dataclass
class Shape:
    name: str
    line: Callable[[random.Random, float], bytes]
    program: str
    awk_vars: dict[str, str]  # without organizations; "O" added with them
    org_var: str  # the awk O value for organizations ("" when the shape has none)
    parser: Callable[[bool], LineFormat]


def json_parser(**keys: object) -> Callable[[bool], LineFormat]:
    org = str(keys.pop("org", ""))
    levels = keys.pop("levels", ["error", "fatal"])

    def make(with_orgs: bool) -> LineFormat:
        fields = JsonFields(**keys, organization=org if with_orgs else "")  # type: ignore[arg-type]
        return JsonFormat(fields, UPLOADS, levels)  # type: ignore[arg-type]

    return make


SHAPES = [
    Shape("nginx combined", combined, "nginx.awk", {}, "",
          lambda orgs: NginxFormat("combined", UPLOADS)),
    Shape("nginx custom log_format", custom, "nginx.awk", {}, "8",
          lambda orgs: NginxFormat(CUSTOM, UPLOADS, "http_x_org_id" if orgs else "")),
    Shape("nginx escape=json", nginx_json, "json.awk",
          {"T": "time", "TKIND": "iso", "S": "status", "R": "request"}, "org",
          json_parser(time="time", status="status", request="request", org="org")),
    Shape("flat JSON, mixed lines and key orders", flat_mixed, "json.awk",
          {"T": "time", "TKIND": "iso", "S": "status", "M": "method", "U": "url"}, "org_id",
          json_parser(time="time", status="status", method="method", route="url",
                      level="level", org="org_id")),
    Shape("pino-http nested", pino_http, "json.awk",
          {"T": "time", "TKIND": "ms", "S": "statusCode", "M": "method", "U": "url"}, "orgId",
          json_parser(time="time", status="res.statusCode", method="req.method",
                      route="req.url", level="level", org="orgId", levels=[50, 60])),
    Shape("winston", winston, "json.awk",
          {"T": "timestamp", "TKIND": "iso", "S": "status", "M": "method", "U": "url"}, "orgId",
          json_parser(time="timestamp", status="status", method="method", route="url",
                      level="level", org="orgId")),
]  # fmt: skip


def ours(path: Path, line_format: LineFormat) -> tuple[float, Counts]:
    """Catch-up exactly as the daemon does it: the tailer reads, the block counter counts."""
    counter, tally = BlockCounter(line_format), Tally()
    tailer = SourceTailer(
        "bench", [path], max_line_length=65536, max_read=1 << 40, start_at_end=False
    )
    began = time.perf_counter()
    tailer.poll(lambda buf, end: counter.count(buf, end, tally, 0))
    took = time.perf_counter() - began
    tailer.close()
    found: Counts = {}
    for key, counts in tally.items():
        picked = [counts[i] for i in (0, 1, 3, 4)]
        if any(picked):
            row = found.setdefault(key, [0, 0, 0, 0])
            for i, value in enumerate(picked):
                row[i] += value
    return took, found


def minute_of(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "/" in text:
        at = datetime.strptime(text, "%d/%b/%Y:%H:%M").replace(tzinfo=UTC)
    else:
        at = datetime.strptime(text[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    return int(at.timestamp() // 60)


def by_awk(path: Path, program: str, awk_vars: dict[str, str]) -> tuple[float, Counts]:
    argv = [MAWK]
    for name, value in awk_vars.items():
        argv += ["-v", f"{name}={value}"]
    began = time.perf_counter()
    out = subprocess.run(
        [*argv, "-f", str(HERE / program), str(path)], capture_output=True, check=True
    ).stdout
    took = time.perf_counter() - began
    found: Counts = {}
    for row in out.decode().splitlines():
        stamp, org, *counts = row.split()
        found[(minute_of(stamp), None if org == "-" else org)] = [int(c) for c in counts]
    return took, found


@dataclass
class Result:
    name: str
    lines: int
    keys: int
    ours: float
    awk: float

    @property
    def ratio(self) -> float:
        return self.awk / self.ours


def compare(shape: Shape, path: Path, lines: int, with_orgs: bool, runs: int) -> Result:
    name = f"{shape.name}, {'with' if with_orgs else 'without'} organizations"
    awk_vars = dict(shape.awk_vars, **({"O": shape.org_var} if with_orgs else {}))
    our_times, awk_times = [], []
    for _ in range(runs):
        took, counted = ours(path, shape.parser(with_orgs))
        our_times.append(took)
        took, reference = by_awk(path, shape.program, awk_vars)
        awk_times.append(took)
        if counted != reference:
            differ = sorted(
                (
                    k
                    for k in counted.keys() | reference.keys()
                    if counted.get(k) != reference.get(k)
                ),
                key=str,
            )
            first = [(k, counted.get(k), reference.get(k)) for k in differ[:3]]
            sys.exit(f"{name}: counts differ from mawk's for {len(differ)} keys, first {first}")
    result = Result(name, lines, len(counted), min(our_times), min(awk_times))
    print(
        f"{name}: {lines:,} lines, {result.keys:,} minute/organization keys, equal to mawk's\n"
        f"  calmopsd {lines / result.ours / 1e6:.2f} M lines/s   "
        f"mawk {lines / result.awk / 1e6:.2f} M lines/s   ratio {result.ratio:.2f}",
        flush=True,
    )
    return result


class StepClock:
    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current


def steady(tmp: Path, seconds: int, rate: int) -> float:
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
        at = clock.current.timestamp()
        with log.open("ab") as f:
            f.write(b"".join(combined(rnd, at) for _ in range(rate)))
        began = time.process_time()
        watcher.poll()
        cpu += time.process_time() - began
    watcher.close()
    share = cpu / seconds * 100
    print(f"steady tailing: {rate:,} lines/s polled every 1 s for {seconds} s of log")
    print(f"  CPU {cpu * 1000 / seconds:.2f} ms per second of log = {share:.3f} % of one core")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the line counts")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, best kept")
    parser.add_argument("--only", default="", help="shapes whose name holds this text")
    parser.add_argument("--steady", type=int, default=60, help="seconds of steady log (0: none)")
    args = parser.parse_args()
    lines = int(1_000_000 * args.scale)
    results: list[Result] = []
    print(f"compiled scanner: {'in use' if SCANNER is not None else 'not in use'}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for seed, shape in enumerate(SHAPES):
            if args.only not in shape.name:
                continue
            path = tmp / "log"
            began = time.perf_counter()
            write(path, lines, seed, shape.line)
            size = path.stat().st_size
            print(f"-- {shape.name}: generated {size / 2**20:.0f} MiB in "
                  f"{time.perf_counter() - began:.1f}s", flush=True)  # fmt: skip
            for with_orgs in (False, True) if shape.org_var else (False,):
                results.append(compare(shape, path, lines, with_orgs, args.runs))
        share = steady(tmp, args.steady, 2000) if args.steady else None
    print("\n| shape | calmopsd M lines/s | mawk M lines/s | vs mawk |\n|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.lines / r.ours / 1e6:.2f} | {r.lines / r.awk / 1e6:.2f} | "
              f"{r.ratio:.2f}× |")  # fmt: skip
    worst = min(results, key=lambda r: r.ratio) if results else None
    summary = f"worst_vs_mawk={worst.ratio:.2f} ({worst.name})" if worst else ""
    if share is not None:
        summary += f" steady_core_percent={share:.3f}"
    print(summary)


if __name__ == "__main__":
    main()
