"""Roll-ups read back: every metric of a sampler's 5-minute bucket at once.

:mod:`.retention` writes ``health_rollups`` (count/min/avg/max per bucket and
series) and reads one metric at a time for a chart; a replay of old history (the
backtest) needs a whole bucket of a sampler — every metric it rolled — to stand in
for that sampler's readings of those five minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from calmopsd.record.database import Database
from calmopsd.record.retention import BUCKET
from calmopsd.record.scope import Scope


@dataclass(frozen=True)
class Aggregate:
    """One metric over one bucket: how many samples, and their min, average and max."""

    count: int
    min: float
    avg: float
    max: float


@dataclass(frozen=True)
class RollupBucket:
    """One sampler's five minutes (``start`` to ``end``), for one organization (None: the
    platform), as roll-ups keep them: each rolled metric's dotted path → its aggregate
    (``mounts./.used_percent``, ``checks.app.up``, and ``ok`` per snapshot)."""

    sampler: str
    organization_id: str | None
    start: datetime
    metrics: Mapping[str, Aggregate]

    @property
    def end(self) -> datetime:
        return self.start + BUCKET


def rollup_buckets(
    database: Database, scope: Scope, *, since: datetime, until: datetime | None = None
) -> list[RollupBucket]:
    """Every bucket starting in ``[since, until)`` this scope may see, oldest first (then
    by sampler and organization), in one read."""
    where, params = scope.filter("r.organization_id")
    bound, upto = ("", []) if until is None else ("AND h.bucket < ?", [int(until.timestamp())])
    with database.read() as db:
        rows = db.execute(
            "SELECT h.bucket, r.sampler, r.organization_id, r.metric, h.count, h.min, h.avg, "
            "h.max FROM health_rollups h JOIN health_rollup_series r ON r.id = h.series "
            f"WHERE h.bucket >= ? {bound} AND {where} "
            "ORDER BY h.bucket, r.sampler, r.organization_id, r.metric",
            [int(since.timestamp()), *upto, *params],
        ).fetchall()
    buckets: dict[tuple[int, str, str | None], dict[str, Aggregate]] = {}
    for bucket, sampler, organization, metric, count, low, avg, high in rows:
        buckets.setdefault((bucket, sampler, organization), {})[metric] = Aggregate(
            count, low, avg, high
        )
    return [
        RollupBucket(sampler, organization, datetime.fromtimestamp(bucket, UTC), metrics)
        for (bucket, sampler, organization), metrics in buckets.items()
    ]


def last_bucket_end(database: Database, scope: Scope) -> datetime | None:
    """The end of the newest bucket this scope may see (None: nothing rolled yet)."""
    where, params = scope.filter("r.organization_id")
    with database.read() as db:
        row = db.execute(
            "SELECT max(h.bucket) FROM health_rollups h "
            f"JOIN health_rollup_series r ON r.id = h.series WHERE {where}",
            params,
        ).fetchone()
    return None if row[0] is None else datetime.fromtimestamp(row[0], UTC) + BUCKET
