"""The log reader's memory while it catches up a backlog: flat, whatever the backlog's size.

``calmopsd run`` follows an nginx access log (combined format) with its API served and
every other sampler at its default interval. It starts once on the empty log (its
position is saved), is stopped, SIZE_MIB of lines are appended to the log (spread
over the last two hours, so the windows it fills are real minutes), and it starts
again and catches up: the lines are read in rounds of ``logs.max_read_per_round``,
each in chunks. Its RSS is sampled every half second until the saved position
reaches the end of the file; printed are the steady RSS before the backlog, the
peak (the kernel's ``VmHWM``) of the start that caught up and of the start on an
empty log, and RSS at each tenth of the way. The reference, in the same run: mawk
counting the same file with bench/nginx.awk, its peak RSS from GNU time (``%M``).

    .venv/bin/python bench/backlog.py [SIZE_MIB]      (default 1024)

The peak does not depend on SIZE_MIB once it is a few rounds' worth (the reader holds
one chunk and its counts per minute, never the backlog), so a smaller size shows the
same profile: 1024 takes about two minutes here.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from overhead import unit_environment

ROOT = Path(__file__).resolve().parents[1]
MINUTES = 120  # the backlog spans the last two hours


def config_text(tmp: Path) -> str:
    return f"""\
state_dir: {tmp / "state"}
log:
  format: json
logs:
  nginx:
    - name: edge
      paths: [{tmp / "access.log"}]
api:
  listen: 127.0.0.1:0
"""


def minute_block(at: datetime, rng: random.Random, lines: int) -> bytes:
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    out = []
    for _ in range(lines):
        status = rng.choice((200,) * 40 + (201, 304, 404, 413, 500, 502))
        path = rng.choice(("/", "/api/items?page=2", "/api/uploads/a1", "/static/app.js"))
        method = "POST" if path.startswith("/api/uploads") else "GET"
        out.append(
            f"10.0.{rng.randrange(256)}.{rng.randrange(256)} - - [{stamp}] "
            f'"{method} {path} HTTP/1.1" {status} {rng.randrange(100, 9000)} "-" '
            f'"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"\n'
        )
    return "".join(out).encode()


def append_backlog(log: Path, size: int) -> int:
    """About ``size`` bytes of lines, minute by minute up to now; the bytes written."""
    rng = random.Random(16)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES)
    per_minute = size // MINUTES
    written = 0
    with log.open("ab") as out:
        for minute in range(MINUTES):
            block = minute_block(start + timedelta(minutes=minute), rng, 500)
            for _ in range(max(1, per_minute // len(block))):
                out.write(block)
                written += len(block)
    return written


def read_offset(state: Path) -> int:
    """Where the daemon's saved position stands in the log (0 before its first save)."""
    database = state / "calmopsd.db"
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute("SELECT max(offset) FROM log_positions").fetchone()
    return int(row[0] or 0)


def kib_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {name} in /proc/{pid}/status")


class Daemon:
    """One ``calmopsd run``; :meth:`stop` returns its peak RSS (KiB)."""

    def __init__(self, tmp: Path, config: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "calmopsd", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "daemon.log").open("ab"),  # closed with the process
            env=unit_environment(),  # as systemd/calmopsd.service runs it
        )

    def rss(self) -> int:
        return kib_field(self.proc.pid, "VmRSS")

    def stop(self) -> int:
        peak = kib_field(self.proc.pid, "VmHWM")
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return peak


def wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.5)


def mawk_peak(log: Path) -> tuple[int, float]:
    """mawk's peak RSS (KiB) and wall time counting ``log`` with bench/nginx.awk.

    Measured by GNU time (``%M``), not by our own ``wait4``: a child started from here
    begins with this process's high-water mark, which exec keeps in ``ru_maxrss``.
    """
    began = time.monotonic()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "mawk", "-f", str(ROOT / "bench" / "nginx.awk"), str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
        timeout=600,
    )
    return int(done.stderr.split()[-1]), time.monotonic() - began


def catch_up(daemon: Daemon, state: Path, size: int) -> list[tuple[float, int]]:
    """(share of the backlog read, RSS KiB) every half second until it is all read."""
    seen: list[tuple[float, int]] = []
    while not seen or seen[-1][0] < 1:
        seen.append((read_offset(state) / size, daemon.rss()))
        time.sleep(0.5)
    return seen


def run(tmp: Path, size_mib: int) -> None:
    log, state, config = tmp / "access.log", tmp / "state", tmp / "calmops.yaml"
    log.touch()
    config.write_text(config_text(tmp))
    first = Daemon(tmp, config)
    wait_until(lambda: (state / "api.address").exists(), 120)
    time.sleep(20)  # a log round has saved the position at the (empty) end
    steady = first.rss()
    empty_peak = first.stop()
    size = append_backlog(log, size_mib * 2**20)
    mawk_rss, mawk_s = mawk_peak(log)
    began = time.monotonic()
    second = Daemon(tmp, config)
    seen = catch_up(second, state, size)
    took = time.monotonic() - began
    peak = second.stop()
    profile = []
    for tenth in range(1, 11):
        at = [rss for share, rss in seen if share >= tenth / 10 - 1e-9]
        profile.append(f"{at[0] / 1024:.1f}" if at else "-")
    print(f"backlog of {size / 2**20:.0f} MiB ({size // 2**20 // MINUTES} MiB a minute)")
    print(f"calmopsd before the backlog: steady RSS {steady / 1024:.1f} MiB")
    print(f"calmopsd started on the empty log: peak RSS {empty_peak / 1024:.1f} MiB")
    print(f"calmopsd catching up ({took:.0f} s): peak RSS {peak / 1024:.1f} MiB")
    print(f"  RSS at each tenth of the backlog read (MiB): {' '.join(profile)}")
    print(
        f"reference, mawk -f bench/nginx.awk ({mawk_s:.0f} s): peak RSS {mawk_rss / 1024:.1f} MiB"
    )
    print(
        f"catch_up_peak_mib={peak / 1024:.1f} empty_start_peak_mib={empty_peak / 1024:.1f} "
        f"catch_up_over_empty_mib={(peak - empty_peak) / 1024:.1f} "
        f"mawk_peak_mib={mawk_rss / 1024:.1f}"
    )


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory(prefix="backlog-bench-") as tmp:
        run(Path(tmp), size_mib)


if __name__ == "__main__":
    main()
