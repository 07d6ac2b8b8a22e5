"""Incidents and their actions and recommendations, always through a scope.

Lifecycle rules (which status may follow which) belong to the incident agent;
this module only stores, and changes status with compare-and-set so two
racing writers cannot both win. Every change appends an audit event in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from calmopsd.errors import ScopeError
from calmopsd.model import Incident, IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import append_event, incident_organization
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.projection import COLUMN_EVENTS
from calmopsd.record.scope import Scope

_COLUMNS = (
    "id, organization_id, fingerprint, type, severity, status, title, description, summary, "
    "evidence, resolution, opened_at, updated_at, resolved_at, flaps, impact, last_breach_at"
)
# Columns update_incident may set; JSON ones are encoded on the way in.
_UPDATABLE = frozenset(
    {"type", "severity", "title", "summary", "evidence", "impact", "last_breach_at"}
)
_JSON_COLUMNS = frozenset({"evidence", "impact"})


def open_incident(
    database: Database,
    scope: Scope,
    *,
    organization_id: str | None,
    fingerprint: str,
    type: IncidentType,
    severity: Severity,
    title: str,
    at: datetime,
    actor: str,
    description: str = "",
    evidence: dict[str, Any] | None = None,
    impact: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Incident:
    """Insert an open incident (and its ``incident.opened`` event) for ``organization_id``.

    ``data`` adds to the event's data (the API marks a super-admin's bypass there).
    """
    scope.check_writes(organization_id)
    now = encode_time(at)
    row = {
        "organization_id": organization_id,
        "fingerprint": fingerprint,
        "type": IncidentType(type).value,
        "severity": Severity(severity).value,
        "status": IncidentStatus.OPEN.value,
        "title": title,
        "description": description,
        "evidence": encode_json(evidence or {}),
        "impact": encode_json(impact or {}),
        "opened_at": now,
        "updated_at": now,
        "last_breach_at": now,
    }
    with database.write() as tx:
        incident_id = tx.insert("incidents", row)
        append_event(
            tx,
            scope,
            kind="incident.opened",
            actor=actor,
            at=at,
            incident_id=incident_id,
            data={
                "fingerprint": fingerprint,
                "type": row["type"],
                "severity": row["severity"],
                "title": title,
                **(data or {}),
            },
        )
    found = get_incident(database, scope, incident_id)
    assert found is not None  # noqa: S101  # just inserted in this scope
    return found


def get_incident(database: Database, scope: Scope, incident_id: int) -> Incident | None:
    """The incident if it exists *and* this scope may see it; otherwise None (no leak of ids)."""
    where, params = scope.filter()
    with database.read() as db:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM incidents WHERE id = ? AND {where}", [incident_id, *params]
        ).fetchone()
    return _to_incident(row) if row else None


def incidents_by_ids(database: Database, scope: Scope, ids: Sequence[int]) -> list[Incident]:
    """The incidents of ``ids`` this scope may see (those it may not are left out)."""
    where, scope_params = scope.filter()
    found: list[Incident] = []
    with database.read() as db:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM incidents WHERE id IN ({marks}) AND {where}",
                [*chunk, *scope_params],
            ).fetchall()
            found.extend(_to_incident(row) for row in rows)
    return found


def list_incidents(
    database: Database,
    scope: Scope,
    *,
    status: IncidentStatus | None = None,
    unresolved: bool = False,
) -> list[Incident]:
    """Incidents visible to this scope, newest first."""
    where, scope_params = scope.filter()
    params: list[Any] = list(scope_params)
    if status is not None:
        where += " AND status = ?"
        params.append(IncidentStatus(status).value)
    if unresolved:
        where += " AND status != 'resolved'"
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incidents WHERE {where} ORDER BY opened_at DESC, id DESC",
            params,
        ).fetchall()
    return [_to_incident(row) for row in rows]


def find_by_fingerprint(
    database: Database,
    scope: Scope,
    *,
    organization_id: str | None,
    fingerprint: str,
    resolved_since: datetime | None = None,
) -> Incident | None:
    """The unresolved incident for this problem, else (with ``resolved_since``) the one
    resolved most recently at or after that time, else None."""
    where, params = scope.filter()
    org_where = "organization_id IS ?"
    base = f"SELECT {_COLUMNS} FROM incidents WHERE fingerprint = ? AND {org_where} AND {where}"
    args = [fingerprint, organization_id, *params]
    with database.read() as db:
        row = db.execute(f"{base} AND status != 'resolved'", args).fetchone()
        if row is None and resolved_since is not None:
            row = db.execute(
                f"{base} AND status = 'resolved' AND resolved_at >= ? "
                "ORDER BY resolved_at DESC, id DESC LIMIT 1",
                [*args, encode_time(resolved_since)],
            ).fetchone()
    return _to_incident(row) if row else None


def update_incident(
    database: Database,
    scope: Scope,
    incident_id: int,
    *,
    at: datetime,
    actor: str,
    event: str | None,
    data: dict[str, Any] | None = None,
    **columns: Any,
) -> None:
    """Set some of type, severity, title, summary, evidence, impact, last_breach_at.

    With ``event`` (``incident.escalated``, ``incident.classified`` …) the change
    is appended to the audit log in the same transaction; a summary refresh
    passes None, since the summary is derived from events already recorded.
    """
    unknown = sorted(set(columns) - _UPDATABLE)
    if unknown or not columns:
        raise ValueError(f"cannot update incident columns: {', '.join(unknown) or '(none)'}")
    for column in sorted(set(columns) & set(COLUMN_EVENTS)):
        # The chain must tell every change verify-audit checks the table against.
        if event != COLUMN_EVENTS[column]:
            raise ValueError(f"{column} changes only with a {COLUMN_EVENTS[column]} event")
    values = {k: _column_value(k, v) for k, v in columns.items()}
    assignments = ", ".join(f"{k} = ?" for k in values)
    where, params = scope.filter()
    with database.write() as tx:
        changed = tx.db.execute(
            f"UPDATE incidents SET {assignments}, updated_at = ? WHERE id = ? AND {where}",
            [*values.values(), encode_time(at), incident_id, *params],
        ).rowcount
        if changed != 1:
            raise ScopeError(f"no incident {incident_id} in this scope")
        if event is not None:
            append_event(
                tx, scope, kind=event, actor=actor, at=at, incident_id=incident_id, data=data or {}
            )


def _column_value(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        return encode_json(value)
    if isinstance(value, datetime):
        return encode_time(value)
    return value.value if isinstance(value, IncidentType | Severity) else value


def reopen_incident(
    database: Database,
    scope: Scope,
    incident_id: int,
    *,
    at: datetime,
    actor: str,
    reason: str,
    flap: bool = True,
) -> bool:
    """Resolved → open again, one more flap if ``flap``; False if it was not resolved
    (compare-and-set)."""
    where, params = scope.filter()
    now = encode_time(at)
    with database.write() as tx:
        changed = tx.db.execute(
            f"""UPDATE incidents SET status = 'open', resolution = NULL, resolved_at = NULL,
                    flaps = flaps + ?, updated_at = ?, last_breach_at = ?
                WHERE id = ? AND status = 'resolved' AND {where}""",
            [int(flap), now, now, incident_id, *params],
        ).rowcount
        if changed != 1:
            return False
        flaps = tx.db.execute("SELECT flaps FROM incidents WHERE id = ?", [incident_id]).fetchone()
        append_event(
            tx,
            scope,
            kind="incident.reopened",
            actor=actor,
            at=at,
            incident_id=incident_id,
            data={"flaps": flaps[0], "reason": reason},
        )
    return True


def change_status(
    database: Database,
    scope: Scope,
    incident_id: int,
    *,
    expected: IncidentStatus,
    new: IncidentStatus,
    at: datetime,
    actor: str,
    resolution: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move the incident from ``expected`` to ``new``; False if it was not in ``expected``.

    Compare-and-set: of two callers racing on the same transition exactly one
    gets True, and only that one's event is appended. ``data`` adds to the
    event's data (a person's note, a super-admin's bypass).
    """
    where, params = scope.filter()
    now = encode_time(at)
    resolved_at = now if new == IncidentStatus.RESOLVED else None
    with database.write() as tx:
        changed = tx.db.execute(
            f"""UPDATE incidents SET status = ?, updated_at = ?, resolution = ?, resolved_at = ?
                WHERE id = ? AND status = ? AND {where}""",
            [new.value, now, resolution, resolved_at, incident_id, expected.value, *params],
        ).rowcount
        if changed != 1:
            return False
        append_event(
            tx,
            scope,
            kind="incident.status_changed",
            actor=actor,
            at=at,
            incident_id=incident_id,
            data={
                "from": expected.value,
                "to": new.value,
                "resolution": resolution,
                **(data or {}),
            },
        )
    return True


