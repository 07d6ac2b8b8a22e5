"""Which keyframe each stored snapshot is written against, and reading rows back.

Every snapshot row of one chain (sampler and organization) within one UTC hour
is written as its changes against a keyframe of that chain taken in the same
hour (``base``: the keyframe's id; a keyframe has none). So a chain starts a new
keyframe at least hourly, whenever its readings change shape, and whenever the
changes would be no smaller than the whole; and a delta's keyframe is never
more than an hour older than it, which is what lets retention remove old rows a
bucket at a time and rewrite only the next hour's rows that pointed into what
it removed (:func:`rebase`).

The writer keeps the keyframe it last used per chain, checked against the row on
each write (a primary-key lookup), so a keyframe retention rewrote or removed is
never trusted from memory.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import structlog

from calmopsd.record import check_hours
from calmopsd.record.codec import decode_json, encode_json
from calmopsd.record.frames import Frame, apply, changes

HOUR_US = 3_600_000_000

log = structlog.get_logger("calmopsd.record")

_COLUMNS = "taken_at, sampler, organization_id, ok, duration_ms, base, readings"


@dataclass(frozen=True)
class Stored:
    """One snapshot as it is written: ``taken_at`` in microseconds since the epoch."""

    taken_at: int
    sampler: str
    organization_id: str | None
    ok: bool
    duration_ms: float
    readings: Any


@dataclass(frozen=True)
class _Kept:
    id: int
    hour: int
    text: str
    frame: Frame


class Encoder:
    """Writes snapshots as changes against their chain's keyframe, on the writer's connection."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str | None], _Kept] = {}

    def insert(self, conn: sqlite3.Connection, snapshot: Stored) -> int:
        """Store ``snapshot`` (inside the caller's write transaction); return its id. A
        health check round is also counted per check and hour (availability)."""
        if snapshot.sampler == "http" and snapshot.ok:
            check_hours.count(conn, snapshot.taken_at, snapshot.organization_id, snapshot.readings)
        chain = (snapshot.sampler, snapshot.organization_id)
        hour = snapshot.taken_at // HOUR_US * HOUR_US
        whole = encode_json(snapshot.readings)
        kept = self._keyframe(conn, chain, hour)
        changed = None if kept is None else changes(kept.frame, snapshot.readings)
        text = None if changed is None else encode_json(changed)
        if kept is not None and text is not None and len(text) < len(whole):
            return _insert(conn, snapshot, kept.id, text)
        row_id = _insert(conn, snapshot, None, whole)
        self._kept[chain] = _Kept(row_id, hour, whole, Frame.of(decode_json(whole)))
        return row_id

    def _keyframe(
        self, conn: sqlite3.Connection, chain: tuple[str, str | None], hour: int
    ) -> _Kept | None:
        kept = self._kept.get(chain)
        if kept is not None and kept.hour == hour:
            row = conn.execute(
                "SELECT readings FROM health_snapshots WHERE id = ? AND base IS NULL", [kept.id]
            ).fetchone()
            if row is not None and row[0] == kept.text:
                return kept
        found = conn.execute(
            "SELECT id, readings FROM health_snapshots WHERE sampler = ? "
            "AND organization_id IS ? AND taken_at >= ? AND taken_at < ? AND base IS NULL "
            "ORDER BY taken_at DESC, id DESC LIMIT 1",
            [*chain, hour, hour + HOUR_US],
        ).fetchone()
        if found is None:
            return None
        kept = _Kept(found[0], hour, found[1], Frame.of(decode_json(found[1])))
        self._kept[chain] = kept
        return kept


def _insert(conn: sqlite3.Connection, s: Stored, base: int | None, text: str) -> int:
    cursor = conn.execute(
        f"INSERT INTO health_snapshots ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [s.taken_at, s.sampler, s.organization_id, int(s.ok), s.duration_ms, base, text],
    )
    assert cursor.lastrowid is not None  # noqa: S101  # an INSERT into a rowid table
    return cursor.lastrowid


class Decoder:
    """Turns stored rows back into readings; each keyframe is read and flattened once."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._frames: dict[int, Frame | None] = {}

    def readings(self, row_id: int, base: int | None, text: str) -> Any | None:
        """The readings of row ``row_id``; None if its keyframe is missing (never written so)."""
        if base is None:
            return decode_json(text)
        frame = self._frame(base)
        if frame is None:
            log.error("snapshot.keyframe_missing", snapshot_id=row_id, keyframe_id=base)
            return None
        return apply(frame, decode_json(text))

    def _frame(self, base: int) -> Frame | None:
        if base not in self._frames:
            row = self.conn.execute(
                "SELECT readings FROM health_snapshots WHERE id = ? AND base IS NULL", [base]
            ).fetchone()
            self._frames[base] = None if row is None else Frame.of(decode_json(row[0]))
        return self._frames[base]


def rebase(conn: sqlite3.Connection, until: int) -> int:
    """Rewrite the rows at or after ``until`` whose keyframe is older, before that goes.

    Such rows lie within the hour after ``until`` (a delta's keyframe is in its own
    hour). Per old keyframe, its first surviving delta becomes a keyframe and the
    others are written against it. Returns the number of rows rewritten.
    """
    rows = conn.execute(
        "SELECT s.id, s.base, s.readings FROM health_snapshots s "
        "JOIN health_snapshots k ON k.id = s.base "
        "WHERE s.taken_at >= ? AND s.taken_at < ? AND k.taken_at < ? "
        "ORDER BY s.base, s.taken_at, s.id",
        [until, until + HOUR_US, until],
    ).fetchall()
    decoder = Decoder(conn)
    promoted: dict[int, tuple[int, Frame]] = {}
    for row_id, base, text in rows:
        readings = decoder.readings(row_id, base, text)
        if base not in promoted:
            whole = encode_json(readings)
            conn.execute(
                "UPDATE health_snapshots SET base = NULL, readings = ? WHERE id = ?",
                [whole, row_id],
            )
            promoted[base] = (row_id, Frame.of(decode_json(whole)))
            continue
        new_base, frame = promoted[base]
        changed = changes(frame, readings)
        assert changed is not None  # noqa: S101  # one keyframe's deltas share its structure
        conn.execute(
            "UPDATE health_snapshots SET base = ?, readings = ? WHERE id = ?",
            [new_base, encode_json(changed), row_id],
        )
    return len(rows)
