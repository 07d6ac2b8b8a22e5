"""Notifications' store: where each incident's notices stand per target, and the outbox.

``notice_groups`` has one row per target and incident: the last noteworthy event
(``changed_seq``) and the last one a notice was queued for (``notified_seq``), so
what changed since is the difference, and a redelivered event changes nothing.
``notices`` is the outbox: a notice is queued in the same transaction that moves its
group, under a key made from what it reports (target, incident, kind, event seq), so
the same notice is never queued twice; it is then ``pending`` until it is ``sent``,
``given_up`` (not delivered in time) or ``dropped`` (its target was removed, or the
opening it would follow was never delivered). Sent and given-up notices are audit
events of their incident (``notice.sent``, ``notice.given_up``): the timeline shows who
was told what and when.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from calmopsd.model import AGENT
from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_time, encode_time
from calmopsd.record.database import Database, Tx
from calmopsd.record.scope import Scope

MAX_ERROR = 300  # characters of a failure's reason kept


class NoticeKind(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    REMINDER = "reminder"
    RESOLVED = "resolved"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    GIVEN_UP = "given_up"
    DROPPED = "dropped"


@dataclass(frozen=True)
class NoticeGroup:
    """Where one incident's notices to one target stand."""

    target: str
    incident_id: int
    organization_id: str | None
    first_at: datetime
    changed_seq: int
    changed_at: datetime
    resolved: bool
    notified_seq: int
    notified_at: datetime | None
    opening_id: int | None
    reminders: int
    closed: bool

    @property
    def opening_queued(self) -> bool:
        return self.opening_id is not None

    @property
    def changed_since_notified(self) -> bool:
        return self.changed_seq > self.notified_seq


@dataclass(frozen=True)
class Notice:
    """One notice in the outbox."""

    id: int
    key: str
    target: str
    incident_id: int
    organization_id: str | None
    kind: NoticeKind
    upto_seq: int
    title: str
    body: str
    status: NoticeStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    ended_at: datetime | None


_GROUP_COLUMNS = (
    "target, incident_id, organization_id, first_at, changed_seq, changed_at, resolved, "
    "notified_seq, notified_at, opening_id, reminders, closed"
)
_NOTICE_COLUMNS = (
    "id, key, target, incident_id, organization_id, kind, upto_seq, title, body, status, "
    "attempts, created_at, next_attempt_at, last_error, ended_at"
)


def note_change(
    tx: Tx,
    targets: Iterable[str],
    *,
    incident_id: int,
    organization_id: str | None,
    seq: int,
    at: datetime,
    resolved: bool | None,
) -> None:
    """An incident's noteworthy event (``seq``) for each of ``targets``: the group is made
    if new, and moved to ``seq`` unless it is there or beyond already (so a redelivered
    event changes nothing). ``resolved``: what the event says of the incident's state
    (None: nothing). A closed group opens again when the incident is no longer resolved
    (the event says so, or it says nothing and the group never saw it resolve: an
    opening that was never delivered goes afresh); one closed unnotified starts its wait
    afresh."""
    at_text = encode_time(at)
    flag = None if resolved is None else int(resolved)
    for target in targets:
        tx.db.execute(
            f"""INSERT INTO notice_groups ({_GROUP_COLUMNS})
                VALUES (:target, :incident, :org, :at, :seq, :at, coalesce(:flag, 0),
                        0, NULL, NULL, 0, 0)
                ON CONFLICT (target, incident_id) DO UPDATE SET
                    first_at = CASE WHEN closed = 1 AND opening_id IS NULL AND {_REOPENS}
                        THEN excluded.first_at ELSE first_at END,
                    closed = CASE WHEN closed = 1 AND {_REOPENS} THEN 0 ELSE closed END,
                    resolved = coalesce(:flag, resolved),
                    changed_seq = excluded.changed_seq,
                    changed_at = excluded.changed_at
                WHERE excluded.changed_seq > changed_seq""",
            {"target": target, "incident": incident_id, "org": organization_id, "at": at_text,
             "seq": seq, "flag": flag},
        )  # fmt: skip


# A closed group opens again: the event says the incident is not resolved, or says
# nothing of it and the group does not know it resolved.
_REOPENS = "(:flag = 0 OR (:flag IS NULL AND resolved = 0))"


