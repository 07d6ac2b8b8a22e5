"""Frozen values passed between stages.

Rows read from the store come back as these, never as loose dicts, so a
stage cannot accidentally depend on a column it was not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class IncidentType(StrEnum):
    MEMORY = "memory"
    DISK = "disk"
    UPLOAD = "upload"
    DEPLOY = "deploy"
    DEPENDENCY = "dependency"
    NETWORK = "network"
    APP = "app"  # the app itself: errored, stopped, or crashing while PM2 restarts it


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class IncidentStatus(StrEnum):
    OPEN = "open"
    STABILIZING = "stabilizing"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


AGENT = "calmopsd"

CONFIG_CHANGES = frozenset({"playbook_order", "alert_tuning"})
"""Recommendation kinds that change the config: they outlive their incident, are a
super-admin's to approve (the config is the host's) and are never applied by calmopsd."""
MANUAL_FINGERPRINT = "manual:"  # the prefix of an incident a person opened (API)
"""The actor name of everything calmopsd itself decides, in the audit log."""


class Resolution(StrEnum):
    """How an incident ended; ``stale_resolved`` is not proof of recovery and is counted apart."""

    RECOVERED = "recovered"  # its clear condition held for clear_for
    STALE_RESOLVED = "stale_resolved"  # nothing new arrived for incidents.stale_after
    VANISHED = "vanished"  # what it watched (an app, a mount) is no longer reported
    MANUAL = "manual"  # a person resolved it


class SafeAction(StrEnum):
    """The closed set of host changes calmopsd may ever make; all reversible."""

    PM2_RESTART = "pm2_restart"
    NGINX_RELOAD = "nginx_reload"
    PAUSE_JOBS = "pause_jobs"
    RATE_LIMIT_UPLOADS = "rate_limit_uploads"
    CLEAR_TEMP = "clear_temp"


Labels = tuple[tuple[str, str], ...]
"""A series' labels, sorted by name: ``(("mount", "/"),)``; ``()`` for a single series."""


@dataclass(frozen=True)
class Breach:
    """A confirmed breach of one rule by one series.

    ``type`` is the rule's incident type, before classification weighs the
    evidence; ``started_at`` is the first bad sample, ``confirmed_at`` the one
    that made it fire. ``evidence`` holds what the decision rested on: sampler,
    metric, comparison, threshold, value and, for gated rules, the volume.
    """

    rule: str
    type: IncidentType
    severity: Severity
    labels: Labels
    value: Any
    started_at: datetime
    confirmed_at: datetime
    evidence: dict[str, Any]


@dataclass(frozen=True)
class ActionRequest:
    """What the agent asks the executor to do, and why (the playbook row that chose it)."""

    action: SafeAction
    params: dict[str, Any]
    incident_id: int | None
    organization_id: str | None
    reason: str
    approved_by: str | None = None  # a person approved it: budgets and cooldowns yield to them


class OutcomeStatus(StrEnum):
    """What came of an action request."""

    SUCCEEDED = "succeeded"  # ran, and its verification held
    FAILED = "failed"  # ran (or tried to) and did not work, or could not be verified
    REFUSED = "refused"  # a check said no (budget, cooldown, allowlist, kill switch): nothing ran
    SHADOW = "shadow"  # shadow mode: recorded what would have run
    DRY_RUN = "dry_run"  # went through every check, recorded the exact commands, ran nothing

    @property
    def ran(self) -> bool:
        return self in (OutcomeStatus.SUCCEEDED, OutcomeStatus.FAILED)


class RefusalReason(StrEnum):
    """Why the executor refused a request: shared by act (which refuses) and respond
    (which decides what follows a refusal), stored in ``action.refused`` events."""

    UNKNOWN_ACTION = "unknown_action"  # not one of the five safe actions
    PAUSED = "paused"  # the kill switch is set
    BAD_PARAMETER = "bad_parameter"  # a parameter outside the allowlists
    NOT_CONFIGURED = "not_configured"  # the action needs settings that are not there
    NOT_ALLOWED = "not_allowed"  # the action is disabled by the config
    ALREADY_IN_FORCE = "already_in_force"  # the same reversible action already holds
    BUDGET_SPENT = "budget_spent"  # its runs per window are used up
    COOLDOWN = "cooldown"  # it ran on this target too recently
    INEFFECTIVE = "ineffective"  # it did not hold for this incident before
    BUSY = "busy"  # another action on the same target is running
    NEEDS_DAEMON = "needs_daemon"  # asked of the CLI with no daemon to run it


@dataclass(frozen=True)
class ActionOutcome:
    """What the executor did with a request, in one plain sentence (``detail``)."""

    status: OutcomeStatus
    detail: str
    action_id: int | None = None
    reason: RefusalReason | None = None  # for a refusal: why

    @property
    def worked(self) -> bool:
        return self.status is OutcomeStatus.SUCCEEDED


