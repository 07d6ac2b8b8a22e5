"""The executor that runs nothing: every request becomes a recorded shadow decision."""

from __future__ import annotations

from datetime import datetime

import structlog

from calmopsd.model import ActionOutcome, ActionRequest, OutcomeStatus, SafeAction

log = structlog.get_logger("calmopsd.act")


class ShadowExecutor:
    """Answers ``shadow`` for each of the five actions and refuses anything else."""

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome:
        if request.action not in set(SafeAction):
            log.warning("action.refused", incident_id=request.incident_id, action=request.action)
            return ActionOutcome(
                OutcomeStatus.REFUSED, f"{request.action!r} is not one of the safe actions"
            )
        log.info(
            "action.shadowed",
            incident_id=request.incident_id,
            organization_id=request.organization_id,
            action=request.action,
            params=request.params,
        )
        return ActionOutcome(OutcomeStatus.SHADOW, "shadow mode: the executor is not enabled yet")
