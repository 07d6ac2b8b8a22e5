"""Health snapshots: one row per sampler per round.

Snapshots are written often, so they are not audit events; host-wide
readings are platform rows (``organization_id`` NULL) like everything else.
"""

from __future__ import annotations

import queue
import threading
from datetime import datetime
from typing import Any

import structlog

from calmopsd.model import HealthSnapshot, Reading
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.record")


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
    return [_to_snapshot(r) for r in rows]


def snapshots_since(
    database: Database, scope: Scope, *, sampler: str, since: datetime
) -> list[HealthSnapshot]:
    """One sampler's snapshots taken at or after ``since``, oldest first."""
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"""SELECT id, taken_at, sampler, organization_id, ok, duration_ms, readings
                FROM health_snapshots WHERE sampler = ? AND taken_at >= ? AND {where}
                ORDER BY taken_at""",
            [sampler, encode_time(since), *params],
        ).fetchall()
    return [_to_snapshot(r) for r in rows]


def _to_snapshot(r: tuple[Any, ...]) -> HealthSnapshot:
    return HealthSnapshot(
        id=r[0],
        taken_at=decode_time(r[1]),
        sampler=r[2],
        organization_id=r[3],
        ok=bool(r[4]),
        duration_ms=r[5],
        readings=decode_json(r[6]),
    )


def snapshot_row(reading: Reading, organization_id: str | None = None) -> dict[str, Any]:
    """The health_snapshots row for a reading (a failed reading keeps its error)."""
    readings = reading.values if reading.ok else {"error": reading.error}
    return {
        "taken_at": encode_time(reading.taken_at),
        "sampler": reading.sampler,
        "organization_id": organization_id,
        "ok": int(reading.ok),
        "duration_ms": round(reading.duration_ms, 3),
        "readings": encode_json(readings),
    }


class SnapshotWriter:
    """Stores readings on a thread of its own, so sampling never waits for the database.

    :meth:`submit` never blocks: when the queue is full (the database stalled
    for a long time) the reading is dropped, counted and logged, and sampling
    goes on. Readings queued together are written in one transaction.
    """

    BATCH = 500

    def __init__(self, database: Database, capacity: int = 10_000):
        self.database = database
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[Reading | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="snapshot-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, reading: Reading) -> bool:
        try:
            self._queue.put_nowait(reading)
        except queue.Full:
            self.dropped += 1
            log.warning("snapshot.dropped", sampler=reading.sampler, dropped=self.dropped)
            return False
        return True

    def stop(self, timeout_s: float) -> bool:
        """Write what is queued, then stop; False if that took longer than ``timeout_s``."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return False
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            readings = [r for r in batch if r is not None]
            if readings:
                self._write(readings)
            if batch[-1] is None:
                return

    def _write(self, readings: list[Reading]) -> None:
        try:
            with self.database.write() as tx:
                tx.db.table("health_snapshots").insert_all(snapshot_row(r) for r in readings)
        except Exception as exc:  # the writer thread must outlive a bad moment of the disk
            self.dropped += len(readings)
            log.error("snapshot.write_failed", error=str(exc), dropped=len(readings))
            return
        self.written += len(readings)
