"""Fault scenarios against the real daemon, real PM2, real nginx (issue 11).

    .venv/bin/python bench/scenarios/run.py [names...]

Each scenario builds a fresh world (bench/scenarios/world.py), injects one fault,
reads what the daemon did from its SQLite store, prints one row, and cleans up
every process it started. A table of all rows follows at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "tests")]

import hostfaults  # noqa: E402
import logfaults  # noqa: E402
from support.process import calmopsd  # noqa: E402
from world import Timeout, World, wait_for  # noqa: E402


@dataclass
class Expect:
    """What a fitting answer looks like: the type, and words its Next: line should have."""

    type: str | None
    next_words: tuple[str, ...] = ()
    nginx: bool = False
    web: dict[str, Any] = field(default_factory=dict)
    deploy_window: str = "0s"
    scope: str = "platform"


def pm2_status(w: World, name: str) -> str:
    return ",".join(e["pm2_env"]["status"] for e in w.pm2.entries(name))


def baseline(w: World) -> None:
    w.fault()  # nothing is done: fifteen quiet seconds
    time.sleep(15)


def errored(w: World) -> None:
    # The first two starts crash: PM2 (max_restarts 2) gives up after them, and the next
    # start, calmopsd's restart, comes up. The cause is gone by itself the moment PM2 gives
    # up, so a restart calmopsd tries before this thread has seen "errored" (a busy host)
    # still finds it gone.
    (w.web.dir / "starts").unlink(missing_ok=True)
    w.web.set_mode("crash-first-2")
    w.fault()
    w.pm2.run("restart", "web")
    wait_for(lambda: pm2_status(w, "web") == "errored", "PM2 errored", 30)
    incident = w.first_incident(30)
    w.resolved(incident["id"], 60)


def crash_loop(w: World) -> None:
    w.web.set_mode("crash-later")
    w.fault()
    w.pm2.run("restart", "web")
    incident = w.first_incident(40)
    time.sleep(10)  # long enough for a restart to be tried, if calmopsd would
    w.web.set_mode("run")  # a person fixed the code; PM2's next restart comes up
    w.resolved(incident["id"], 80)


def dependency_down(w: World) -> None:
    w.fault()
    w.listener.close()
    incident = w.first_incident(30)
    wait_for(lambda: w.event_kinds("action.extended"), "the pause extended", 40)
    w.listener.open()  # down longer than the pause's first term
    w.resolved(incident["id"], 150)


def memory_leak(w: World) -> None:
    w.web.set_mode("leak")
    w.fault()
    w.pm2.run("restart", "web")
    incident = w.first_incident(40)
    w.web.set_mode("run")  # the restart calmopsd asks for then frees the memory for good
    w.resolved(incident["id"], 60)


def bad_deploy(w: World) -> None:
    w.web.set_version("1.0.1")  # a new release that crashes 1.5 s after each start
    w.web.set_mode("crash-later")
    w.fault()
    w.pm2.run("restart", "web")
    incident = w.first_incident(40)
    time.sleep(10)
    w.web.set_version("1.0.0")  # rolled back by a person
    w.web.set_mode("run")
    w.resolved(incident["id"], 80)


def deaf_app(w: World) -> None:
    w.fault()
    (w.web.dir / "deaf").touch()  # the listener closes; PM2 still says online
    incident = w.first_incident(30)
    time.sleep(15)
    if pm2_restarts(w) == 0:
        w.by_hand = "pm2 restart web by hand after 15 s"
        w.pm2.run("restart", "web")  # what the Next: line leaves to a person
    w.resolved(incident["id"], 90)


def pm2_restarts(w: World) -> int:
    return len([e for e in w.event_kinds("action.executed") if e["action"] == "pm2_restart"])


def kill9(w: World) -> None:
    w.fault()
    w.listener.close()
    incident = w.first_incident(30)
    wait_for(lambda: w.event_kinds("action.executed"), "the pause", 30)
    w.kill9_daemon()
    w.start_daemon()
    time.sleep(3)
    w.listener.open()
    w.resolved(incident["id"], 150)
    w.verify_audit()


def nothing(w: World) -> None:
    """No set-up beyond the world's own."""


