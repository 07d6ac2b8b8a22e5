"""The log-traffic scenarios: three organizations' requests written to the logs the daemon
reads (``traffic.py``), with faults in the mix of answers, and a log rotation.

Log rates are windows of whole wall-clock minutes, counted ``logs.settle`` (2 s here)
after each minute ends, and the log rules' ``for`` counts fresh windows, so each of
these runs for minutes. Each scenario ends by holding the daemon's counts to the
lines written (a note in its row when they differ).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from traffic import NORMAL, ORG_FORMAT, Mix, Traffic, minute_of
from world import World, wait_for

LOG_INTERVAL = "1s"
SETTLE_S = 2


def prepare(w: World, app_log: bool = False) -> None:
    """The logs: section and the traffic (not started) for one scenario."""
    logs = w.tmp / "logs"
    logs.mkdir()
    nginx = {"name": "nginx", "paths": [str(logs / "access.log")], "format": ORG_FORMAT,
             "organization": "http_x_org_id"}  # fmt: skip
    w.logs = {"interval": LOG_INTERVAL, "settle": f"{SETTLE_S}s", "start_at": "end",
              "nginx": [nginx]}  # fmt: skip
    if app_log:  # the app logs the same requests: its lines add error lines, not requests
        app = {"name": "app", "paths": [str(logs / "app.log")],
               "fields": {"organization": "org_id"}, "counts_requests": False}  # fmt: skip
        w.logs["apps"] = [app]
    w.traffic = Traffic(logs / "access.log", logs / "app.log" if app_log else None)


def prepare_two_sources(w: World) -> None:
    prepare(w, app_log=True)


def prepare_held_two(w: World) -> None:
    """As :func:`prepare`, with the log rules' ``for`` lowered from 3 to 2 windows: the
    5-minute window alone keeps a fault in view 5 minutes after it ends."""
    prepare(w)
    w.log_hold = 2


def traffic_of(w: World) -> Traffic:
    if w.traffic is None:
        raise RuntimeError("the scenario prepared no traffic")
    return w.traffic


def begin(w: World) -> Traffic:
    """Start the traffic once the daemon has read the (empty) logs, so it counts every line."""
    wait_for(lambda: w.snapshots("logs"), "first logs reading", 30)
    traffic_of(w).start()
    return traffic_of(w)


def sleep_until(at: float) -> None:
    time.sleep(max(0.0, at - time.time()))


def next_minute(after_s: float = 0) -> float:
    """The start of the first minute beginning at least ``after_s`` from now."""
    return (minute_of(time.time() + after_s) + 1) * 60.0


def window_read(w: World, minute: int, timeout: float) -> None:
    """Wait until the window of ``minute`` has been read (and a few readings more, so the
    agent has taken it up)."""

    def read() -> bool:
        ends = [r.get("window_end") for r in w.snapshots("logs")[-5:]]
        return any(e and datetime.fromisoformat(e).timestamp() >= (minute + 1) * 60 for e in ends)

    wait_for(read, f"window of minute {minute}", timeout)
    time.sleep(3)


def minute_rates(w: World) -> dict[int, dict[str, Any]]:
    """Each minute's platform 1m window, as the daemon last read it."""
    found: dict[int, dict[str, Any]] = {}
    for reading in w.snapshots("logs"):
        end = reading.get("window_end")
        if end:
            minute = minute_of(datetime.fromisoformat(end).timestamp()) - 1
            found[minute] = reading["platform"]["1m"]
    return found


def rates_note(w: World, minutes: range) -> str:
    rates = minute_rates(w)
    shown = []
    for m in minutes:
        one = rates.get(m)
        if one and one.get("server_error_rate") is not None:
            at = datetime.fromtimestamp(m * 60, UTC)
            shown.append(f"{at:%H:%M} {100 * one['server_error_rate']:.1f} %")
    return "5xx share by minute: " + ", ".join(shown)


