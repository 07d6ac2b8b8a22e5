"""A notification rig on a real store (tests/notices): the real follower feeding the real
intake, the real notifier sending through apprise to real receivers on loopback, a manual
clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from support.clock import ManualClock

from calmopsd.config.notify import NotifyConfig
from calmopsd.follow import consumers_for
from calmopsd.follow.bus import Follower
from calmopsd.model import Incident, IncidentStatus, IncidentType, Severity
from calmopsd.notices.intake import intake
from calmopsd.notices.notifier import Notifier, Round
from calmopsd.notices.send import AppriseSender, Sender
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, get_incident, open_incident
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()
T0 = datetime.fromisoformat("2026-03-01T03:00:00+00:00")


@dataclass
class Rig:
    path: Path
    database: Database
    clock: ManualClock
    notifier: Notifier
    follower: Follower

    def round(self, after: timedelta = timedelta(0)) -> Round:
        """Move the clock, follow the log, and run one notifier round."""
        now = self.clock.advance(after)
        self.follower.run_once(now)
        return self.notifier.run_once(now)

    def open(
        self,
        title: str = "api memory high",
        org: str | None = None,
        severity: Severity = Severity.WARNING,
        fingerprint: str | None = None,
    ) -> Incident:
        return open_incident(
            self.database, PLATFORM, organization_id=org,
            fingerprint=fingerprint or f"memory:{title}", type=IncidentType.MEMORY,
            severity=severity, title=title, at=self.clock.now(), actor="calmopsd",
        )  # fmt: skip

    def move(self, incident_id: int, new: IncidentStatus, **kwargs: Any) -> None:
        incident = get_incident(self.database, PLATFORM, incident_id)
        assert incident is not None
        assert change_status(
            self.database, PLATFORM, incident_id, expected=incident.status, new=new,
            at=self.clock.now(), actor="calmopsd", **kwargs,
        )  # fmt: skip

    def resolve(self, incident_id: int) -> None:
        self.move(incident_id, IncidentStatus.RESOLVED, resolution="recovered")


def notify_config(*targets: dict[str, Any], **settings: Any) -> NotifyConfig:
    return NotifyConfig.model_validate({"targets": list(targets), **settings})


def make_rig(
    path: Path, config: NotifyConfig, clock: ManualClock, sender: Sender | None = None
) -> Rig:
    database = Database.open(path)
    notifier = Notifier(database, clock, sender or AppriseSender(10), "web-1", config)
    consumers = {**consumers_for(database), "notify": intake(database, notifier.scopes)}
    follower = Follower(database, consumers, clock)
    follower.begin(clock.now())
    return Rig(path, database, clock, notifier, follower)
