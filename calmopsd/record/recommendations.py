"""Recommendations: proposed to a human, then approved, rejected, executed or expired.

Every decision is a compare-and-set on ``status`` (two racing approvals: one
wins, the other gets False) and is appended to the audit log with who and
when. Whether an approval still makes sense is the agent's question; this
module only stores the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calmopsd.model import CONFIG_CHANGES, Recommendation, RecommendationStatus
from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.incidents import add_child
from calmopsd.record.scope import Scope

_COLUMNS = (
    "id, incident_id, organization_id, kind, action, params, rationale, status, created_at, "
    "expires_at, evidence, preconditions, decided_at, decided_by, decision_note"
)
_DECISION_EVENT = {
    RecommendationStatus.APPROVED: "recommendation.approved",
    RecommendationStatus.REJECTED: "recommendation.rejected",
    RecommendationStatus.EXECUTED: "recommendation.executed",
    RecommendationStatus.EXPIRED: "recommendation.expired",
    RecommendationStatus.OBSOLETE: "recommendation.obsolete",
}


def add_recommendation(
    database: Database,
    scope: Scope,
    incident_id: int,
    *,
    kind: str,
    rationale: str,
    at: datetime,
    actor: str,
    action: str | None = None,
    params: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    preconditions: dict[str, Any] | None = None,
    next_step: str | None = None,
) -> int:
    """Propose a step for a human to approve (``recommendation.proposed``); returns its id.

    ``next_step``: how the incident's summary puts it, kept in the event so that a
    restarted agent tells the same next step."""
    row: dict[str, Any] = {
        "kind": kind,
        "action": action,
        "params": encode_json(params or {}),
        "rationale": rationale,
        "created_at": encode_time(at),
        "evidence": encode_json(evidence or {}),
        "preconditions": encode_json(preconditions or {}),
    }
    if expires_at is not None:
        row["expires_at"] = encode_time(expires_at)
    return add_child(
        database,
        scope,
        "incident_recommendations",
        incident_id,
        at=at,
        actor=actor,
        row=row,
        event_data={"next_step": next_step} if next_step else None,
    )


def get_recommendation(
    database: Database, scope: Scope, recommendation_id: int
) -> Recommendation | None:
    """The recommendation if this scope may see it, else None."""
    where, params = scope.filter()
    with database.read() as db:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM incident_recommendations WHERE id = ? AND {where}",
            [recommendation_id, *params],
        ).fetchone()
    return _to_recommendation(row) if row else None


def list_recommendations(
    database: Database, scope: Scope, incident_id: int
) -> list[Recommendation]:
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incident_recommendations "
            f"WHERE incident_id = ? AND {where} ORDER BY id",
            [incident_id, *params],
        ).fetchall()
    return [_to_recommendation(row) for row in rows]


def recommendations_of_kind(database: Database, scope: Scope, kind: str) -> list[Recommendation]:
    """Every recommendation of ``kind``, across incidents, oldest first (a config change
    proposed once is not proposed again: :mod:`calmopsd.learn.tuning`)."""
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incident_recommendations WHERE kind = ? AND {where} "
            "ORDER BY id",
            [kind, *params],
        ).fetchall()
    return [_to_recommendation(row) for row in rows]


def decide_recommendation(
    database: Database,
    scope: Scope,
    recommendation_id: int,
    *,
    expected: RecommendationStatus,
    new: RecommendationStatus,
    at: datetime,
    actor: str,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move ``expected`` → ``new`` if still so (and, from proposed, not past its expiry).

    Compare-and-set: of two racing callers exactly one gets True and only its
    event is written.
    """
    where, params = scope.filter()
    now = encode_time(at)
    not_expired = (
        " AND (expires_at IS NULL OR expires_at > ?)"
        if expected is RecommendationStatus.PROPOSED and new is not RecommendationStatus.EXPIRED
        else ""
    )
    if new is RecommendationStatus.APPROVED:
        # In the same statement: a resolve landing between the approval's checks and
        # this write must win, so nothing is approved on a resolved incident — but a
        # config change, which outlives its incident (calmopsd.follow.obsolete).
        kinds = ", ".join(f"'{kind}'" for kind in sorted(CONFIG_CHANGES))
        not_expired += (
            f" AND (kind IN ({kinds}) OR (SELECT status FROM incidents"
            " WHERE id = incident_recommendations.incident_id) != 'resolved')"
        )
    args: list[Any] = [new.value, now, actor, note, recommendation_id, expected.value, *params]
    if not_expired:
        args.append(now)
    with database.write() as tx:
        changed = tx.db.execute(
            f"""UPDATE incident_recommendations
                SET status = ?, decided_at = ?, decided_by = ?, decision_note = ?
                WHERE id = ? AND status = ? AND {where}{not_expired}""",
            args,
        ).rowcount
        if changed != 1:
            return False
        incident_id = tx.db.execute(
            "SELECT incident_id FROM incident_recommendations WHERE id = ?", [recommendation_id]
        ).fetchone()[0]
        append_event(
            tx,
            scope,
            kind=_DECISION_EVENT[new],
            actor=actor,
            at=at,
            incident_id=incident_id,
            data={"id": recommendation_id, "from": expected.value, "note": note, **(data or {})},
        )
    return True


def record_refusal(
    database: Database,
    scope: Scope,
    recommendation: Recommendation,
    *,
    at: datetime,
    actor: str,
    reason: str,
    detail: str,
) -> None:
    """An approval that was refused (stale, expired, already decided): who, when and why."""
    with database.write() as tx:
        append_event(
            tx,
            scope,
            kind="recommendation.approval_refused",
            actor=actor,
            at=at,
            incident_id=recommendation.incident_id,
            data={"id": recommendation.id, "reason": reason, "detail": detail},
        )


def due_to_expire(database: Database, scope: Scope, at: datetime) -> list[Recommendation]:
    """Proposed recommendations whose expiry has passed."""
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incident_recommendations WHERE status = 'proposed' "
            f"AND expires_at IS NOT NULL AND expires_at <= ? AND {where} ORDER BY id",
            [encode_time(at), *params],
        ).fetchall()
    return [_to_recommendation(row) for row in rows]


def _to_recommendation(row: tuple[Any, ...]) -> Recommendation:
    (id_, incident_id, org, kind, action, params, rationale, status, created_at) = row[:9]
    (expires_at, evidence, preconditions, decided_at, decided_by, note) = row[9:]
    return Recommendation(
        id=id_,
        incident_id=incident_id,
        organization_id=org,
        kind=kind,
        action=action,
        params=decode_json(params),
        rationale=rationale,
        status=RecommendationStatus(status),
        created_at=decode_time(created_at),
        expires_at=decode_time(expires_at) if expires_at else None,
        evidence=decode_json(evidence),
        preconditions=decode_json(preconditions),
        decided_at=decode_time(decided_at) if decided_at else None,
        decided_by=decided_by,
        decision_note=note,
    )
