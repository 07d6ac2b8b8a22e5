"""Each health check's readings per hour, counted as they are stored: availability without
decoding weeks of snapshots.

The weekly summary asks, for each check, what share of its readings said it was up. Read
from the raw snapshots that is every ``http`` reading of two weeks decoded (seconds on a
small host); counted once, when each reading is written, it is one small row per check
and hour. A failed round of the sampler says nothing of any check and is not counted,
as the summary has always judged it. The counts outlive the raw snapshots they came
from (a few hundred bytes a day), so availability needs no roll-up approximation
either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.shapes.fields import flag

HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class CheckHour:
    """One check's readings in the hour beginning at ``hour`` (µs since the epoch)."""

    check: str
    hour: int
    readings: int
    up: int


def count(
    conn: sqlite3.Connection, taken_at: int, organization_id: str | None, readings: Any
) -> None:
    """Add one ``http`` reading taken at ``taken_at`` (µs) to its hour's counts (inside the
    caller's write transaction, so a snapshot and its count are stored together)."""
    hour = taken_at // HOUR_US * HOUR_US
    for name, up in ups(readings):
        conn.execute(
            """INSERT INTO check_hours (check_name, organization, hour, readings, up)
                VALUES (?, ?, ?, 1, ?)
                ON CONFLICT (check_name, organization, hour)
                DO UPDATE SET readings = readings + 1, up = up + excluded.up""",
            [name, organization_id or "", hour, int(up)],
        )


def ups(readings: Any) -> list[tuple[str, bool]]:
    """Each check's ``up`` in an ``http`` reading, as the http shape reads it (``flag``: only
    a real boolean counts)."""
    checks = readings.get("checks") if isinstance(readings, Mapping) else None
    if not isinstance(checks, Mapping):
        return []
    found = []
    for name, result in checks.items():
        up = flag(result.get("up")) if isinstance(result, Mapping) else None
        if isinstance(name, str) and up is not None:
            found.append((name, up))
    return found


def check_hours(
    database: Database, scope: Scope, *, since_us: int, until_us: int
) -> list[CheckHour]:
    """The counted hours beginning in [``since_us``, ``until_us``) this scope may see."""
    where, params = scope.filter("organization")
    if scope.is_super_admin:
        where, params = "organization = ''", []
    with database.read() as db:
        rows = db.execute(
            f"""SELECT check_name, hour, readings, up FROM check_hours
                WHERE hour >= ? AND hour < ? AND {where} ORDER BY hour, check_name""",
            [since_us, until_us, *params],
        ).fetchall()
    return [CheckHour(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]


def hour_of(moment_us: int) -> int:
    return moment_us // HOUR_US * HOUR_US
