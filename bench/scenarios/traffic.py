"""Request traffic of three organizations, written as log lines the daemon reads.

A thread appends one nginx access-log line per request (``ORG_FORMAT``: combined plus
the organization header) and, when the app's log is on, the app's JSON line for the
same request (pino-like: ``time`` in epoch ms, ``level``, ``method``, ``url``,
``status``, ``org_id``; a 5xx is logged at level ``error``). Rates are Poisson per
100 ms tick, each line stamped with the wall clock as it is written, and every line
written is counted by source and minute, so a run can hold the daemon's counts to the
truth. The thread stops by itself after ``max_seconds`` or ``max_lines``.

(``tests/support/traffic.py`` feeds per-minute counts straight into the windows; these
scenarios need real lines in real files, so they are written here.)
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

ORG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_org_id"'
)
TICK_S = 0.1
PAGES = ("/", "/api/items", "/api/items/{}", "/static/app.js", "/api/search?q={}", "/login")


@dataclass(frozen=True)
class Organization:
    name: str
    per_second: float
    upload_share: float  # of its requests, POST /api/uploads/N


# 20 requests/s in all; acme is the upload-heavy tenant (3.2 uploads/s of 4.4).
ORGANIZATIONS = (
    Organization("acme", 8.0, 0.4),
    Organization("globex", 6.0, 0.1),
    Organization("initech", 6.0, 0.1),
)


@dataclass(frozen=True)
class Mix:
    """What the requests get: a 5xx share for all, and per organization for its uploads."""

    error_share: float = 0.005  # any request answered 5xx: a busy host's normal trickle
    client_failures: float = 0.003  # uploads answered 413/499 (failed uploads, not 5xx)
    upload_errors: dict[str, float] = field(default_factory=dict)  # org → uploads answered 5xx


NORMAL = Mix()


def minute_of(at: float) -> int:
    return int(at // 60)


class Traffic:
    """Appends request lines from a thread; :meth:`set` changes the mix, :meth:`rotate`
    rotates the files by rename + reopen, as logrotate and nginx's USR1 do."""

    def __init__(
        self,
        nginx: Path,
        app: Path | None = None,
        *,
        seed: int = 11,
        max_seconds: float = 600,
        max_lines: int = 400_000,
    ):
        self.paths = {"nginx": nginx, **({"app": app} if app is not None else {})}
        self.rnd = random.Random(seed)
        self.max_seconds = max_seconds
        self.max_lines = max_lines
        self.mix = NORMAL
        self.counts: Counter[tuple[str, int, str]] = Counter()  # (source, minute, what)
        self.written = 0
        self._lock = threading.Lock()
        self._files: dict[str, IO[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        for path in self.paths.values():
            path.touch()  # there before the daemon's first round, so it starts at their end

    # -- control ---------------------------------------------------------------------

    def start(self) -> None:
        for source, path in self.paths.items():
            self._files[source] = path.open("a", encoding="utf-8")
        self._thread.start()

    def set(self, mix: Mix) -> None:
        with self._lock:
            self.mix = mix

    def errors(self, share: float) -> None:
        self.set(replace(self.mix, error_share=share))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()

    def rotate(self, late_lines: int = 20) -> None:
        """Each file: ``.1`` → ``.2``, the file → ``.1``; ``late_lines`` more requests go
        to the renamed files (a writer not yet told to reopen), then the files are reopened."""
        with self._lock:
            for path in self.paths.values():
                first = path.with_name(path.name + ".1")
                if first.exists():
                    os.replace(first, path.with_name(path.name + ".2"))
                os.replace(path, first)
            for _ in range(late_lines):
                self._request(time.time())
            for source, path in self.paths.items():
                self._files[source].close()
                self._files[source] = path.open("a", encoding="utf-8")

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        started = time.monotonic()
        next_tick = started
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            with self._lock:
                if not self._files:
                    return
                now = time.time()
                for org in ORGANIZATIONS:
                    for _ in range(self._poisson(org.per_second * TICK_S)):
                        self._request(now, org)
                for handle in self._files.values():
                    handle.flush()
                if self.written >= self.max_lines:
                    return
            next_tick += TICK_S
            self._stop.wait(max(0.0, next_tick - time.monotonic()))

    def _poisson(self, mean: float) -> int:
        limit, k, p = math.exp(-mean), 0, self.rnd.random()
        while p > limit:
            k += 1
            p *= self.rnd.random()
        return k

    def _request(self, at: float, org: Organization | None = None) -> None:
        org = org or self.rnd.choice(ORGANIZATIONS)
        mix = self.mix
        upload = self.rnd.random() < org.upload_share
        roll = self.rnd.random()
        if upload:
            method, path = "POST", f"/api/uploads/{self.rnd.randrange(100_000)}"
            status = 201
            if roll < mix.upload_errors.get(org.name, 0.0) or roll > 1 - mix.error_share:
                status = self.rnd.choice((500, 502, 503))
            elif roll > 1 - mix.error_share - mix.client_failures:
                status = self.rnd.choice((413, 499))
        else:
            method, path = "GET", self.rnd.choice(PAGES).format(self.rnd.randrange(1000))
            status = self.rnd.choice((500, 502, 503, 504)) if roll < mix.error_share else 200
        self._write(at, org.name, method, path, status, upload)

    def _write(
        self, at: float, org: str, method: str, path: str, status: int, upload: bool
    ) -> None:
        stamp = datetime.fromtimestamp(at, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        line = (
            f"10.1.{self.rnd.randrange(256)}.{self.rnd.randrange(256)} - - [{stamp}] "
            f'"{method} {path} HTTP/1.1" {status} {self.rnd.randrange(100, 9000)} '
            f'"https://app.example/" "Mozilla/5.0 (X11; Linux x86_64)" "{org}"\n'
        )
        self._files["nginx"].write(line)
        self._count("nginx", at, status, upload)
        if "app" in self._files:
            record = {
                "level": "error" if status >= 500 else "info",
                "time": int(at * 1000),
                "msg": "request completed",
                "method": method,
                "url": path,
                "status": status,
                "org_id": org,
            }
            self._files["app"].write(json.dumps(record, separators=(",", ":")) + "\n")
            self._count("app", at, status, upload)
            if status >= 500:
                self.counts[("app", minute_of(at), "error_lines")] += 1
        self.written += 1

    def _count(self, source: str, at: float, status: int, upload: bool) -> None:
        minute = minute_of(at)
        self.counts[(source, minute, "requests")] += 1
        self.counts[(source, minute, "server_errors")] += status >= 500
        if upload:
            self.counts[(source, minute, "uploads")] += 1
            self.counts[(source, minute, "upload_failures")] += status >= 500 or status in (
                413,
                499,
            )

    # -- the truth -------------------------------------------------------------------

    def total(self, source: str, what: str) -> int:
        with self._lock:
            return sum(n for (s, _, w), n in self.counts.items() if s == source and w == what)

    def minute(self, source: str, minute: int, what: str) -> int:
        with self._lock:
            return self.counts[(source, minute, what)]
