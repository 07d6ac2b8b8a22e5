"""Intake: the event log's noteworthy incident changes, noted for each target that hears
of that incident (a consumer of :mod:`calmopsd.follow.bus`, registered by the daemon).

An organization's target hears only of its own organization's incidents; a target
with no organization, of every incident. What counts as a change worth telling is
:data:`NOTEWORTHY`; the rest (an action's intent, a notice sent) is the incident's
history, not news. Handling is idempotent: a group moves only forward in seq.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from calmopsd.model import AuditEvent
from calmopsd.record.database import Database
from calmopsd.record.outbox import note_change

NOTEWORTHY = frozenset(
    {
        "incident.opened",
        "incident.status_changed",
        "incident.escalated",
        "incident.reopened",
        "incident.reclassified",
        "incident.held",
        "incident.not_holding",
        "recommendation.proposed",
        "recommendation.expired",
        "action.executed",
        "action.ineffective",
    }
)


@dataclass(frozen=True)
class TargetScope:
    """A target's name and the incidents it hears of (None: every incident)."""

    name: str
    organization_id: str | None

    def hears_of(self, organization_id: str | None) -> bool:
        return self.organization_id is None or self.organization_id == organization_id


def resolved_by(event: AuditEvent) -> bool | None:
    """What ``event`` says of its incident being resolved: True, False, or None (nothing)."""
    if event.kind == "incident.status_changed":
        return event.data.get("to") == "resolved"
    if event.kind in ("incident.reopened", "incident.opened"):
        return False
    return None


def intake(
    database: Database,
    targets: Callable[[], Sequence[TargetScope]],
    noticed: Callable[[], None] = lambda: None,
) -> Callable[[AuditEvent], None]:
    """The handler: ``targets`` gives the targets in force (they follow a reload);
    ``noticed`` is called after a change is noted (the notifier wakes)."""

    def consume(event: AuditEvent) -> None:
        if event.incident_id is None or event.kind not in NOTEWORTHY:
            return
        names = [t.name for t in targets() if t.hears_of(event.organization_id)]
        if not names:
            return
        with database.write() as tx:
            note_change(
                tx,
                names,
                incident_id=event.incident_id,
                organization_id=event.organization_id,
                seq=event.seq,
                at=event.at,
                resolved=resolved_by(event),
            )
        noticed()

    return consume
