"""What the decisions read besides the incident: the detector's view of its series,
the host around it, and the rules shared by several decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.detect import State
from calmopsd.model import (
    AGENT,
    ActionOutcome,
    Breach,
    Learning,
    OutcomeStatus,
    RefusalReason,
    Severity,
)
from calmopsd.respond.recommend import APPROVABLE
from calmopsd.respond.tracked import SeriesKey, Tracked

ACTOR = AGENT
# Refusals that concern only the action refused: another listed action may still run.
PASSABLE = APPROVABLE | {RefusalReason.ALREADY_IN_FORCE}
BUSY_DETAIL = "another action is running on it"

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class SeriesFacts:
    """The detector's view of one series, as the decisions read it."""

    state: State
    reported: bool = True  # still in the latest readings
    last_seen: datetime | None = None
    breach: Breach | None = None  # its breach while fired


Series = Mapping[SeriesKey, SeriesFacts]


@dataclass(frozen=True)
class Surroundings:
    """What the host looked like when the decision was made (gathered by the agent)."""

    deployed_app: str | None = None  # the app deployed last, among the incident's
    deploy: dict[str, Any] | None = None  # its deploy marker ({"from": …, "to": …})
    top_processes: list[Any] | None = None  # for a memory incident's evidence
    # What the last reviewed incidents of the same problem taught (newest first), read
    # from the store: the summary tells what worked last time.
    history: tuple[Learning, ...] = ()


NOTHING_AROUND = Surroundings()


def rank(severity: Severity) -> int:
    """Severities in order, so a worse breach can raise an incident's severity."""
    return _SEVERITY_RANK[Severity(severity)]


def firing(tracked: Tracked, series: Series) -> list[SeriesKey]:
    """The incident's series that fire and are still reported, in order."""
    return sorted(k for k in tracked.series if fires(series.get(k)))


def fires(facts: SeriesFacts | None) -> bool:
    return facts is not None and facts.state is State.FIRING and facts.reported


def passable(outcome: ActionOutcome) -> bool:
    return outcome.status is OutcomeStatus.REFUSED and outcome.reason in PASSABLE
