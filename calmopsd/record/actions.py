"""What the executor keeps: runs counted from the audit log, and reversible actions in force.

Budgets and cooldowns are counted from ``incident_events`` (``action.intent``,
written before anything runs, and in shadow mode ``action.shadowed``), never
from memory, so neither a config reload, a daemon restart nor a crash mid-run
resets them. An action in force is undone from the record kept here, which the
hashed ``action.in_force`` event vouches for (:func:`undo_digest`); its extensions
are ``action.extended`` events, counted from the log like the runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

# An intent is written before anything runs, so a run cut short by a crash still counts.
RUN_KINDS = ("action.intent", "action.shadowed")
REAL_RUN_KINDS = ("action.intent",)


@dataclass(frozen=True)
class ActiveAction:
    id: int
    action: str
    target: str
    incident_id: int | None
    organization_id: str | None
    params: dict[str, Any]
    undo: dict[str, Any]
    started_at: datetime
    expires_at: datetime
    reverted_at: datetime | None = None
    reverted_by: str | None = None
    revert_outcome: str | None = None


def runs_since(
    database: Database,
    action: str,
    target: str,
    since: datetime,
    kinds: tuple[str, ...] = RUN_KINDS,
    *,
    dry_runs: bool = True,
) -> list[datetime]:
    """When ``action`` ran (with :data:`RUN_KINDS`, or in shadow would have run) on
    ``target`` since ``since``; without ``dry_runs``, runs made in dry-run mode are not
    counted."""
    dry = "" if dry_runs else "AND coalesce(json_extract(data, '$.dry_run'), 0) = 0"
    with database.read() as db:
        rows = db.execute(
            f"""SELECT at FROM incident_events
                WHERE kind IN ({",".join("?" * len(kinds))}) AND at >= ?
                  AND json_extract(data, '$.action') = ? AND json_extract(data, '$.target') = ?
                  {dry}
                ORDER BY at""",
            [*kinds, encode_time(since), action, target],
        ).fetchall()
    return [decode_time(row[0]) for row in rows]


def worked_since(database: Database, incident_id: int, since: datetime) -> list[str]:
    """Actions that ran and were verified for this incident since ``since``."""
    with database.read() as db:
        rows = db.execute(
            """SELECT DISTINCT json_extract(data, '$.action') FROM incident_events
                WHERE kind = 'action.executed' AND incident_id = ? AND at >= ?
                  AND json_extract(data, '$.status') = 'succeeded'""",
            [incident_id, encode_time(since)],
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def is_ineffective(database: Database, incident_id: int, action: str) -> bool:
    """Whether ``action`` was marked ineffective for this incident."""
    with database.read() as db:
        row = db.execute(
            """SELECT 1 FROM incident_events WHERE kind = 'action.ineffective'
                AND incident_id = ? AND json_extract(data, '$.action') = ? LIMIT 1""",
            [incident_id, action],
        ).fetchone()
    return row is not None


def undo_digest(undo: dict[str, Any]) -> str:
    """SHA-256 of the undo record's canonical JSON: kept in the hash-chained event."""
    canonical = json.dumps(undo, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_undo_digest(database: Database, active_id: int) -> str | None:
    """The undo digest the audit log holds for action ``active_id`` (None: no such event)."""
    with database.read() as db:
        row = db.execute(
            """SELECT json_extract(data, '$.undo_sha256') FROM incident_events
                WHERE kind = 'action.in_force' AND json_extract(data, '$.id') = ?
                ORDER BY seq LIMIT 1""",
            [active_id],
        ).fetchone()
    return str(row[0]) if row and row[0] else None


def add_active(
    database: Database,
    scope: Scope,
    *,
    action: str,
    target: str,
    incident_id: int | None,
    organization_id: str | None,
    params: dict[str, Any],
    undo: dict[str, Any],
    started_at: datetime,
    expires_at: datetime,
    actor: str,
) -> int:
    """Persist a reversible action in force (and an ``action.in_force`` event)."""
    row = {
        "action": action,
        "target": target,
        "incident_id": incident_id,
        "organization_id": organization_id,
        "params": encode_json(params),
        "undo": encode_json(undo),
        "started_at": encode_time(started_at),
        "expires_at": encode_time(expires_at),
    }
    with database.write() as tx:
        active_id = tx.insert("active_actions", row)
        append_event(
            tx, scope, kind="action.in_force", actor=actor, at=started_at,
            incident_id=incident_id,
            data={"id": active_id, "action": action, "target": target,
                  "expires_at": row["expires_at"], "undo_sha256": undo_digest(undo)},
        )  # fmt: skip
    return active_id


def list_active(database: Database, *, due_by: datetime | None = None) -> list[ActiveAction]:
    """Reversible actions still in force (only those expired by ``due_by``, if given)."""
    with database.read() as db:
        rows = db.execute("SELECT * FROM active_actions WHERE reverted_at IS NULL ORDER BY id")
        found = [_to_active(dict(zip([c[0] for c in rows.description], r, strict=True)))
                 for r in rows.fetchall()]  # fmt: skip
    # Compared here, not in SQL: an unreadable expiry must count as passed.
    return [a for a in found if due_by is None or a.expires_at <= due_by]


def get_active(database: Database, active_id: int) -> ActiveAction | None:
    with database.read() as db:
        cursor = db.execute("SELECT * FROM active_actions WHERE id = ?", [active_id])
        row = cursor.fetchone()
        if row is None:
            return None
        return _to_active(dict(zip([c[0] for c in cursor.description], row, strict=True)))


def mark_reverted(
    database: Database,
    scope: Scope,
    active: ActiveAction,
    *,
    at: datetime,
    actor: str,
    ok: bool,
    detail: str,
    data: dict[str, Any] | None = None,
) -> bool:
    """Record the end of an action in force; False if it was already reverted (compare-and-set)."""
    outcome = "succeeded" if ok else "failed"
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE active_actions SET reverted_at = ?, reverted_by = ?, revert_outcome = ?
                WHERE id = ? AND reverted_at IS NULL""",
            [encode_time(at), actor, outcome, active.id],
        ).rowcount
        if changed != 1:
            return False
        append_event(
            tx, scope, kind="action.reverted", actor=actor, at=at, incident_id=active.incident_id,
            data={"id": active.id, "action": active.action, "target": active.target,
                  "status": outcome, "detail": detail, **(data or {})},
        )  # fmt: skip
    return True


def extend_active(
    database: Database,
    scope: Scope,
    active: ActiveAction,
    *,
    at: datetime,
    expires_at: datetime,
    actor: str,
    data: dict[str, Any],
) -> bool:
    """Move the expiry of an action still in force (and an ``action.extended`` event);
    False if it was reverted meanwhile (compare-and-set: a person's revert wins)."""
    with database.write() as tx:
        changed = tx.db.execute(
            "UPDATE active_actions SET expires_at = ? WHERE id = ? AND reverted_at IS NULL",
            [encode_time(expires_at), active.id],
        ).rowcount
        if changed != 1:
            return False
        append_event(
            tx, scope, kind="action.extended", actor=actor, at=at, incident_id=active.incident_id,
            data={"id": active.id, "action": active.action, "target": active.target,
                  "expires_at": encode_time(expires_at), **data},
        )  # fmt: skip
    return True


def count_events(database: Database, kind: str, active_id: int) -> int:
    """How many ``kind`` events the audit log holds for action in force ``active_id``
    (``action.extended``: how often it was extended)."""
    with database.read() as db:
        row = db.execute(
            """SELECT count(*) FROM incident_events
                WHERE kind = ? AND json_extract(data, '$.id') = ?""",
            [kind, active_id],
        ).fetchone()
    return int(row[0])


def first_term(database: Database, active: ActiveAction) -> timedelta | None:
    """How long ``active`` was first kept in force, from its hash-chained ``action.in_force``
    event (None: no such event, or an unreadable expiry)."""
    with database.read() as db:
        row = db.execute(
            """SELECT json_extract(data, '$.expires_at') FROM incident_events
                WHERE kind = 'action.in_force' AND json_extract(data, '$.id') = ?
                ORDER BY seq LIMIT 1""",
            [active.id],
        ).fetchone()
    first = _time(row[0], LONG_AGO) if row else LONG_AGO
    return first - active.started_at if first > active.started_at else None


def was_extended(database: Database, incident_id: int, action: str) -> bool:
    """Whether ``action`` was extended (or its extensions spent) for this incident."""
    with database.read() as db:
        row = db.execute(
            """SELECT 1 FROM incident_events
                WHERE kind IN ('action.extended', 'action.extension_spent')
                  AND incident_id = ? AND json_extract(data, '$.action') = ? LIMIT 1""",
            [incident_id, action],
        ).fetchone()
    return row is not None


def _time(value: Any, fallback: datetime) -> datetime:
    """A stored time, or ``fallback`` when it cannot be read (a hand edit, another version)."""
    try:
        return decode_time(value)
    except (TypeError, ValueError):
        return fallback


LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def _to_active(row: dict[str, Any]) -> ActiveAction:
    # An unreadable expiry counts as passed: a temporary measure with no readable end ends now.
    expires = _time(row["expires_at"], LONG_AGO)
    return ActiveAction(
        id=row["id"],
        action=row["action"],
        target=row["target"],
        incident_id=row["incident_id"],
        organization_id=row["organization_id"],
        params=decode_json(row["params"]),
        undo=_undo(row["undo"]),
        started_at=_time(row["started_at"], expires),
        expires_at=expires,
        reverted_at=_time(row["reverted_at"], LONG_AGO) if row["reverted_at"] else None,
        reverted_by=row["reverted_by"],
        revert_outcome=row["revert_outcome"],
    )


def read_active_file(database_path: Path) -> list[ActiveAction]:
    """Actions in force, straight from the file, read-only (CLI use while a daemon runs)."""
    from calmopsd.record.database import connect

    conn = connect(database_path, query_only=True)
    try:
        cursor = conn.execute("SELECT * FROM active_actions WHERE reverted_at IS NULL ORDER BY id")
        names = [c[0] for c in cursor.description]
        return [_to_active(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
    finally:
        conn.close()


def _undo(text: Any) -> dict[str, Any]:
    try:
        undo = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return undo if isinstance(undo, dict) else {}