@dataclass
class Scenario:
    name: str
    run: Callable[[World], None]
    expect: Expect
    timeout: int
    prepare: Callable[[World], None] = nothing  # before the daemon starts (its config)


SCENARIOS = [
    Scenario("baseline", baseline, Expect(None), 60),
    Scenario("errored_app", errored,
             Expect("app", ("log",), web={"min_uptime": 1000, "max_restarts": 2}), 120),
    Scenario("crash_loop", crash_loop,
             Expect("app", ("error", "log"), web={"min_uptime": 500, "max_restarts": 9999}), 150),
    Scenario("bad_deploy", bad_deploy,
             Expect("deploy", ("roll",), web={"min_uptime": 500, "max_restarts": 9999},
                    deploy_window="10m"), 150),
    Scenario("memory_leak", memory_leak, Expect("memory", ("memory",)), 120),
    Scenario("health_via_nginx", deaf_app, Expect("network", ("web",), nginx=True), 150),
    Scenario("health_direct", deaf_app, Expect("app", ("web",)), 150),
    Scenario("dependency_down", dependency_down, Expect("dependency", ("db",)), 240),
    Scenario("kill9_mid_incident", kill9, Expect("dependency", ("db",)), 240),
    Scenario("flapping", hostfaults.flapping, Expect("dependency", ("db",)), 180),
    Scenario("disk_filled", hostfaults.disk_filled, Expect("disk", ()), 150,
             hostfaults.prepare_disk),
    Scenario("log_baseline", logfaults.log_baseline, Expect(None), 360, logfaults.prepare),
    Scenario("blip", logfaults.blip, Expect(None), 420, logfaults.prepare),
    Scenario("burst_5xx", logfaults.burst, Expect("network", ()), 780, logfaults.prepare),
    Scenario("one_org_uploads", logfaults.one_org_uploads, Expect("upload", (), scope="acme"),
             660, logfaults.prepare_held_two),
    Scenario("log_rotation", logfaults.rotation, Expect(None), 360,
             logfaults.prepare_two_sources),
]  # fmt: skip

COLUMNS = ("scenario", "detected", "opened", "type", "scope", "actions (verified)",
           "detect s", "resolve s", "next fits", "notes")  # fmt: skip


def seconds(at: str | None, since: datetime | None) -> str:
    if at is None or since is None:
        return "-"
    return f"{(datetime.fromisoformat(at) - since).total_seconds():.1f}"


def action_cell(w: World) -> str:
    """Each action's result as the executor recorded it: a success is a verified one."""
    cells = []
    for e in w.event_kinds("action.executed", "action.refused", "action.shadowed"):
        if e["kind"] == "action.executed":
            cells.append(f"{e['action']} {e['target']}: {e['status']} ({e['detail']})")
        else:
            cells.append(f"{e['action']}: {e['kind'].split('.')[1]} ({e.get('reason', '')})")
    return "; ".join(cells) or "none"


