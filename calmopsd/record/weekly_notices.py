"""The weekly stability summary's outbox: one row per target and ISO week (``weekly_notices``).

The summary is about no one incident, so it is not a notice of ``notices`` (whose rows
are an incident's, ordered per incident); it has this small table of its own with the
same life: queued ``pending`` under its unique (target, week) — queued again, it is the
same row, so it goes at most once — then ``sent``, ``given_up`` (not delivered in time)
or ``dropped`` (its target was removed). Sent and given-up summaries are audit events
of the target's organization (``weekly_summary.sent``, ``weekly_summary.given_up``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.model import AGENT
from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_time, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

MAX_ERROR = 300
_COLUMNS = (
    "id, target, week, organization_id, title, body, status, attempts, created_at, "
    "next_attempt_at, last_error, ended_at"
)


@dataclass(frozen=True)
class WeeklyNotice:
    id: int
    target: str
    week: str
    organization_id: str | None
    title: str
    body: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    ended_at: datetime | None

    @property
    def key(self) -> str:
        """What a receiver can drop a repeat by (a crash between sending and recording)."""
        return f"{self.target}:weekly:{self.week}"


def queued(database: Database, target: str, week: str) -> bool:
    """Whether ``target``'s summary of ``week`` was queued already (whatever became of it)."""
    with database.read() as db:
        row = db.execute(
            "SELECT 1 FROM weekly_notices WHERE target = ? AND week = ?", [target, week]
        ).fetchone()
    return row is not None


def queue_weekly(
    database: Database,
    *,
    target: str,
    week: str,
    organization_id: str | None,
    title: str,
    body: str,
    at: datetime,
) -> int | None:
    """Queue ``target``'s summary of ``week``; None if it was queued before."""
    when = encode_time(at)
    with database.write() as tx:
        cursor = tx.db.execute(
            """INSERT INTO weekly_notices
                (target, week, organization_id, title, body, created_at, next_attempt_at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, week) DO NOTHING""",
            [target, week, organization_id, title, body, when, when],
        )
        return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else None


def due_weekly(database: Database, now: datetime, *, limit: int = 20) -> list[WeeklyNotice]:
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_COLUMNS} FROM weekly_notices
                WHERE status = 'pending' AND next_attempt_at <= ?
                ORDER BY next_attempt_at, id LIMIT ?""",
            [encode_time(now), limit],
        ).fetchall()
    return [_to_notice(row) for row in rows]


def list_weekly(database: Database, scope: Scope) -> list[WeeklyNotice]:
    """Every summary queued that this scope may see, oldest first."""
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM weekly_notices WHERE {where} ORDER BY id", params
        ).fetchall()
    return [_to_notice(row) for row in rows]


def mark_weekly_failed(
    database: Database, notice: WeeklyNotice, error: str, retry_at: datetime
) -> None:
    with database.write() as tx:
        tx.db.execute(
            """UPDATE weekly_notices SET attempts = attempts + 1, last_error = ?,
                    next_attempt_at = ? WHERE id = ? AND status = 'pending'""",
            [error[:MAX_ERROR], encode_time(retry_at), notice.id],
        )


def end_weekly(
    database: Database, notice: WeeklyNotice, status: str, at: datetime, error: str | None = None
) -> bool:
    """``sent`` or ``given_up``, with its audit event; False if it was no longer pending."""
    tried = int(status == "sent")  # giving up is not a try
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE weekly_notices SET status = ?, attempts = attempts + ?, ended_at = ?,
                    last_error = coalesce(?, last_error) WHERE id = ? AND status = 'pending'""",
            [status, tried, encode_time(at), _bounded(error), notice.id],
        ).rowcount
        if changed != 1:
            return False
        data: dict[str, Any] = {"target": notice.target, "week": notice.week,
                                "attempts": notice.attempts + tried}  # fmt: skip
        if error is not None:
            data["reason"] = error[:MAX_ERROR]
        append_event(tx, Scope.platform(), kind=f"weekly_summary.{status}", actor=AGENT, at=at,
                     data=data, organization_id=notice.organization_id)  # fmt: skip
    return True


def drop_weekly_of_targets_other_than(database: Database, kept: Iterable[str], at: datetime) -> int:
    """End unsent the pending summaries of targets no longer in the config."""
    names = sorted(set(kept))
    outside = f"AND target NOT IN ({', '.join('?' for _ in names)})" if names else ""
    with database.write() as tx:
        return int(
            tx.db.execute(
                f"""UPDATE weekly_notices SET status = 'dropped', ended_at = ?,
                        last_error = 'its target was removed'
                    WHERE status = 'pending' {outside}""",
                [encode_time(at), *names],
            ).rowcount
        )


def _bounded(error: str | None) -> str | None:
    return None if error is None else error[:MAX_ERROR]


def _to_notice(row: tuple[Any, ...]) -> WeeklyNotice:
    return WeeklyNotice(
        int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], int(row[7]),
        decode_time(row[8]), decode_time(row[9]), row[10],
        None if row[11] is None else decode_time(row[11]),
    )  # fmt: skip