def add_action(
    database: Database,
    scope: Scope,
    incident_id: int,
    *,
    action: str,
    params: dict[str, Any],
    status: str,
    at: datetime,
    actor: str,
    outcome: dict[str, Any] | None = None,
) -> int:
    """Record an action taken (or refused) for an incident; returns its id."""
    return add_child(
        database,
        scope,
        "incident_actions",
        incident_id,
        at=at,
        actor=actor,
        row={
            "action": action,
            "params": encode_json(params),
            "status": status,
            "requested_by": actor,
            "requested_at": encode_time(at),
            "outcome": encode_json(outcome or {}),
            "finished_at": encode_time(at) if outcome is not None else None,
        },
    )


_JSON_CHILD = frozenset({"params", "outcome", "evidence", "preconditions"})
_ADDED_EVENT = {
    "incident_actions": "action.recorded",
    "incident_recommendations": "recommendation.proposed",
}


def add_child(
    database: Database,
    scope: Scope,
    table: str,
    incident_id: int,
    *,
    row: dict[str, Any],
    at: datetime,
    actor: str,
    event_data: dict[str, Any] | None = None,
) -> int:
    """Insert a row under the incident and its event; ``event_data`` adds to the event
    what the row does not keep."""
    with database.write() as tx:
        # Resolving the incident through the scope raises ScopeError before anything
        # is written when this scope cannot see it.
        organization_id = incident_organization(tx.db, scope, incident_id)
        record = {**row, "incident_id": incident_id, "organization_id": organization_id}
        child_id = tx.insert(table, record)
        append_event(
            tx,
            scope,
            kind=_ADDED_EVENT[table],
            actor=actor,
            at=at,
            incident_id=incident_id,
            data={
                "id": child_id,
                **{k: decode_json(v) if k in _JSON_CHILD else v for k, v in row.items()},
                **(event_data or {}),
            },
        )
    return child_id