def check_counts(w: World) -> None:
    """Hold the daemon's per-source totals and per-minute platform counts to the lines written."""
    t = traffic_of(w)
    t.stop()
    sources = list(t.paths)

    def totals() -> dict[str, Any] | None:
        readings = w.snapshots("logs")
        got = readings[-1]["sources"] if readings else {}
        done = all(
            got.get(s, {}).get("totals", {}).get("requests") == t.total(s, "requests")
            for s in sources
        )
        return got if done else None

    try:
        got = wait_for(totals, "every line counted", 20)
    except Exception:
        readings = w.snapshots("logs")
        got = readings[-1]["sources"] if readings else {}
    bad = [
        f"{s} {what} {got.get(s, {}).get('totals', {}).get(what)} of {t.total(s, what)}"
        for s in sources
        for what in ("requests", "server_errors", "uploads", "upload_failures")
        if got.get(s, {}).get("totals", {}).get(what) != t.total(s, what)
    ]
    minutes = sorted({m for (_, m, _) in t.counts})
    rates = minute_rates(w)
    for m in minutes:
        one = rates.get(m)
        if one is None:
            continue  # the last minute may end after the run
        wanted = {"requests": t.minute("nginx", m, "requests"),
                  "server_errors": t.minute("nginx", m, "server_errors"),
                  "error_lines": t.minute("app", m, "error_lines")}  # fmt: skip
        bad += [
            f"{datetime.fromtimestamp(m * 60, UTC):%H:%M} platform {k} {one[k]} of {v}"
            for k, v in wanted.items()
            if one[k] != v
        ]
    checked = len([m for m in minutes if m in rates])
    if bad:
        w.notes.append("COUNTS DIFFER: " + "; ".join(bad[:6]))
    else:
        written = ", ".join(f"{s} {t.total(s, 'requests')}" for s in sources)
        w.notes.append(f"counts exact ({written} lines; {checked} minutes)")


# -- the scenarios -----------------------------------------------------------------------


def log_baseline(w: World) -> None:
    """Four minutes of normal busy traffic: 20 req/s, 0.5 % 5xx, uploads failing 0.8 %."""
    begin(w)
    w.fault()
    time.sleep(240)
    w.notes.append(worst_note(w))
    check_counts(w)


def worst_note(w: World) -> str:
    rates = [r for r in minute_rates(w).values() if r.get("server_error_rate") is not None]
    if not rates:
        return "no minute read"
    worst = max(rates, key=lambda r: r["server_error_rate"])
    return (
        f"worst minute {100 * worst['server_error_rate']:.1f} % 5xx of {worst['requests']} "
        f"over {len(rates)} minutes"
    )


def blip(w: World) -> None:
    """40 % 5xx for 20 s from :50 to :10, so it touches two minute windows (the worst
    case for `for: 3`); then until the second window after it is judged."""
    traffic = begin(w)
    sleep_until(next_minute(after_s=70) - 10)  # a minute of normal traffic first
    w.fault()
    first = minute_of(time.time())
    traffic.errors(0.4)
    time.sleep(20)
    traffic.set(NORMAL)
    window_read(w, first + 3, 240)
    w.notes.append(rates_note(w, range(first - 1, first + 4)))
    check_counts(w)


def burst(w: World) -> None:
    """20 % 5xx across all three organizations (their uploads too) from a minute's start
    until an incident opens; then normal traffic until every incident resolves."""
    traffic = begin(w)
    sleep_until(next_minute(after_s=10) + 1)
    w.fault()
    first = minute_of(time.time())
    traffic.errors(0.2)
    try:
        w.first_incident(300)
    finally:
        traffic.set(NORMAL)
    last = minute_of(time.time())
    wait_for(all_resolved(w), "every incident resolved", 480)
    w.notes.append(rates_note(w, range(first, last + 1)))
    check_counts(w)


def one_org_uploads(w: World) -> None:
    """acme's uploads (3.2/s of the host's 4.4) answered 5xx half the time from a minute's
    start until an incident opens (and 10 s more, so every rule had the same minutes);
    then normal traffic until every incident resolves."""
    traffic = begin(w)
    sleep_until(next_minute(after_s=10) + 1)
    w.fault()
    traffic.set(Mix(upload_errors={"acme": 0.5}))
    try:
        w.first_incident(300)
        time.sleep(10)
    finally:
        traffic.set(NORMAL)
    wait_for(all_resolved(w), "every incident resolved", 420)
    check_counts(w)


def all_resolved(w: World) -> Any:
    def done() -> bool:
        found = w.incidents()
        return bool(found) and all(i["status"] == "resolved" for i in found)

    return done


def rotation(w: World) -> None:
    """Normal traffic to the nginx log and the app's JSON log (``counts_requests: false``);
    both rotated by rename + reopen after 60 s and again after 120 s, 20 requests
    written to the renamed files each time; 60 s more."""
    traffic = begin(w)
    w.fault()
    for _ in range(2):
        time.sleep(60)
        traffic.rotate()
    time.sleep(60)
    rotated = [p.name for p in sorted(w.tmp.joinpath("logs").iterdir())]
    w.notes.append("files: " + " ".join(rotated))
    check_counts(w)
