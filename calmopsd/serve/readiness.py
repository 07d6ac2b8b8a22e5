"""Whether calmopsd is doing its job, check by check: for ``/-/ready`` and ``calmopsd status``.

Ready means: the store answers, the scheduler runs, no sampler's reading is stale,
and the last config load applied. A reading is *stale* when it is older than
:data:`STALE_AFTER` intervals of its sampler plus the sampler's timeout (a round
that hangs ends as a failure reading after its timeout; the next one is due an
interval later): two missed rounds and the third late. A sampler that has no
reading yet is stale once that long has passed since its config applied.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from calmopsd.record.database import Database
from calmopsd.record.loads import Cadence, Load

STALE_AFTER = 3  # intervals


@dataclass(frozen=True)
class Check:
    """One part of readiness: its name, whether it holds, and what was found."""

    name: str
    ok: bool
    detail: str


def stale(
    taken: Mapping[str, datetime],
    sampling: Mapping[str, Cadence],
    now: datetime,
    since: datetime | None,
) -> list[str]:
    """The scheduled samplers whose latest reading (``taken``) is too old, by name.

    ``since``: when their config applied (a sampler with no reading yet is judged
    from then); None: unknown, and a sampler without a reading is not judged.
    """
    found = []
    for name, cadence in sorted(sampling.items()):
        limit = STALE_AFTER * cadence.interval_s + cadence.timeout_s
        last = taken.get(name) or since
        if last is not None and (now - last).total_seconds() > limit:
            found.append(name)
    return found


def store_check(database: Database) -> Check:
    """The store answers a read (closed, gone or broken: it does not)."""
    try:
        with database.read() as db:
            db.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()
    except sqlite3.Error:
        return Check("store", False, "the database cannot be read")
    return Check("store", True, "ok")


def scheduler_check(running: bool) -> Check:
    return Check("scheduler", running, "ok" if running else "not running")


def readings_check(stale_samplers: list[str]) -> Check:
    if stale_samplers:
        return Check("readings", False, "stale: " + ", ".join(stale_samplers))
    return Check("readings", True, "ok")


def config_check(load: Load | None) -> Check:
    """The last config load applied; a rejected reload keeps the daemon on its old config,
    which is not ready: the file on disk is not what runs."""
    if load is None or load.ok:
        return Check("config", True, "ok")
    applied = f"; running on the config loaded at {_when(load.loaded_at)}" if load.loaded_at else ""
    return Check("config", False, f"the reload at {_when(load.at)} failed{applied}")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
