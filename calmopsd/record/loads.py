"""What the daemon last loaded, as its audit events tell it: the config's outcome and cadence.

The daemon audits every config it loads: ``daemon.started`` (the config read at
start), ``config.reloaded`` (a SIGHUP that applied) and ``config.reload_rejected``
(one that did not: the daemon runs on in its previous config). The first two carry
``sampling``, each scheduled sampler's interval and timeout, so the CLI on the store
can tell a stale reading from a slow sampler without reading a config file that may
have changed since. Read here for ``/-/ready``, ``/metrics`` and ``calmopsd status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calmopsd.record.codec import decode_json, decode_time
from calmopsd.record.database import Database

STARTED = "daemon.started"
RELOADED = "config.reloaded"
REJECTED = "config.reload_rejected"
LOADED = (STARTED, RELOADED)
LOAD_KINDS = (*LOADED, REJECTED)


@dataclass(frozen=True)
class Cadence:
    """How often a sampler runs, and how long one round may take (0: no bound)."""

    interval_s: float
    timeout_s: float = 0.0

    def to_data(self) -> dict[str, float]:
        return {"interval_s": self.interval_s, "timeout_s": self.timeout_s}

    @classmethod
    def parse(cls, value: object) -> Cadence | None:
        """The cadence in an event's data; None for anything else (never raises)."""
        if not isinstance(value, dict):
            return None
        interval, timeout = value.get("interval_s"), value.get("timeout_s", 0.0)
        if not isinstance(interval, int | float) or not isinstance(timeout, int | float):
            return None
        if isinstance(interval, bool) or isinstance(timeout, bool) or interval <= 0 or timeout < 0:
            return None
        return cls(float(interval), float(timeout))


@dataclass(frozen=True)
class Load:
    """The newest load event (``seq``, ``kind``, ``at``) and the newest that applied."""

    seq: int
    kind: str
    at: datetime
    loaded_at: datetime | None  # the newest config that applied (None: none recorded)
    sampling: Mapping[str, Cadence] = field(default_factory=dict)  # as that config scheduled

    @property
    def ok(self) -> bool:
        return self.kind in LOADED


def sampling_data(cadences: Mapping[str, Cadence]) -> dict[str, dict[str, float]]:
    """``cadences`` as the ``sampling`` field of a load event."""
    return {name: cadence.to_data() for name, cadence in sorted(cadences.items())}


def last_load(database: Database, known: Load | None = None) -> Load | None:
    """The newest load event, or ``known`` if none came after it.

    Passing the previous answer keeps each call to the events appended since it
    (``incident_events`` has no index on ``kind``; its primary key bounds the scan).
    """
    after = known.seq if known is not None else 0
    newest = _newest(database, LOAD_KINDS, after)
    if newest is None:
        return known
    seq, kind, at, data = newest
    if kind in LOADED:
        return Load(seq, kind, at, at, _sampling(data))
    # A rejection: the config running is the newest that applied, since ``known`` or before.
    applied = _newest(database, LOADED, after)
    if applied is not None:
        return Load(seq, kind, at, applied[2], _sampling(applied[3]))
    if known is not None:
        return Load(seq, kind, at, known.loaded_at, known.sampling)
    return Load(seq, kind, at, None)


def _newest(
    database: Database, kinds: tuple[str, ...], after: int
) -> tuple[int, str, datetime, Any] | None:
    marks = ",".join("?" * len(kinds))
    with database.read() as db:
        row = db.execute(
            f"""SELECT seq, kind, at, data FROM incident_events
                WHERE seq > ? AND kind IN ({marks}) AND incident_id IS NULL
                  AND organization_id IS NULL
                ORDER BY seq DESC LIMIT 1""",
            [after, *kinds],
        ).fetchone()
    if row is None:
        return None
    return int(row[0]), str(row[1]), decode_time(row[2]), decode_json(row[3])


def _sampling(data: Any) -> dict[str, Cadence]:
    found = data.get("sampling") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return {}
    parsed = {str(name): Cadence.parse(value) for name, value in found.items()}
    return {name: cadence for name, cadence in parsed.items() if cadence is not None}
