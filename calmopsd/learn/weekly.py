"""The weekly stability summary's figures: one stretch of time against the one before. Pure.

From the rows :mod:`calmopsd.record.stability` reads, for each of the two periods:

* incidents opened in it, by type and severity (as each incident stands now);
* time to detect (over the incidents opened in it) and to resolve (over those whose
  last resolution fell in it), median and p90, each from :func:`learn.timings.timings`;
* each health check's availability: the share of its ``http`` readings that said up;
* per action: runs, how many held their check (success rate over the runs that ran:
  dry runs ran nothing), and how many of those the symptom came back after
  (``action.ineffective`` later on the same incident: the ineffective rate), shadowed;
* refusals for a spent budget or a cooldown (budget exhaustions), and the others;
* approvals still pending when it ended, and those that expired unanswered in it;
* flapping: reopenings per fingerprint (with the rule that opened it);
* the top recurring fingerprints: opened or reopened at least twice in it.

p90 is the nearest rank (the smallest value at least 90 % of them do not exceed), so it
is always one of the incidents' own figures; the median of an even count is the mean
of the two middle ones.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from calmopsd.learn.periods import Period
from calmopsd.learn.timings import Timings, first_breach_at, timings
from calmopsd.model import MANUAL_FINGERPRINT, AuditEvent, RefusalReason
from calmopsd.record.stability import Asked, StabilityRows, Timed

EXHAUSTED = (RefusalReason.BUDGET_SPENT.value, RefusalReason.COOLDOWN.value)
TOP = 5
RECURRING = 2  # times in the period a fingerprint must come up to be recurring
_OPENED = ("incident.opened",)
_REOPENED = ("incident.reopened",)
_CAME_UP = ("incident.opened", "incident.reopened")


class Trend(StrEnum):
    """How a figure moved against the previous period (a named reason, for the words)."""

    BETTER = "better"
    WORSE = "worse"
    STEADY = "steady"
    NO_COMPARISON = "no_comparison"  # one side has no figure


@dataclass(frozen=True)
class Spread:
    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True)
class Availability:
    check: str
    readings: int
    up: float  # readings that said up (a roll-up bucket's share times its count)

    @property
    def share(self) -> float | None:
        return self.up / self.readings if self.readings else None


@dataclass(frozen=True)
class ActionRates:
    action: str
    succeeded: int = 0
    failed: int = 0
    ineffective: int = 0  # of the succeeded, those the symptom came back after
    dry_runs: int = 0
    shadowed: int = 0

    @property
    def ran(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.ran if self.ran else None

    @property
    def ineffective_rate(self) -> float | None:
        return self.ineffective / self.succeeded if self.succeeded else None


@dataclass(frozen=True)
class Count:
    """How many of something: by (type, severity), (action, reason), fingerprint."""

    key: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class Flapping:
    fingerprint: str
    rule: str | None
    reopened: int


@dataclass(frozen=True)
class Figures:
    period: Period
    opened: int
    by_type_severity: tuple[Count, ...]
    detect: Spread
    resolve: Spread
    availability: tuple[Availability, ...]
    actions: tuple[ActionRates, ...]
    exhausted: tuple[Count, ...]  # (action, reason): budget_spent or cooldown
    other_refusals: int
    pending_approvals: int  # at the period's end
    expired_approvals: int
    flapping: tuple[Flapping, ...]
    occurrences: tuple[Count, ...]  # (fingerprint,): opened or reopened, most first

    @property
    def recurring(self) -> tuple[Count, ...]:
        """The top fingerprints that came up at least :data:`RECURRING` times."""
        return tuple(c for c in self.occurrences if c.count >= RECURRING)[:TOP]


@dataclass(frozen=True)
class Summary:
    """One period against the previous, for one organization (None: the platform view)."""

    organization_id: str | None
    this: Figures
    previous: Figures

    def recurring_before(self, fingerprint: str) -> int:
        """How often ``fingerprint`` came up the period before (0: not at all)."""
        return next((c.count for c in self.previous.occurrences if c.key == (fingerprint,)), 0)


def summarize(rows: StabilityRows, period: Period, organization_id: str | None) -> Summary:
    """The summary of ``period`` and the one before it, from rows read from its start."""
    return Summary(organization_id, figures(rows, period), figures(rows, period.previous()))


def figures(rows: StabilityRows, period: Period) -> Figures:
    events = [e for e in rows.events if period.holds(e.at)]
    timed = {t.incident.id: _timings(t) for t in rows.incidents.values()}
    opened = [(t, timed[t.incident.id]) for t in _about(events, rows.incidents, _OPENED)]
    resolved = [
        (t, timed[i]) for i, t in rows.incidents.items() if period.holds(timed[i].resolved_at)
    ]
    refused = [e for e in events if e.kind == "action.refused"]
    exhausted = [e for e in refused if e.data.get("reason") in EXHAUSTED]
    return Figures(
        period=period,
        opened=len(opened),
        by_type_severity=_counted(
            (t.incident.type.value, t.incident.severity.value) for t, _ in opened
        ),
        detect=spread([f.to_detect.total_seconds() for _, f in opened if f.to_detect is not None]),
        resolve=spread(
            [f.to_resolve.total_seconds() for _, f in resolved if f.to_resolve is not None]
        ),
        availability=availability(rows, period),
        actions=action_rates(events, rows.events),
        exhausted=_counted(
            (str(e.data.get("action")), str(e.data.get("reason"))) for e in exhausted
        ),
        other_refusals=len(refused) - len(exhausted),
        pending_approvals=sum(1 for a in rows.asked if _pending_at(a, period)),
        expired_approvals=sum(
            1 for a in rows.asked if a.status == "expired" and period.holds(a.decided_at)
        ),
        flapping=flapping(events, rows.incidents),
        occurrences=_counted((f,) for f in _occurring(events, rows.incidents)),
    )  # fmt: skip


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, None, None)
    ordered = sorted(values)
    return Spread(
        len(ordered), statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1]
    )


def availability(rows: StabilityRows, period: Period) -> tuple[Availability, ...]:
    readings: Counter[str] = Counter()
    up: dict[str, float] = {}
    for count in rows.checks:
        if period.holds(count.at):
            readings[count.check] += count.readings
            up[count.check] = up.get(count.check, 0.0) + count.up
    return tuple(Availability(c, readings[c], up[c]) for c in sorted(readings))


def action_rates(
    events: Sequence[AuditEvent], everything: Sequence[AuditEvent]
) -> tuple[ActionRates, ...]:
    """Per action, from the period's ``events``; a run is ineffective when an
    ``action.ineffective`` of the same action on the same incident follows it, whenever
    that came (``everything``: to the present)."""
    later = [(e.seq, e.incident_id, e.data.get("action")) for e in everything
             if e.kind == "action.ineffective"]  # fmt: skip
    tally: dict[str, dict[str, int]] = {}
    for e in events:
        action = str(e.data.get("action"))
        if e.kind == "action.executed":
            status = str(e.data.get("status"))
            kept = tally.setdefault(action, {})
            kept[status] = kept.get(status, 0) + 1
            if status == "succeeded" and any(
                seq > e.seq and incident == e.incident_id and name == action
                for seq, incident, name in later
            ):
                kept["ineffective"] = kept.get("ineffective", 0) + 1
        elif e.kind == "action.shadowed":
            kept = tally.setdefault(action, {})
            kept["shadow"] = kept.get("shadow", 0) + 1
    return tuple(
        ActionRates(a, t.get("succeeded", 0), t.get("failed", 0), t.get("ineffective", 0),
                    t.get("dry_run", 0), t.get("shadow", 0))
        for a, t in sorted(tally.items())
    )  # fmt: skip


def flapping(events: Iterable[AuditEvent], incidents: Mapping[int, Timed]) -> tuple[Flapping, ...]:
    reopened = Counter(t.incident.fingerprint for t in _about(events, incidents, _REOPENED))
    rules = {t.incident.fingerprint: _rule(t) for t in incidents.values()}
    return tuple(
        Flapping(f, rules.get(f), n)
        for f, n in sorted(reopened.items(), key=lambda kv: (-kv[1], kv[0]))
        if not f.startswith(MANUAL_FINGERPRINT)
    )


def compare(now: float | None, before: float | None, *, higher_is_better: bool,
            steady_within: float) -> Trend:  # fmt: skip
    """Better, worse or steady (within ``steady_within`` either way)."""
    if now is None or before is None:
        return Trend.NO_COMPARISON
    if abs(now - before) <= steady_within:
        return Trend.STEADY
    return Trend.BETTER if (now > before) == higher_is_better else Trend.WORSE


def _timings(timed: Timed) -> Timings:
    return timings(timed.events, first_breach_at(timed.incident.evidence))


def _pending_at(asked: Asked, period: Period) -> bool:
    """Asked before the period ended, and neither decided nor expired by then."""
    end = period.end
    if asked.created_at >= end:
        return False
    if asked.decided_at is not None and asked.decided_at < end:
        return False
    return asked.expires_at is None or asked.expires_at > end


def _occurring(events: Iterable[AuditEvent], incidents: Mapping[int, Timed]) -> list[str]:
    fingerprints = (t.incident.fingerprint for t in _about(events, incidents, _CAME_UP))
    return [f for f in fingerprints if not f.startswith(MANUAL_FINGERPRINT)]


def _about(
    events: Iterable[AuditEvent], incidents: Mapping[int, Timed], kinds: tuple[str, ...]
) -> list[Timed]:
    """The incident of each of ``events`` of ``kinds`` (once per event)."""
    found = (incidents.get(e.incident_id) for e in events
             if e.kind in kinds and e.incident_id is not None)  # fmt: skip
    return [t for t in found if t is not None]


def _counted(keys: Iterable[tuple[str, ...]]) -> tuple[Count, ...]:
    counts = Counter(keys)
    return tuple(Count(k, n) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _rule(timed: Timed) -> str | None:
    evidence = timed.incident.evidence
    breach = evidence.get("first_breach") or evidence.get("breach")
    rule = breach.get("rule") if isinstance(breach, dict) else None
    return rule if isinstance(rule, str) else None
