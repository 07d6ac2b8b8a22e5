"""A human's answer to a recommendation: approve (re-checked against now) or reject.

Approval never acts on an old picture: a recommendation that is no longer
proposed, has expired, or whose preconditions no longer hold (the incident
resolved, the breach cleared) is refused, and the refusal is recorded with
who, when and why. Two approvals racing: the compare-and-set in the store lets
one through, so a safe action runs at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from calmopsd.backtest.remake import ALERT_TUNING, approved_detail
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    Labels,
    Recommendation,
    RecommendationStatus,
)
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.recommendations import (
    decide_recommendation,
    get_recommendation,
    record_refusal,
)
from calmopsd.record.scope import Scope
from calmopsd.respond.recommend import stale_reason

log = structlog.get_logger("calmopsd.approvals")

_P = RecommendationStatus


@dataclass(frozen=True)
class Decision:
    """``status``: approved, executed, rejected, refused or not_found."""

    status: str
    detail: str
    outcome: ActionOutcome | None = None


def approve(
    database: Database,
    scope: Scope,
    recommendation_id: int,
    *,
    actor: str,
    at: datetime,
    state_of: Callable[[str, Labels], str],
    run: Callable[[Recommendation, str, datetime], ActionOutcome | None],
    busy: Callable[[Recommendation], str | None] | None = None,
) -> Decision:
    """Approve if it still makes sense; a safe action then runs once, through ``run``
    (the agent's :meth:`~calmopsd.respond.agent.Agent.run_approved`). ``run`` answering
    None means requested: the decision is ``requested`` and :func:`after_outcome` tells
    the rest once the outcome is in. ``busy`` says why it cannot run now (an action in
    flight on the incident): refused, and the recommendation stays proposed."""
    rec = get_recommendation(database, scope, recommendation_id)
    if rec is None:
        return Decision("not_found", f"no recommendation {recommendation_id}")
    refusal = _refusal(database, scope, rec, at, state_of)
    if refusal is None and busy is not None and (why := busy(rec)) is not None:
        refusal = ("busy", why)
    if refusal is not None:
        reason, detail = refusal
        record_refusal(database, scope, rec, at=at, actor=actor, reason=reason, detail=detail)
        log.info(
            "recommendation.approval_refused",
            recommendation_id=rec.id,
            incident_id=rec.incident_id,
            organization_id=rec.organization_id,
            reason=reason,
        )
        return Decision("refused", detail)
    # Before the approval commits: what it answers must not fail after it is recorded.
    config_change = approved_detail(rec) if rec.kind == ALERT_TUNING else None
    won = decide_recommendation(
        database, scope, rec.id, expected=_P.PROPOSED, new=_P.APPROVED, at=at, actor=actor
    )
    if not won:
        detail = "someone else decided it first"
        record_refusal(database, scope, rec, at=at, actor=actor, reason="raced", detail=detail)
        return Decision("refused", detail)
    log.info(
        "recommendation.approved",
        recommendation_id=rec.id,
        incident_id=rec.incident_id,
        organization_id=rec.organization_id,
        actor=actor,
    )
    if config_change is not None:
        return Decision("approved", config_change)
    if rec.kind == "playbook_order":
        return Decision("approved", "recorded as approved; calmopsd changes no config itself: "
                        "apply the diff in its evidence to the config file and reload")  # fmt: skip
    if rec.kind != "safe_action" or rec.action is None:
        return Decision("approved", "recorded as approved; calmopsd does not perform manual steps")
    return _execute(database, scope, rec, actor, at, run)


def reject(
    database: Database,
    scope: Scope,
    recommendation_id: int,
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> Decision:
    rec = get_recommendation(database, scope, recommendation_id)
    if rec is None:
        return Decision("not_found", f"no recommendation {recommendation_id}")
    if decide_recommendation(
        database,
        scope,
        rec.id,
        expected=_P.PROPOSED,
        new=_P.REJECTED,
        at=at,
        actor=actor,
        note=note,
    ):
        return Decision("rejected", "recorded as rejected")
    if rec.status is _P.PROPOSED and rec.expires_at is not None and at >= rec.expires_at:
        decide_recommendation(
            database, scope, rec.id, expected=_P.PROPOSED, new=_P.EXPIRED, at=at,
            actor=AGENT, note="expired before it was rejected",
        )  # fmt: skip
        return Decision("refused", f"it expired at {rec.expires_at:%Y-%m-%d %H:%M} UTC")
    return Decision("refused", f"it is already {_current(database, scope, rec.id)}")


def _refusal(
    database: Database,
    scope: Scope,
    rec: Recommendation,
    at: datetime,
    state_of: Callable[[str, Labels], str],
) -> tuple[str, str] | None:
    if rec.status is not _P.PROPOSED:
        return "already_decided", f"it is already {rec.status}"
    if rec.expires_at is not None and at >= rec.expires_at:
        decide_recommendation(
            database,
            scope,
            rec.id,
            expected=_P.PROPOSED,
            new=_P.EXPIRED,
            at=at,
            actor=AGENT,
            note="expired before it was approved",
        )
        return "expired", f"it expired at {rec.expires_at:%Y-%m-%d %H:%M} UTC"
    stale = stale_reason(rec, get_incident(database, scope, rec.incident_id), state_of)
    if stale is not None:
        return "stale", f"stale: {stale}"
    return None


def _execute(
    database: Database,
    scope: Scope,
    rec: Recommendation,
    actor: str,
    at: datetime,
    run: Callable[[Recommendation, str, datetime], ActionOutcome | None],
) -> Decision:
    outcome = run(rec, actor, at)
    if outcome is None:
        return Decision("requested", "approved; the action is requested")
    return after_outcome(database, scope, rec, actor, at, outcome)


def after_outcome(
    database: Database,
    scope: Scope,
    rec: Recommendation,
    actor: str,
    at: datetime,
    outcome: ActionOutcome,
) -> Decision:
    """An approved safe action's outcome is in: executed if it ran, else approved only."""
    if outcome.status.ran:
        decide_recommendation(
            database, scope, rec.id, expected=_P.APPROVED, new=_P.EXECUTED, at=at, actor=actor,
            data={"outcome": outcome.status},
        )  # fmt: skip
        return Decision("executed", outcome.detail, outcome)
    return Decision("approved", f"approved, but not run: {outcome.detail}", outcome)


def _current(database: Database, scope: Scope, recommendation_id: int) -> str:
    rec = get_recommendation(database, scope, recommendation_id)
    return rec.status if rec else "gone"
