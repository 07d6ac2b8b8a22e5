"""What the agent decided about one input: a named reason and the effects, as values.

The functions of :mod:`.decide` return a :class:`Decision` and touch nothing;
:mod:`.apply` carries its effects out, in order, inside the input's one
transaction. An effect names its incident by id; the only one whose id is not
known yet is :class:`OpenIncident`, and what follows an opening (stabilizing
it) is decided after it is applied, as :attr:`Decision.then` asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from calmopsd.detect.classify import Classification
from calmopsd.model import (
    ActionOutcome,
    Breach,
    Incident,
    IncidentStatus,
    IncidentType,
    Learning,
    Resolution,
    Severity,
)
from calmopsd.respond.playbook import Hold, Step
from calmopsd.respond.problem import Problem
from calmopsd.respond.recommend import Proposal
from calmopsd.respond.tracked import SeriesKey


class Why(StrEnum):
    """Why the agent did what it did (or nothing) with one input."""

    # a confirmed breach
    OPENED = "opened"  # no incident of this problem, or resolved too long ago
    JOINED = "joined"  # an unresolved incident of the same problem takes it
    TAKEN_OVER = "taken_over"  # ... one opened before a restart, not tracked yet
    REOPENED_FLAPPING = "reopened_flapping"  # it recovered within reopen_within: a flap
    REOPENED_AFTER_RESOLVED = "reopened_after_resolved"  # resolved by a person or as stale
    EXPLAINED = "explained"  # an organization's unresolved incident accounts for it: joined
    HELD_FOR_PLATFORM = "held_for_platform"  # others fail too: the platform's incident's
    RELEASED = "released"  # ... no longer: the platform is in breach without that organization
    OWN_PAUSE = "own_pause"  # an app calmopsd paused itself (pause_jobs) is not a symptom
    # a transition of a tracked series
    NOT_TRACKED = "not_tracked"  # no incident owns the series
    ESCALATED = "escalated"  # passed its critical threshold
    NOT_WORSE = "not_worse"  # escalated, but the incident is already as severe
    CLEAR_STARTED = "clear_started"
    CLEAR_ABORTED = "clear_aborted"
    SERIES_ENDED = "series_ended"  # one of its series cleared; others still belong to it
    REPLANNED_REST = "replanned_rest"  # one ended, others still fire: plan for those
    RECOVERED = "recovered"  # its last series cleared and the clear held
    VANISHED = "vanished"  # its last series is no longer reported at all
    UNCHANGED = "unchanged"  # a transition that changes nothing about the incident
    FIGURE_MOVED = "figure_moved"  # the headline figure moved notably: the summary follows
    # stabilizing
    REQUESTED = "requested"  # the playbook's next fitting action is requested
    HELD = "held"  # no action fits, with the playbook's named reason
    ASKED_FOR_REFUSED = "asked_for_refused"  # nothing else worked: approve the refused one
    NOT_OPEN = "not_open"  # someone else holds the incident: do not act behind them
    BUSY = "busy"  # an action is already in flight on it
    # an action's outcome
    WORKED = "worked"  # verified: monitor it
    FAILED = "failed"  # the next fitting action, a person sooner (critical)
    PASSED_OVER = "passed_over"  # refused for itself alone: the next action is tried
    REFUSED = "refused"  # refused outright: a person is asked
    SHADOWED = "shadowed"  # shadow mode or a dry run: a person is asked
    PERSON_STEP_DONE = "person_step_done"  # a person's approved action ended
    MOVED_MEANWHILE = "moved_meanwhile"  # a person moved the incident while it ran
    NOT_PENDING = "not_pending"  # no action of this agent's was waiting for it
    # monitoring, on the clock
    WATCHING = "watching"  # still inside monitor_for
    NOT_HOLDING = "not_holding"  # monitor_for is over and a series fires again
    REPLANNED = "replanned"  # after an interrupted action, it still fires: plan again
    QUIET = "quiet"  # monitor_for is over, nothing fires: it resolves when the clear holds
    # stale incidents
    STALE = "stale"  # no news for stale_after
    HAS_NEWS = "has_news"
    MANUAL = "manual"  # a person's incident: calmopsd's sensors carry no news of it
    # a person's change
    GONE = "gone"  # the incident is no longer in the store
    PERSON_RESOLVED = "person_resolved"
    PERSON_WATCHES = "person_watches"  # a person moved it to monitoring: watch it
    PERSON_CHANGED = "person_changed"  # status or severity changed: rewrite the summary
    RECOMMENDATION_DECIDED = "recommendation_decided"  # its next step's advice was decided
    NOTHING_NEW = "nothing_new"
    # after a restart
    RESUMED = "resumed"
    RESUMED_IN_FLIGHT = "resumed_in_flight"  # a reload: the previous agent's action still runs
    INTERRUPTED = "interrupted"  # a stop or crash cut its action short
    FINISHED_MEANWHILE = "finished_meanwhile"  # its result came in while calmopsd was down
    FOREIGN = "foreign"  # not this rule set's incident: left to end stale
    FOREIGN_INTERRUPTED = "foreign_interrupted"  # ... and left stabilizing: back to open
    # a person's approval
    APPROVED_REQUESTED = "approved_requested"
    APPROVED_REFUSED = "approved_refused"


class Then(StrEnum):
    """What to decide next, once this decision is applied (still in the same transaction)."""

    STABILIZE = "stabilize"
    # Request the next fitting action if one fits now; if none does, leave what the
    # summary says (a further symptom joined: nothing new to say when nothing fits).
    STABILIZE_IF_FITS = "stabilize_if_fits"


@dataclass(frozen=True)
class OpenIncident:
    breach: Breach
    problem: Problem
    classification: Classification
    title: str
    evidence: dict[str, Any]
    clear_hold: timedelta
    cause: str | None
    history: tuple[Learning, ...] = ()  # what earlier incidents of its problem taught


@dataclass(frozen=True)
class TakeOver:
    """Track an unresolved incident this agent did not open (a restart, a reload)."""

    incident: Incident
    breach: Breach
    resource: dict[str, str]
    clear_hold: timedelta
    series: frozenset[SeriesKey] = frozenset()


@dataclass(frozen=True)
class AddBreach:
    incident_id: int
    breach: Breach


@dataclass(frozen=True)
class Reopen:
    """Reopen a resolved incident (compare-and-set: if someone reopened it first, the
    breach joins it instead)."""

    incident: Incident
    breach: Breach
    resource: dict[str, str]
    flap: bool
    reason: str
    base_hold: timedelta


@dataclass(frozen=True)
class Track:
    """Add a series to the incident and hold its clear for the incident's clear hold."""

    incident_id: int
    key: SeriesKey


