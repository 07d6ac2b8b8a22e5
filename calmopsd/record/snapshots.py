"""Health snapshots: one row per sampler per round.

Snapshots are written often, so they are not audit events; host-wide
readings are platform rows (``organization_id`` NULL) like everything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calmopsd.model import HealthSnapshot
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope


def add_snapshot(
    database: Database,
    scope: Scope,
    *,
    sampler: str,
    taken_at: datetime,
    ok: bool,
    duration_ms: float,
    readings: dict[str, Any],
    organization_id: str | None = None,
) -> int:
    """Store one snapshot; an organization scope's snapshots default to its organization."""
    if not scope.is_super_admin:
        organization_id = organization_id or scope.organization_id
    scope.check_writes(organization_id)
    with database.write() as tx:
        return tx.insert(
            "health_snapshots",
            {
                "taken_at": encode_time(taken_at),
                "sampler": sampler,
                "organization_id": organization_id,
                "ok": int(ok),
                "duration_ms": duration_ms,
                "readings": encode_json(readings),
            },
        )


def latest_snapshots(database: Database, scope: Scope) -> list[HealthSnapshot]:
    """The newest snapshot of each sampler (per organization) this scope may see."""
    where, params = scope.filter("s.organization_id")
    sql = f"""SELECT s.id, s.taken_at, s.sampler, s.organization_id, s.ok, s.duration_ms,
                     s.readings
              FROM health_snapshots s
              WHERE {where} AND s.id = (
                  SELECT max(id) FROM health_snapshots t
                  WHERE t.sampler = s.sampler
                    AND t.organization_id IS s.organization_id)
              ORDER BY s.sampler, s.organization_id"""
    with database.read() as db:
        rows = db.execute(sql, params).fetchall()
    return [
        HealthSnapshot(
            id=r[0],
            taken_at=decode_time(r[1]),
            sampler=r[2],
            organization_id=r[3],
            ok=bool(r[4]),
            duration_ms=r[5],
            readings=decode_json(r[6]),
        )
        for r in rows
    ]