def list_children(
    database: Database, scope: Scope, table: str, incident_id: int | None = None
) -> list[dict[str, Any]]:
    """Rows of ``incident_actions`` or ``incident_recommendations`` visible to this scope."""
    if table not in _ADDED_EVENT:
        raise ValueError(f"not a child table: {table}")
    where, scope_params = scope.filter()
    params: list[Any] = list(scope_params)
    if incident_id is not None:
        where += " AND incident_id = ?"
        params.append(incident_id)
    with database.read() as db:
        return list(db.query(f"SELECT * FROM {table} WHERE {where} ORDER BY id", params))


def _to_incident(row: tuple[Any, ...]) -> Incident:
    (
        id_,
        org,
        fingerprint,
        type_,
        severity,
        status,
        title,
        description,
        summary,
        evidence,
        resolution,
        opened_at,
        updated_at,
        resolved_at,
        flaps,
        impact,
        last_breach_at,
    ) = row
    return Incident(
        id=id_,
        organization_id=org,
        fingerprint=fingerprint,
        type=IncidentType(type_),
        severity=Severity(severity),
        status=IncidentStatus(status),
        title=title,
        description=description,
        summary=summary,
        evidence=decode_json(evidence),
        resolution=resolution,
        opened_at=decode_time(opened_at),
        updated_at=decode_time(updated_at),
        resolved_at=decode_time(resolved_at) if resolved_at else None,
        flaps=flaps,
        impact=decode_json(impact),
        last_breach_at=decode_time(last_breach_at) if last_breach_at else None,
    )


# For queries of incidents kept in other modules (record/pages.py).
INCIDENT_COLUMNS = _COLUMNS
incident_from_row = _to_incident


def resolution_counts(incidents: list[Incident]) -> dict[str, int]:
    """How the resolved ones ended: recovered apart from stale_resolved (not proof of recovery)."""
    counts: dict[str, int] = {}
    for incident in incidents:
        if incident.status is IncidentStatus.RESOLVED:
            key = incident.resolution or "resolved"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
