"""The store, read for a replay: the history as one time-ordered stream, and the real
incidents with what the audit chain says of them.

Snapshots are read only through :mod:`calmopsd.record.snapshots` (``snapshots_since``,
one sampler at a time, merged here by time) and roll-ups through
:mod:`calmopsd.record.rollups`, so how they are stored is theirs to change.
Nothing here writes: the CLI hands in a store opened with query-only connections.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from calmopsd.backtest.replay import Observed, observed_at
from calmopsd.config.rules import Sampler
from calmopsd.model import MANUAL_FINGERPRINT, HealthSnapshot, Incident, Reading
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database
from calmopsd.record.incidents import list_incidents
from calmopsd.record.rollups import last_bucket_end, rollup_buckets
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import latest_snapshots, snapshots_since

SAMPLERS: tuple[str, ...] = get_args(Sampler)  # every sampler a rule or classification reads
HELPED = "succeeded"  # an action.executed status that changed the host as meant


@dataclass(frozen=True)
class RealIncident:
    """An incident as the store has it, with the rule that opened it (from its evidence;
    None when it does not say) and whether an action of calmopsd's worked on it."""

    id: int
    organization_id: str | None
    fingerprint: str
    type: str
    rule: str | None
    opened_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    flaps: int
    helped: bool

    @property
    def key(self) -> tuple[str | None, str]:
        return self.organization_id, self.fingerprint


def history_end(database: Database, scope: Scope) -> datetime | None:
    """The time of the newest thing stored (snapshot, or roll-up bucket's end): "now"
    for a backtest, which never reads the clock. None: nothing stored."""
    times = [s.taken_at for s in latest_snapshots(database, scope)]
    rolled = last_bucket_end(database, scope)
    if rolled is not None:
        times.append(rolled)
    return max(times, default=None)


def observed(
    database: Database, scope: Scope, *, since: datetime, until: datetime
) -> Iterator[Observed]:
    """Roll-up buckets and raw readings from ``since`` to ``until`` (both included),
    oldest first (a bucket before a raw reading of the same moment)."""
    buckets = rollup_buckets(database, scope, since=since, until=until)
    raw = [
        [
            reading_of(s)
            for s in snapshots_since(database, scope, sampler=name, since=since)
            if s.taken_at <= until
        ]
        for name in SAMPLERS
    ]
    return heapq.merge(buckets, *raw, key=lambda item: (observed_at(item), _order(item)))


def _order(item: Observed) -> int:
    return 1 if isinstance(item, Reading) else 0


def reading_of(snapshot: HealthSnapshot) -> Reading:
    """A stored snapshot as the reading the sampler took (a failed one keeps its error)."""
    if snapshot.ok:
        return Reading(
            snapshot.sampler, snapshot.taken_at, True, snapshot.duration_ms, snapshot.readings
        )
    error = str(snapshot.readings.get("error", "failed"))
    return Reading(snapshot.sampler, snapshot.taken_at, False, snapshot.duration_ms, {}, error)


def real_incidents(
    database: Database, scope: Scope, *, since: datetime, until: datetime
) -> list[RealIncident]:
    """Incidents calmopsd opened that were unresolved at some time in ``[since, until]``,
    oldest first; those a person opened (``manual:``) are not a rule's to compare."""
    found = [
        i
        for i in list_incidents(database, scope)
        if not i.fingerprint.startswith(MANUAL_FINGERPRINT)
        and i.opened_at <= until
        and (i.resolved_at is None or i.resolved_at >= since)
    ]
    return sorted((_real(database, scope, i) for i in found), key=lambda r: (r.opened_at, r.id))


def manual_incidents(database: Database, scope: Scope, *, since: datetime, until: datetime) -> int:
    """How many incidents people opened in the window (told, not compared)."""
    return sum(
        1
        for i in list_incidents(database, scope)
        if i.fingerprint.startswith(MANUAL_FINGERPRINT) and since <= i.opened_at <= until
    )


def _real(database: Database, scope: Scope, incident: Incident) -> RealIncident:
    events = list_events(database, scope, incident_id=incident.id)
    helped = any(e.kind == "action.executed" and e.data.get("status") == HELPED for e in events)
    breach = incident.evidence.get("breach")
    rule = breach.get("rule") if isinstance(breach, dict) else None
    return RealIncident(
        incident.id,
        incident.organization_id,
        incident.fingerprint,
        str(incident.type),
        rule if isinstance(rule, str) else None,
        incident.opened_at,
        incident.resolved_at,
        incident.resolution,
        incident.flaps,
        helped,
    )