def open_groups(database: Database, target: str) -> list[NoticeGroup]:
    """The target's groups with something still to send or to wait for."""
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_GROUP_COLUMNS} FROM notice_groups
                WHERE target = ? AND closed = 0 ORDER BY incident_id""",
            [target],
        ).fetchall()
    return [_to_group(row) for row in rows]


def get_group(database: Database, target: str, incident_id: int) -> NoticeGroup | None:
    with database.read() as db:
        row = db.execute(
            f"SELECT {_GROUP_COLUMNS} FROM notice_groups WHERE target = ? AND incident_id = ?",
            [target, incident_id],
        ).fetchone()
    return None if row is None else _to_group(row)


def queue_notice(
    database: Database,
    group: NoticeGroup,
    *,
    kind: NoticeKind,
    title: str,
    body: str,
    at: datetime,
) -> int | None:
    """Queue one notice for ``group`` and move the group past what it reports, in one
    transaction; None if the group moved meanwhile (compare-and-set on what it was) or
    the same notice was queued before."""
    key = notice_key(group, kind)
    at_text = encode_time(at)
    try:
        return _queue(database, group, kind, key, title, body, at_text)
    except _Taken:
        return None


class _Taken(Exception):
    """The notice's key was taken: its group's move is rolled back with it."""


def _queue(
    database: Database,
    group: NoticeGroup,
    kind: NoticeKind,
    key: str,
    title: str,
    body: str,
    at_text: str,
) -> int | None:
    with database.write() as tx:
        moved = tx.db.execute(
            """UPDATE notice_groups SET notified_seq = changed_seq, notified_at = ?,
                    reminders = reminders + ?, closed = ?
                WHERE target = ? AND incident_id = ? AND changed_seq = ? AND notified_seq = ?
                    AND closed = 0""",
            [
                at_text,
                int(kind is NoticeKind.REMINDER),
                int(kind is NoticeKind.RESOLVED),
                group.target,
                group.incident_id,
                group.changed_seq,
                group.notified_seq,
            ],
        ).rowcount
        if moved != 1:
            return None
        cursor = tx.db.execute(
            f"""INSERT INTO notices ({_NOTICE_COLUMNS})
                VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, NULL, NULL)
                ON CONFLICT (key) DO NOTHING""",
            [
                key,
                group.target,
                group.incident_id,
                group.organization_id,
                kind.value,
                group.changed_seq,
                title,
                body,
                at_text,
                at_text,
            ],
        )
        if cursor.rowcount != 1:
            raise _Taken(key)  # out of the transaction: the group's move is undone
        notice_id = int(cursor.lastrowid or 0)
        if kind is NoticeKind.OPENED:
            tx.db.execute(
                "UPDATE notice_groups SET opening_id = ? WHERE target = ? AND incident_id = ?",
                [notice_id, group.target, group.incident_id],
            )
    return notice_id


def notice_key(group: NoticeGroup, kind: NoticeKind) -> str:
    """What makes a notice the same notice: its target, incident, kind and the event it
    reports up to (a reminder: which reminder it is)."""
    upto = group.reminders + 1 if kind is NoticeKind.REMINDER else group.changed_seq
    return f"{group.target}:{group.incident_id}:{kind.value}:{upto}"


def close_group(database: Database, group: NoticeGroup) -> bool:
    """Nothing more to send for ``group`` as it stands (resolved before its first notice,
    or after an opening that was never delivered); False if it moved meanwhile."""
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE notice_groups SET closed = 1, notified_seq = changed_seq
                WHERE target = ? AND incident_id = ? AND changed_seq = ? AND closed = 0""",
            [group.target, group.incident_id, group.changed_seq],
        ).rowcount
    return changed == 1


def queued_since(database: Database, target: str, since: datetime) -> list[datetime]:
    """When each notice queued for ``target`` after ``since`` was queued (oldest first): what
    its hourly cap counts."""
    with database.read() as db:
        rows = db.execute(
            """SELECT created_at FROM notices WHERE target = ? AND created_at > ?
                AND status != 'dropped' ORDER BY created_at""",
            [target, encode_time(since)],
        ).fetchall()
    return [decode_time(row[0]) for row in rows]


