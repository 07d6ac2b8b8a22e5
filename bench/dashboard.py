"""Server time of each dashboard page on a store of 10,000 incidents and 14 days of snapshots,
against the plain JSON API route listing incidents, timed in the same run on the same store.

The store: incidents spread over twelve weeks across two organizations and the platform
(nine in ten resolved, each with its opening and status events), a
proposed safe action on one open incident, and 14 days of snapshots as the samplers
write them (memory every 30 s, disk and logs every minute, a health check every 15 s:
161,280 rows). Each page is
asked ``N`` times (default 30) through werkzeug's test client after one warm-up — the time
is the server's alone, no network — and its median and worst are printed.

    .venv/bin/python bench/dashboard.py [N]
"""

from __future__ import annotations

import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from werkzeug.test import Client

from calmopsd.clock import Clock
from calmopsd.log import configure
from calmopsd.model import AGENT, IncidentType
from calmopsd.record.codec import encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.recommendations import add_recommendation
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import TokenEntry, Tokens, digest

INCIDENTS = 10_000
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
ORGS = ("acme", "globex", None)
TYPES = list(IncidentType)
BUDGET_MS = 100.0


class Fixed(Clock):
    def now(self) -> datetime:
        return NOW


def fill(path: Path) -> tuple[int, int]:
    """The store; returns an open incident with a recommendation, and that recommendation.

    Incidents and their events are inserted in bulk (the chain's hashes are placeholders:
    the pages read the log, they do not verify it), as the daemon would have written them
    over twelve weeks; the recommendation goes through the store's own code."""
    Database.open(path).close()  # the schema
    conn = sqlite3.connect(path)
    incidents, events = [], []
    for n in range(1, INCIDENTS + 1):
        at = NOW - timedelta(weeks=12) + timedelta(seconds=n * 12 * 7 * 86400 // INCIDENTS)
        org, resolved = ORGS[n % 3], n % 10 != 0
        done = at + timedelta(minutes=5 + n % 50)
        evidence = {"breach": {"started_at": (at - timedelta(minutes=2)).isoformat()}}
        incidents.append((n, org, f"bench:{n}", TYPES[n % len(TYPES)].value, "warning",
                          "resolved" if resolved else "open", f"bench {n}", f"bench {n} summary",
                          encode_json(evidence), "recovered" if resolved else None,
                          encode_time(at), encode_time(done if resolved else at),
                          encode_time(done) if resolved else None))  # fmt: skip
        events.append((encode_time(at), n, org, "incident.opened", {"title": f"bench {n}"}))
        if resolved:
            moved = at + timedelta(minutes=3)
            events.append((encode_time(moved), n, org, "incident.status_changed",
                           {"from": "open", "to": "monitoring"}))  # fmt: skip
            end = {"from": "monitoring", "to": "resolved", "resolution": "recovered"}
            events.append((encode_time(done), n, org, "incident.status_changed", end))
    with conn:
        conn.executemany(
            "INSERT INTO incidents (id, organization_id, fingerprint, type, severity, status, "
            "title, summary, evidence, resolution, opened_at, updated_at, resolved_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            incidents,
        )
        conn.executemany(
            "INSERT INTO incident_events (at, incident_id, organization_id, kind, actor, data, "
            "prev_hash, hash) VALUES (?, ?, ?, ?, 'calmopsd', ?, '-', '-')",
            [(*e[:4], encode_json(e[4])) for e in events],
        )
    conn.close()
    database = Database.open(path)
    _snapshots(database)
    rec = add_recommendation(
        database, Scope.platform(), INCIDENTS, kind="safe_action", action="pause_jobs",
        params={}, rationale="pause the jobs", at=NOW, actor=AGENT,
        expires_at=NOW + timedelta(hours=1), preconditions={"unresolved": True},
    )  # fmt: skip
    database.close()
    return INCIDENTS, rec


def _snapshots(database: Database) -> None:
    """14 days of snapshots, written by the store's own code in one transaction."""
    logs = {"platform": {"1m": {"server_error_rate": 0.01}, "5m": {"upload_failure_rate": 0.02}},
            "organizations": {o: {"1m": {"server_error_rate": 0.01},
                                  "5m": {"upload_failure_rate": 0.03, "uploads": 40}}
                              for o in ORGS if o}}  # fmt: skip
    disk = {"mounts": {"/": {"used_percent": 70.0, "hours_until_full": None}}}
    start = NOW - timedelta(days=14)
    platform = Scope.platform()
    with database.unit():
        for second in range(0, 14 * 86400, 30):
            at = start + timedelta(seconds=second)
            memory = {"used_percent": 60.0 + (second // 30) % 40, "available_bytes": 1 << 30}
            shots = [("memory", memory)] + ([("disk", disk), ("logs", logs)] if second % 60 == 0
                                             else [])  # fmt: skip
            for half in (0, 15):  # the health check every 15 s, down one round in 97
                up = (second + half) % (97 * 15) != 0
                shots.append(("http", {"checks": {"site": {
                    "up": up, "status": 200 if up else 503, "latency_ms": 12.0 + half,
                }}}))  # fmt: skip
            for sampler, values in shots:
                add_snapshot(database, platform, sampler=sampler, taken_at=at, ok=True,
                             duration_ms=1.0, readings=values)  # fmt: skip


def timed(client: Client, path: str, count: int, headers: dict[str, str]) -> list[float]:
    spent = []
    for _ in range(count + 1):  # the first is a warm-up
        began = time.perf_counter()
        answer = client.get(path, headers=headers)
        spent.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
    return spent[1:]


def main(count: int) -> None:
    # As the daemon logs in production (JSON lines to the journal), to a sink here.
    configure("info", "json", open(os.environ.get("BENCH_LOG", os.devnull), "w"))  # noqa: SIM115, PTH123
    with tempfile.TemporaryDirectory() as where:
        path = Path(where) / "calmopsd.db"
        began = time.perf_counter()
        incident, rec = fill(path)
        print(f"store: {INCIDENTS} incidents, 14 days of snapshots, filled in "
              f"{time.perf_counter() - began:.0f} s")  # fmt: skip
        database = Database.open(path)
        tokens = Tokens([TokenEntry("bench", None, "operator", digest("bench-token"))])
        client = create_app(Operations(database, Fixed(), trace_reads=False), tokens).test_client()
        page = client.get("/ops/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/ops/login", data={"csrf": csrf, "token": "bench-token"})
        api = timed(client, "/api/ops/incidents", count, {"Authorization": "Bearer bench-token"})
        reference = statistics.median(api)
        print(f"{'GET /api/ops/incidents (reference)':58} median {reference:6.1f} ms, "
              f"worst {max(api):6.1f} ms")  # fmt: skip
        pages = ["/ops/health", "/ops/incidents", f"/ops/incidents/{incident}",
                 f"/ops/incidents/{incident}/recommendations/{rec}/approve", "/ops/history",
                 "/ops/summary", "/company/acme/ops/incidents", "/company/acme/ops/health",
                 "/company/acme/ops/history"]  # fmt: skip
        figures = []
        for path_ in pages:
            spent = timed(client, path_, count, {})
            median = statistics.median(spent)
            figures.append((path_, median, max(spent)))
            print(f"{'GET ' + path_:58} median {median:6.1f} ms, worst {max(spent):6.1f} ms, "
                  f"{median / reference:5.1f}x the API")  # fmt: skip
        slowest = max(figures, key=lambda f: f[1])
        print(f"dashboard_slowest_median_ms={slowest[1]:.1f} ({slowest[0]}) "
              f"dashboard_worst_ms={max(f[2] for f in figures):.1f} "
              f"api_incidents_median_ms={reference:.1f} "
              f"slowest_vs_api={slowest[1] / reference:.1f} "
              f"under_{BUDGET_MS:.0f}ms={all(f[1] < BUDGET_MS for f in figures)}")  # fmt: skip
        database.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
