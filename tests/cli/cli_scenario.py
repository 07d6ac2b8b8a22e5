"""A store filled by a real scenario, for the CLI to read and decide on, and how to look at it.

The agent opens three platform incidents from scripted readings: memory (nothing
fits: a manual step is proposed), disk (clear_temp refused by its budget: the
safe action is proposed for approval) and a dependency down (pause_jobs, which
the test records in force). Snapshots hold the latest memory (ok) and pm2
(failed) readings. ``fresh`` starts ten minutes before the real now, so the
proposals have not expired when the CLI (on the system clock) decides on them.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from support.process import clean_env, write_config
from support.scenario import Scenario, ScriptedExecutor, disk, memory, probes

from calmopsd.model import Incident, Recommendation
from calmopsd.record.actions import add_active
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, connect, database_path
from calmopsd.record.head import head_path_for
from calmopsd.record.incidents import get_incident
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot

PLATFORM = Scope.platform()
CONFIG = """\
state_dir: state
log:
  format: json
api:
  listen: 127.0.0.1:0
sensing:
  pm2:
    enabled: false
"""


@dataclass(frozen=True)
class Filled:
    root: Path
    state: Path
    config: Path
    at: datetime  # the scenario's last moment
    memory: int  # incident ids
    disk: int
    dependency: int
    manual: int  # the memory incident's proposed manual step
    safe: int  # the disk incident's proposed safe action (clear_temp)
    active: int  # the pause_jobs in force for the dependency incident

    @property
    def where(self) -> tuple[str, ...]:
        return ("--config", str(self.config))

    def read(self) -> Database:
        """Query-only, beside a daemon that may hold the store."""
        path = database_path(self.state)
        return Database(path, connect(path, query_only=True))


def fill(root: Path, start: datetime) -> Filled:
    config = write_config(root / "calmops.yaml", CONFIG)
    state = root / "state"
    database = Database.open(database_path(state))
    s = Scenario(database, executor=ScriptedExecutor(clear_temp="refused"), start=start)
    s.feed("memory", memory(92), times=3)
    s.feed("disk", disk(86), times=3)
    s.feed("dependencies", probes(postgres=False), times=3)
    mem, dsk, dep = (i.id for i in s.incidents())
    manual, safe = s.recommendations(mem)[0].id, s.recommendations(dsk)[0].id
    active = add_active(
        database, PLATFORM, action="pause_jobs", target="jobs", incident_id=dep,
        organization_id=None, params={"ttl": "30m"}, undo={"apps": [], "flag_file": None},
        started_at=s.now, expires_at=s.now + timedelta(minutes=30), actor="test",
    )  # fmt: skip
    add_snapshot(database, PLATFORM, sampler="memory", taken_at=s.now, ok=True,
                 duration_ms=1.0, readings=memory(92))  # fmt: skip
    add_snapshot(database, PLATFORM, sampler="pm2", taken_at=s.now, ok=False,
                 duration_ms=1.0, readings={"error": "PM2 is not running"})  # fmt: skip
    database.close()
    return Filled(root, state, config, s.now, mem, dsk, dep, manual, safe, active)


def account() -> str:
    """Who the CLI should name: the process's own account (SUDO_UID is dropped from its env)."""
    return pwd.getpwuid(os.getuid()).pw_name


def env() -> dict[str, str]:
    return {k: v for k, v in clean_env().items() if k != "SUDO_UID"}


def incident(filled: Filled, incident_id: int) -> Incident:
    database = filled.read()
    try:
        found = get_incident(database, PLATFORM, incident_id)
    finally:
        database.close()
    assert found is not None
    return found


def recommendation(filled: Filled, rec_id: int) -> Recommendation:
    database = filled.read()
    try:
        found = get_recommendation(database, PLATFORM, rec_id)
    finally:
        database.close()
    assert found is not None
    return found


def events_by(filled: Filled, actor: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    database = filled.read()
    try:
        found = list_events(database, PLATFORM)
    finally:
        database.close()
    return [(e.kind, e.incident_id, e.data) for e in found if e.actor == actor]


def dump(filled: Filled) -> dict[str, Any]:
    """Every row of every table, and the audit head file: to show nothing changed."""
    path = database_path(filled.state)
    conn = connect(path, query_only=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]  # fmt: skip
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()
    head = head_path_for(path)
    return {"rows": rows, "head": head.read_bytes() if head.exists() else None}