def due_notices(database: Database, now: datetime, *, limit: int = 50) -> list[Notice]:
    """Pending notices due by ``now``, each the oldest pending one of its target and
    incident: an incident's notices reach a target in the order they were queued."""
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_NOTICE_COLUMNS} FROM notices AS n
                WHERE status = 'pending' AND next_attempt_at <= ?
                  AND NOT EXISTS (SELECT 1 FROM notices AS earlier
                      WHERE earlier.target = n.target AND earlier.incident_id = n.incident_id
                        AND earlier.status = 'pending' AND earlier.id < n.id)
                ORDER BY next_attempt_at, id LIMIT ?""",
            [encode_time(now), limit],
        ).fetchall()
    return [_to_notice(row) for row in rows]


def get_notice(database: Database, notice_id: int) -> Notice | None:
    with database.read() as db:
        row = db.execute(
            f"SELECT {_NOTICE_COLUMNS} FROM notices WHERE id = ?", [notice_id]
        ).fetchone()
    return None if row is None else _to_notice(row)


def list_notices(
    database: Database, scope: Scope, *, incident_id: int | None = None, limit: int = 100
) -> list[Notice]:
    """The newest notices this scope may see (an organization: its own incidents')."""
    where: list[str] = ["1 = 1"]
    params: list[str | int | None] = []
    if not scope.is_super_admin:
        where.append("organization_id IS ?")
        params.append(scope.organization_id)
    if incident_id is not None:
        where.append("incident_id = ?")
        params.append(incident_id)
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_NOTICE_COLUMNS} FROM notices WHERE {" AND ".join(where)}
                ORDER BY id DESC LIMIT ?""",
            [*params, limit],
        ).fetchall()
    return [_to_notice(row) for row in rows]


def mark_sent(database: Database, notice: Notice, at: datetime) -> bool:
    """``notice`` was delivered: ``sent``, with its ``notice.sent`` event; False if it was
    no longer pending (someone else ended it)."""
    return _end(database, notice, NoticeStatus.SENT, at, error=None, event="notice.sent")


def mark_failed(
    database: Database, notice: Notice, at: datetime, error: str, retry_at: datetime
) -> None:
    """One failed try: counted, its reason kept, the next try at ``retry_at``."""
    with database.write() as tx:
        tx.db.execute(
            """UPDATE notices SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                WHERE id = ? AND status = 'pending'""",
            [error[:MAX_ERROR], encode_time(retry_at), notice.id],
        )


def give_up(database: Database, notice: Notice, at: datetime, reason: str) -> bool:
    """``notice`` will never be sent (``notice.given_up``). An opening given up takes the
    incident's later notices to that target with it: a "resolved" for an incident the
    target never heard of would only confuse (they are ``dropped``)."""
    return _end(database, notice, NoticeStatus.GIVEN_UP, at, error=reason, event="notice.given_up")


def drop_notices(database: Database, notices: Sequence[Notice], at: datetime, reason: str) -> int:
    """End pending ``notices`` unsent (their target is gone); how many were still pending."""
    dropped = 0
    with database.write() as tx:
        for notice in notices:
            dropped += tx.db.execute(
                """UPDATE notices SET status = 'dropped', last_error = ?, ended_at = ?
                    WHERE id = ? AND status = 'pending'""",
                [reason[:MAX_ERROR], encode_time(at), notice.id],
            ).rowcount
    return dropped


def pending_for_targets_other_than(database: Database, kept: Iterable[str]) -> list[Notice]:
    """Pending notices whose target is not among ``kept`` (removed from the config)."""
    names = sorted(set(kept))
    marks = ", ".join("?" for _ in names)
    outside = f"AND target NOT IN ({marks})" if names else ""
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_NOTICE_COLUMNS} FROM notices WHERE status = 'pending' {outside}", names
        ).fetchall()
    return [_to_notice(row) for row in rows]


def close_group_now(database: Database, target: str, incident_id: int) -> bool:
    """Close one group whatever it stands at (its target no longer hears of it)."""
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE notice_groups SET closed = 1, notified_seq = changed_seq
                WHERE target = ? AND incident_id = ? AND closed = 0""",
            [target, incident_id],
        ).rowcount
    return changed == 1


def close_groups_of_targets_other_than(database: Database, kept: Iterable[str]) -> int:
    """Close the open groups of targets not among ``kept`` (removed from the config): one
    added back later starts afresh from its next event, never reminding of old ones."""
    names = sorted(set(kept))
    outside = f"AND target NOT IN ({', '.join('?' for _ in names)})" if names else ""
    with database.write() as tx:
        return int(
            tx.db.execute(
                f"UPDATE notice_groups SET closed = 1, notified_seq = changed_seq "
                f"WHERE closed = 0 {outside}",
                names,
            ).rowcount
        )


