"""What detection hands on: breaches, and every named change of a series' state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.detect.series import Labels
from calmopsd.detect.state import Reason, State
from calmopsd.model import IncidentType, Severity


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
class Transition:
    """A named change of one (rule, series): the reason, when, and the state it left behind.

    ``breach`` is set once the series has fired (confirmed, escalated, clear
    started or aborted, cleared, vanished) and carries the current severity.
    """

    rule: str
    labels: Labels
    reason: Reason
    state: State
    at: datetime
    value: Any
    breach: Breach | None = None