@dataclass(frozen=True)
class Incident:
    id: int
    organization_id: str | None
    fingerprint: str
    type: IncidentType
    severity: Severity
    status: IncidentStatus
    title: str
    description: str
    summary: str
    evidence: dict[str, Any]
    resolution: str | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    flaps: int = 0
    impact: dict[str, Any] = field(default_factory=dict)
    last_breach_at: datetime | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One row of the append-only, hash-chained event log."""

    seq: int
    at: datetime
    incident_id: int | None
    organization_id: str | None
    kind: str
    actor: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class HealthSnapshot:
    """One sampler's readings from one round."""

    id: int
    taken_at: datetime
    sampler: str
    organization_id: str | None
    ok: bool
    duration_ms: float
    readings: dict[str, Any]


@dataclass(frozen=True)
class Reading:
    """What one sampler saw in one round.

    ``ok`` False means the sampler itself failed (raised, or hung past its
    timeout) and ``error`` says how; what it observed about the host — "PM2 is
    not running", "health check refused" — is an ordinary ``ok`` reading whose
    ``values`` say so. ``values`` is JSON-able and stored as is.
    """

    sampler: str
    taken_at: datetime
    ok: bool
    duration_ms: float
    values: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class LogFilePosition:
    """Where the log tailer stands in one file: enough to resume exactly after a restart.

    A file is known by ``(device, inode)``; ``head`` is the SHA-256 of its first
    ``head_size`` bytes, so a file truncated and refilled, or an inode number reused
    by a new file, is not mistaken for the one already read. ``in_long_line`` is
    true while the tailer skips the rest of an over-long line.
    """

    source: str
    path: str
    device: int
    inode: int
    offset: int
    head: str
    head_size: int
    in_long_line: bool = False


@dataclass(frozen=True)
class LogBucket:
    """Counts from one source for one minute (epoch minutes, UTC) and one organization.

    ``organization_id`` None holds lines that carry no (valid) organization; the
    platform figure is the sum over every organization and None.
    """

    source: str
    minute: int
    organization_id: str | None
    requests: int = 0
    server_errors: int = 0
    error_lines: int = 0
    uploads: int = 0
    upload_failures: int = 0
    parse_errors: int = 0


@dataclass(frozen=True)
class LogState:
    """Everything the log watcher must keep across a restart, saved in one transaction.

    ``totals`` are the buckets summed since the source was first read (``minute``
    is -1 in them),
    so nothing is lost when old minutes leave the windows.
    """

    files: tuple[LogFilePosition, ...] = ()
    buckets: tuple[LogBucket, ...] = ()
    totals: tuple[LogBucket, ...] = ()


class RecommendationStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    EXPIRED = "expired"
    OBSOLETE = "obsolete"  # its incident resolved while it was still proposed


@dataclass(frozen=True)
class Recommendation:
    """A step proposed to a human: a safe action beyond what the agent may do alone
    (``kind`` safe_action) or a manual step calmopsd never performs (``manual``).

    ``preconditions`` is what must still be true for approval to make sense; an
    approval re-checks it against the current readings and refuses when stale.
    """

    id: int
    incident_id: int
    organization_id: str | None
    kind: str
    action: str | None
    params: dict[str, Any]
    rationale: str
    status: RecommendationStatus
    created_at: datetime
    expires_at: datetime | None
    evidence: dict[str, Any]
    preconditions: dict[str, Any]
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_note: str | None = None


class Executor(Protocol):
    """The one way the agent changes the host: ask, and get a verified outcome back.

    Implemented by ``calmopsd.act``; the agent never runs anything itself.
    """

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome: ...

    def symptom_returned(self, incident_id: int, now: datetime) -> list[SafeAction]:
        """The incident's symptom is back: actions that worked on it shortly before are
        marked ineffective for it (no more automatic tries); returns those actions."""
        ...


@dataclass(frozen=True)
class Learning:
    """What one incident taught about its fingerprint.

    ``fix`` is the action that worked and held (it succeeded and was never marked
    ineffective), ``fixed_within_s`` the seconds from the incident opening to it;
    ``ineffective`` the actions that ran and did not hold; ``tried`` every action that
    ran, in order. ``resolution`` is how it ended (``recovered``, ``manual``, …).
    """

    incident_id: int
    fix: str | None = None
    fix_params: Mapping[str, Any] = field(default_factory=dict)
    fixed_within_s: float | None = None
    ineffective: tuple[str, ...] = ()
    tried: tuple[str, ...] = ()
    resolution: str | None = None

    def to_values(self) -> dict[str, Any]:
        return {
            "fix": self.fix,
            "fix_params": dict(self.fix_params),
            "fixed_within_s": self.fixed_within_s,
            "ineffective": list(self.ineffective),
            "tried": list(self.tried),
            "resolution": self.resolution,
        }

    @classmethod
    def parse(cls, incident_id: int, values: Mapping[str, Any]) -> Learning:
        """Never raises: a field of the wrong shape reads as absent."""
        within = values.get("fixed_within_s")
        params = values.get("fix_params")
        return cls(
            incident_id=incident_id,
            fix=_text(values.get("fix")),
            fix_params=dict(params) if isinstance(params, Mapping) else {},
            fixed_within_s=float(within) if isinstance(within, int | float) else None,
            ineffective=_texts(values.get("ineffective")),
            tried=_texts(values.get("tried")),
            resolution=_text(values.get("resolution")),
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
