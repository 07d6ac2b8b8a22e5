"""What :class:`~calmopsd.serve.operations.Operations` answers with, and what it is given.

``Hooks`` are what only the running daemon can do; the CLI on its own passes
none, and the operations that need one answer ``Unavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calmopsd.model import AuditEvent, Incident, Reading, Recommendation
from calmopsd.record.scope import Scope
from calmopsd.respond.approvals import Decision

Approve = Callable[[Scope, int, str], Decision]
"""``(scope, recommendation_id, actor)``: the daemon's ``Responder.approve``."""
Revert = Callable[[int, str], tuple[bool, str]]
"""``(active_id, actor)`` → (done, why not): the daemon's ``Responder.revert``."""
InAgent = Callable[[int | None, Callable[[], Any]], Any]
"""``(incident_id, work)`` → what ``work`` returned: a person's change carried out by the
daemon's agent, in its one transaction, and followed by it at once (``Responder.in_agent``)."""
Switch = Callable[[str], bool]
"""``(actor)`` → whether it changed anything: the kill switch thrown, flag and audit event
at once (the daemon's executor, or the CLI on the store when no daemon runs)."""


@dataclass(frozen=True)
class ConfigInForce:
    """The config file and the SHA-256 of the bytes in force (None: whatever it holds
    now, for the CLI on the store with no daemon)."""

    path: Path
    sha256: str | None


@dataclass(frozen=True)
class Hooks:
    """What only the running daemon can do; None where it is not available (the CLI alone)."""

    approve: Approve | None = None
    in_agent: InAgent | None = None
    revert: Revert | None = None
    pause: Switch | None = None
    resume: Switch | None = None
    check_now: Callable[[], None] | None = None  # one sampling round, fed to the agent
    latest: Callable[[], Mapping[str, Reading]] | None = None  # the readings in memory
    config_file: Callable[[], ConfigInForce] | None = None  # what alert tuning edits


@dataclass(frozen=True)
class Page:
    incidents: list[Incident]
    next_cursor: str | None


@dataclass(frozen=True)
class IncidentDetail:
    incident: Incident
    events: list[AuditEvent]
    actions: list[dict[str, Any]]
    recommendations: list[Recommendation]


@dataclass(frozen=True)
class Health:
    readings: list[Reading]
    open_incidents: int
    by_severity: dict[str, int]
    by_status: dict[str, int]
    checked: bool  # a sampling round ran for this answer