def delivery_counts(database: Database) -> dict[tuple[str, str], int]:
    """Notices by (target, status) since the store began: what /metrics exposes."""
    with database.read() as db:
        rows = db.execute(
            "SELECT target, status, count(*) FROM notices GROUP BY target, status"
        ).fetchall()
    return {(str(target), str(status)): int(count) for target, status, count in rows}


def _end(
    database: Database,
    notice: Notice,
    status: NoticeStatus,
    at: datetime,
    *,
    error: str | None,
    event: str,
) -> bool:
    tried = int(status is NoticeStatus.SENT)  # giving up is not a try
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE notices SET status = ?, attempts = attempts + ?, ended_at = ?,
                    last_error = coalesce(?, last_error)
                WHERE id = ? AND status = 'pending'""",
            [
                status.value,
                tried,
                encode_time(at),
                None if error is None else error[:MAX_ERROR],
                notice.id,
            ],
        ).rowcount
        if changed != 1:
            return False
        data: dict[str, Any] = {
            "target": notice.target,
            "notice_id": notice.id,
            "kind": notice.kind.value,
            "attempts": notice.attempts + tried,
        }
        if error is not None:
            data["reason"] = error[:MAX_ERROR]
        if status is NoticeStatus.GIVEN_UP and notice.kind is NoticeKind.OPENED:
            data["dropped"] = tx.db.execute(
                """UPDATE notices SET status = 'dropped', ended_at = ?,
                        last_error = 'the opening notice was never delivered'
                    WHERE target = ? AND incident_id = ? AND status = 'pending' AND id > ?""",
                [encode_time(at), notice.target, notice.incident_id, notice.id],
            ).rowcount
        append_event(
            tx,
            Scope.platform(),
            kind=event,
            actor=AGENT,
            at=at,
            data=data,
            incident_id=notice.incident_id,
        )
    return True


def _bounded(error: str | None) -> str | None:
    return None if error is None else error[:MAX_ERROR]


def _to_group(row: tuple[Any, ...]) -> NoticeGroup:
    return NoticeGroup(
        target=row[0],
        incident_id=int(row[1]),
        organization_id=row[2],
        first_at=decode_time(row[3]),
        changed_seq=int(row[4]),
        changed_at=decode_time(row[5]),
        resolved=bool(row[6]),
        notified_seq=int(row[7]),
        notified_at=None if row[8] is None else decode_time(row[8]),
        opening_id=None if row[9] is None else int(row[9]),
        reminders=int(row[10]),
        closed=bool(row[11]),
    )


def _to_notice(row: tuple[Any, ...]) -> Notice:
    return Notice(
        id=int(row[0]),
        key=row[1],
        target=row[2],
        incident_id=int(row[3]),
        organization_id=row[4],
        kind=NoticeKind(row[5]),
        upto_seq=int(row[6]),
        title=row[7],
        body=row[8],
        status=NoticeStatus(row[9]),
        attempts=int(row[10]),
        created_at=decode_time(row[11]),
        next_attempt_at=decode_time(row[12]),
        last_error=row[13],
        ended_at=None if row[14] is None else decode_time(row[14]),
    )


@dataclass(frozen=True)
class TargetTrouble:
    """A target with notices not getting through: what ``status`` tells."""

    target: str
    pending: int  # still being tried
    given_up: int  # given up since ``since``
    last_error: str | None


def troubled_targets(database: Database, since: datetime) -> list[TargetTrouble]:
    """Targets with a notice pending after a failed try, or given up since ``since``."""
    with database.read() as db:
        rows = db.execute(
            """SELECT target,
                    sum(status = 'pending' AND attempts > 0),
                    sum(status = 'given_up' AND ended_at > ?),
                    (SELECT last_error FROM notices AS n2 WHERE n2.target = notices.target
                        AND n2.last_error IS NOT NULL ORDER BY n2.id DESC LIMIT 1)
                FROM notices GROUP BY target
                HAVING sum(status = 'pending' AND attempts > 0) > 0
                    OR sum(status = 'given_up' AND ended_at > ?) > 0
                ORDER BY target""",
            [encode_time(since), encode_time(since)],
        ).fetchall()
    return [TargetTrouble(str(r[0]), int(r[1] or 0), int(r[2] or 0), r[3]) for r in rows]
