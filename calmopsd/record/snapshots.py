"""Health snapshots: one row per sampler per round.

Snapshots are written often, so they are not audit events; host-wide
readings are platform rows (``organization_id`` NULL) like everything else.
They are stored compactly (``record/keyframes.py``: most rows are the changes
since a keyframe, ``taken_at`` an integer of microseconds) and read back here as
the very readings the sampler produced; nothing else reads the table's columns.
"""

from __future__ import annotations

import queue
import threading
from datetime import datetime
from typing import Any

import structlog

from calmopsd.model import HealthSnapshot, Reading
from calmopsd.record.codec import decode_instant, encode_instant
from calmopsd.record.database import Database
from calmopsd.record.keyframes import Decoder, Encoder, Stored
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
    stored = Stored(encode_instant(taken_at), sampler, organization_id, ok, duration_ms, readings)
    with database.write() as tx:
        return Encoder().insert(tx.db.conn, stored)


_SELECT = (
    "SELECT s.id, s.taken_at, s.sampler, s.organization_id, s.ok, s.duration_ms, "
    "s.base, s.readings FROM health_snapshots s"
)


def latest_snapshots(database: Database, scope: Scope) -> list[HealthSnapshot]:
    """The newest snapshot of each sampler (per organization) this scope may see.

    Newest by ``taken_at`` (then id), each found through the index: the chains
    are walked one index step at a time, never by scanning the table.
    """
    where, params = scope.filter("s.organization_id")
    newest = f"""{_SELECT} WHERE s.sampler = ? AND s.organization_id IS ? AND {where}
                 ORDER BY s.taken_at DESC, s.id DESC LIMIT 1"""
    with database.read() as db:
        decoder = Decoder(db.conn)
        found = []
        for chain in chains(db):
            row = db.execute(newest, [*chain, *params]).fetchone()
            if row is not None:
                found += _to_snapshots(decoder, [row])
    return found


def chains(db: Any) -> list[tuple[str, str | None]]:
    """Every (sampler, organization) with a snapshot, in order, by skipping along the index."""
    first = (
        "SELECT sampler, organization_id FROM health_snapshots {} ORDER BY sampler, "
        "organization_id LIMIT 1"
    )
    chains: list[tuple[str, str | None]] = []
    row = db.execute(first.format("")).fetchone()
    while row is not None:
        chains.append((row[0], row[1]))
        sampler, organization = row
        if organization is None:
            row = db.execute(
                first.format("WHERE sampler = ? AND organization_id IS NOT NULL"), [sampler]
            ).fetchone()
        else:
            row = db.execute(
                first.format("WHERE sampler = ? AND organization_id > ?"), [sampler, organization]
            ).fetchone()
        row = row or db.execute(first.format("WHERE sampler > ?"), [sampler]).fetchone()
    return chains


def snapshots_since(
    database: Database, scope: Scope, *, sampler: str, since: datetime
) -> list[HealthSnapshot]:
    """One sampler's snapshots taken at or after ``since``, oldest first."""
    where, params = scope.filter("s.organization_id")
    with database.read() as db:
        rows = db.execute(
            f"{_SELECT} WHERE s.sampler = ? AND s.taken_at >= ? AND {where} "
            "ORDER BY s.taken_at, s.id",
            [sampler, encode_instant(since), *params],
        ).fetchall()
        return _to_snapshots(Decoder(db.conn), rows)


def snapshots_between(
    database: Database, scope: Scope, *, sampler: str, since: datetime, until: datetime
) -> list[HealthSnapshot]:
    """One sampler's snapshots taken in [``since``, ``until``), oldest first."""
    where, params = scope.filter("s.organization_id")
    with database.read() as db:
        rows = db.execute(
            f"{_SELECT} WHERE s.sampler = ? AND s.taken_at >= ? AND s.taken_at < ? AND {where} "
            "ORDER BY s.taken_at, s.id",
            [sampler, encode_instant(since), encode_instant(until), *params],
        ).fetchall()
        return _to_snapshots(Decoder(db.conn), rows)


def _to_snapshots(decoder: Decoder, rows: list[tuple[Any, ...]]) -> list[HealthSnapshot]:
    found = []
    for r in rows:
        readings = decoder.readings(r[0], r[6], r[7])
        if readings is not None:
            found.append(
                HealthSnapshot(
                    id=r[0],
                    taken_at=decode_instant(r[1]),
                    sampler=r[2],
                    organization_id=r[3],
                    ok=bool(r[4]),
                    duration_ms=r[5],
                    readings=readings,
                )
            )
    return found


def stored(reading: Reading, organization_id: str | None = None) -> Stored:
    """The snapshot to store for a reading (a failed reading keeps its error)."""
    readings = reading.values if reading.ok else {"error": reading.error}
    return Stored(
        encode_instant(reading.taken_at),
        reading.sampler,
        organization_id,
        reading.ok,
        round(reading.duration_ms, 3),
        readings,
    )


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
        self._encoder = Encoder()

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
                for reading in readings:
                    self._encoder.insert(tx.db.conn, stored(reading))
        except Exception as exc:  # the writer thread must outlive a bad moment of the disk
            self.dropped += len(readings)
            log.error("snapshot.write_failed", error=str(exc), dropped=len(readings))
            return
        self.written += len(readings)
