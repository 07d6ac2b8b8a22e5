"""The log watcher's state: file positions and the counts read up to them.

Positions and counts are saved together, in one transaction, and replace what
was there: after a restart the watcher resumes from exactly the offsets its
counts include, so no line is counted twice or missed. Rows are few (one per
file, one per source, minute in the windows and organization), so replacing
them all each round is cheaper than working out what changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from calmopsd.model import LogBucket, LogFilePosition, LogState
from calmopsd.record.database import Database
from calmopsd.record.scope import ORGANIZATION_ID

log = structlog.get_logger("calmopsd.record.logstate")

_TOTAL = -1  # the minute under which a source's totals are stored
HEAD_MAX = 1024  # the tailer's HEAD_SIZE: a longer head was never saved (record imports no stage)
_HEAD = re.compile(r"^[0-9a-f]{64}$")

_COUNTS = (
    "requests",
    "server_errors",
    "error_lines",
    "uploads",
    "upload_failures",
    "parse_errors",
)
_POSITIONS = ("source", "device", "inode", "path", "offset", "head", "head_size", "in_long_line")


def save_log_state(database: Database, state: LogState) -> None:
    """Replace the stored state with ``state``, atomically."""
    with database.write() as tx:
        tx.db.execute("DELETE FROM log_positions")
        tx.db.execute("DELETE FROM log_counts")
        tx.db.conn.executemany(
            f"INSERT INTO log_positions ({', '.join(_POSITIONS)}) VALUES ({_marks(_POSITIONS)})",
            [
                (f.source, f.device, f.inode, f.path, f.offset, f.head, f.head_size, f.in_long_line)
                for f in state.files
            ],
        )
        columns = ("source", "minute", "organization_id", *_COUNTS)
        tx.db.conn.executemany(
            f"INSERT INTO log_counts ({', '.join(columns)}) VALUES ({_marks(columns)})",
            [_count_row(b, b.minute) for b in state.buckets]
            + [_count_row(b, _TOTAL) for b in state.totals],
        )


def load_log_state(database: Database) -> LogState:
    """The state last saved, or an empty one on a new database."""
    with database.read() as db:
        files = db.execute(f"SELECT {', '.join(_POSITIONS)} FROM log_positions").fetchall()
        counts = db.execute(
            f"SELECT source, minute, organization_id, {', '.join(_COUNTS)} FROM log_counts "
            "ORDER BY source, minute, coalesce(organization_id, '')"
        ).fetchall()
    files = _valid(files, _position_ok, "log_positions")
    buckets = [LogBucket(*row) for row in _valid(counts, _count_ok, "log_counts")]
    return LogState(
        files=tuple(
            LogFilePosition(
                source=r[0],
                device=r[1],
                inode=r[2],
                path=r[3],
                offset=r[4],
                head=r[5],
                head_size=r[6],
                in_long_line=bool(r[7]),
            )
            for r in files
        ),
        buckets=tuple(b for b in buckets if b.minute != _TOTAL),
        totals=tuple(b for b in buckets if b.minute == _TOTAL),
    )


def _valid(rows: Sequence[Any], ok: Callable[[tuple[object, ...]], bool], table: str) -> list[Any]:
    """The rows that ``ok`` accepts; each other one is dropped with a warning, so a
    tampered or corrupt row costs its own file or count, never the whole watcher."""
    kept = []
    for row in rows:
        if ok(tuple(row)):
            kept.append(row)
        else:
            log.warning("logs.state_row_dropped", table=table, row=repr(tuple(row))[:200])
    return kept


def _int(value: object, low: int = 0, high: int | None = None) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value >= low and (high is None or value <= high)


def _position_ok(row: tuple[object, ...]) -> bool:
    source, device, inode, path, offset, head, head_size, in_long_line = row
    return (
        isinstance(source, str)
        and isinstance(path, str)
        and _int(device)
        and _int(inode)
        and _int(offset)
        and _int(head_size, 0, HEAD_MAX)
        and _int(in_long_line, 0, 1)
        and isinstance(head, str)
        and (_HEAD.match(head) is not None or (head == "" and head_size == 0))
    )


def _count_ok(row: tuple[object, ...]) -> bool:
    source, minute, organization_id, *counts = row
    return bool(
        isinstance(source, str)
        and _int(minute, _TOTAL)
        and (
            organization_id is None
            or (isinstance(organization_id, str) and ORGANIZATION_ID.match(organization_id))
        )
        and all(_int(count) for count in counts)
    )


def _marks(columns: tuple[str, ...]) -> str:
    return ", ".join("?" for _ in columns)


def _count_row(bucket: LogBucket, minute: int) -> tuple[object, ...]:
    return (
        bucket.source,
        minute,
        bucket.organization_id,
        bucket.requests,
        bucket.server_errors,
        bucket.error_lines,
        bucket.uploads,
        bucket.upload_failures,
        bucket.parse_errors,
    )