@dataclass(frozen=True)
class Untrack:
    """Stop tracking the incident; ``forget``: its series must confirm afresh."""

    incident_id: int
    forget: bool


@dataclass(frozen=True)
class Forget:
    """The detector forgets a series, so it must confirm afresh to open anything."""

    key: SeriesKey


@dataclass(frozen=True)
class EndSeries:
    incident_id: int
    key: SeriesKey


@dataclass(frozen=True)
class Reclassify:
    """What still fires once part of a fault recovered is of another type: the incident
    takes that type, and that series' breach as its headline."""

    incident_id: int
    to: IncidentType
    why: str
    headline: Breach


@dataclass(frozen=True)
class Escalate:
    incident_id: int
    to: Severity
    why: str
    headline: Breach | None = None  # the breach whose figure the summary shows from now


@dataclass(frozen=True)
class Move:
    """A compare-and-set status change from the status the decision saw."""

    incident_id: int
    expected: IncidentStatus
    new: IncidentStatus
    resolution: Resolution | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Record:
    """An event in the incident's log."""

    kind: str
    data: dict[str, Any]
    incident_id: int | None = None


@dataclass(frozen=True)
class RequestAction:
    incident_id: int
    step: Step
    actor: str
    pass_over: bool


@dataclass(frozen=True)
class RecordOutcome:
    """What came of one step: the action row, and it counts as tried."""

    incident_id: int
    step: Step
    outcome: ActionOutcome
    actor: str


@dataclass(frozen=True)
class Ask:
    """A recommendation for a person, once per incident; it becomes the next step."""

    incident_id: int
    proposal: Proposal


@dataclass(frozen=True)
class Note:
    """What the agent remembers of the incident for its summary (fields of
    :class:`~calmopsd.respond.tracked.Tracked`)."""

    incident_id: int
    changes: dict[str, Any]


@dataclass(frozen=True)
class SymptomReturned:
    """Tell the executor what worked on this incident shortly before did not hold."""

    incident_id: int


@dataclass(frozen=True)
class Summarize:
    incident_id: int


Effect = (
    OpenIncident
    | TakeOver
    | AddBreach
    | Reopen
    | Track
    | Untrack
    | EndSeries
    | Forget
    | Escalate
    | Reclassify
    | Move
    | Record
    | RequestAction
    | RecordOutcome
    | Ask
    | Note
    | SymptomReturned
    | Summarize
)


@dataclass(frozen=True)
class Decision:
    why: Why
    effects: tuple[Effect, ...] = ()
    # What to decide next, once applied: stabilize, or take up this outcome of the
    # incident's pending action (one that finished while calmopsd was stopped).
    then: Then | ActionOutcome | None = None
    detail: str = ""  # words for the reason, where it has some (a hold's, a refusal's)
    hold: Hold | None = field(default=None, compare=False)

    def of(self, kind: type[Any]) -> list[Any]:
        """The effects of one kind, in order (what table tests look at)."""
        return [e for e in self.effects if isinstance(e, kind)]