def row(s: Scenario, w: World, error: str | None, left: list[str]) -> tuple[list[str], str]:
    incidents = w.incidents()
    expected = [i for i in incidents if i["type"] == s.expect.type]
    first = (expected or incidents or [None])[0]  # the one the times and Next: are of
    lines = w.next_lines.get(first["id"], []) if first else []
    next_line = " / ".join(lines)
    words = s.expect.next_words
    fitting = [line for line in lines if all(x in line.lower() for x in words)]
    fits = "-" if first is None else ("yes" if fitting else "no")
    notes = []
    if s.expect.type != (first["type"] if first else None):
        notes.append(f"expected {s.expect.type}")
    if first is not None and (first["org"] or "platform") != s.expect.scope:
        notes.append(f"expected scope {s.expect.scope}")
    if len(incidents) > 1:
        notes.append(
            "incidents: "
            + ", ".join(f"#{i['id']} {i['type']} {i['org'] or 'platform'}" for i in incidents)
        )
    notes += w.notes
    extended = len(w.event_kinds("action.extended"))
    if extended:
        notes.append(f"{extended} extension(s)")
    if w.by_hand:
        notes.append(w.by_hand)
    if s.run is kill9 and w.verify_rc is None:
        w.verify_audit()
    if w.verify_rc is not None:
        notes.append(f"verify-audit rc={w.verify_rc}")
    unresolved = [f"#{i['id']} {i['status']}" for i in incidents if i["status"] != "resolved"]
    if unresolved:
        notes.append("ended " + ", ".join(unresolved))
    if error:
        notes.append(error)
    if left:
        notes.append("LEFT RUNNING: " + " ".join(left))
    return [
        s.name,
        "yes" if first else "no",
        str(len(incidents)),
        ",".join(sorted({i["type"] for i in incidents})) or "-",
        ",".join(sorted({i["org"] or "platform" for i in incidents})) or "-",
        action_cell(w),
        seconds(first["opened_at"] if first else None, w.fault_at),
        seconds(first["resolved_at"] if first else None, w.fault_at),
        fits,
        "; ".join(notes),
    ], next_line


KEPT = Path(tempfile.gettempdir()) / "calmops-scenarios"


def keep(name: str, w: World) -> None:
    """Each incident's ``calmopsd show`` (its timeline) under /tmp, to read after a run."""
    KEPT.mkdir(exist_ok=True)
    for incident in w.incidents():
        shown = calmopsd("show", str(incident["id"]), "--state-dir", str(w.state))
        (KEPT / f"{name}-{incident['id']}.txt").write_text(shown.stdout + shown.stderr)


def on_alarm(signum: int, frame: FrameType | None) -> None:
    raise Timeout("hard timeout")


@dataclass
class Outcome:
    """One scenario's row, and what it was made of (for tests to assert on)."""

    cells: list[str]
    next_line: str
    incidents: list[dict[str, Any]]
    executed: list[dict[str, Any]]  # the action.executed events
    samplers: set[str]  # the samplers that stored readings
    error: str | None
    left: list[str]  # processes left running after clean-up (should be none)
    wall_s: float


def run_one(s: Scenario) -> Outcome:
    tmp = tempfile.mkdtemp(prefix=f"calmops-{s.name}-")
    try:
        return _run_in(s, tmp)
    finally:
        if not os.environ.get("SCENARIO_KEEP"):  # SCENARIO_KEEP=1 keeps the state to read
            shutil.rmtree(tmp, ignore_errors=True)


def _run_in(s: Scenario, tmp: str) -> Outcome:
    started = time.monotonic()
    w = World(Path(tmp), nginx=s.expect.nginx)
    w.deploy_window = s.expect.deploy_window
    error = None
    before = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(s.timeout)
    try:
        try:
            s.prepare(w)
            w.start(**s.expect.web)
            w.start_daemon()
            s.run(w)
        except Exception as exc:  # any failure is a row, not a crash
            error = f"{type(exc).__name__}: {exc}"
        finally:
            signal.alarm(0)
        cells, next_line = row(s, w, error, [])
        incidents, executed = w.incidents(), w.event_kinds("action.executed")
        samplers = w.samplers_seen()
        keep(s.name, w)
    finally:  # whatever failed above, nothing the scenario started is left running
        signal.signal(signal.SIGALRM, before)
        left = w.close()
    if left:
        cells[-1] = "; ".join(filter(None, [cells[-1], "LEFT RUNNING: " + " ".join(left)]))
    wall = time.monotonic() - started
    return Outcome(cells, next_line, incidents, executed, samplers, error, left, wall)


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def main(names: list[str]) -> int:
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    rows = []
    started = datetime.now(UTC)
    for s in chosen:
        outcome = run_one(s)
        rows.append(outcome.cells)
        print(" | ".join(outcome.cells), flush=True)
        print(f"    {outcome.next_line or 'Next: (none seen)'}", flush=True)
        print(f"    wall {outcome.wall_s:.0f} s", flush=True)
    print(f"\n{started:%Y-%m-%d %H:%M} UTC, {len(rows)} scenarios\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
