"""Readings → transitions: every rule's series stepped through its state table.

:class:`Detector` is fed readings one at a time; the reading's ``taken_at`` is
the time, so a test (or a replay of stored snapshots) drives it without a
clock. A failed reading (``ok`` False) says nothing about the host and changes
nothing. A series a reading no longer shows (an app deleted, a mount gone) is
forgotten after ``forget_after``; if it was firing, a ``vanished`` transition
says so, so no breach stays open forever on a series that no longer exists.

A reading of windowed rates (the ``logs`` reading) carries ``window_end``; it is
sampled more often than its windows move on, so the same minute is read several
times. A reading whose windows end where the last one judged for its sampler
ended repeats evidence already counted: it changes nothing, so ``for`` and
``clear_for`` count fresh windows, and a blip inside one minute is one sample.
(Any other end is fresh, an earlier one too: a clock stepped back must not
leave detection blind.) A reading without ``window_end`` (every other sampler)
is always fresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from calmopsd.config.rules import RuleConfig
from calmopsd.detect.breach import Transition
from calmopsd.detect.series import lookup, select
from calmopsd.detect.state import Reason, SeriesState, State, step
from calmopsd.model import Breach, Labels, Reading, Severity

FORGET_AFTER = timedelta(hours=1)
FIRED = frozenset({State.FIRING, State.CLEARING})
WINDOW_END = "window_end"  # the key a reading of windowed rates carries (ISO-8601)


@dataclass
class Series:
    """One (rule, labels) series: its state, the breach once fired, recent samples for sums."""

    state: SeriesState = field(default_factory=SeriesState)
    breach: Breach | None = None
    recent: list[tuple[datetime, float]] = field(default_factory=list)
    clear_for: timedelta | None = None  # a longer clear hold while its incident flaps
    # The latest reading of its sampler gave no verdict on it: did not show it, or showed
    # too little traffic to judge (its state is kept, but nothing is done on it).
    unjudged: bool = False
    value: Any = None  # the last value judged


class Detector:
    """Holds every series' state; :meth:`evaluate` is the only way in."""

    def __init__(self, rules: Iterable[RuleConfig], forget_after: timedelta = FORGET_AFTER):
        self.rules = list(rules)
        self.forget_after = forget_after
        self.series: dict[tuple[str, Labels], Series] = {}
        self.windows: dict[str, datetime] = {}  # per sampler: the last window end judged

    def evaluate(self, reading: Reading) -> list[Transition]:
        """The transitions ``reading`` causes, in rule order then label order.

        A failed reading, or one repeating windows already judged, causes none.
        """
        if not reading.ok or not self._fresh(reading):
            return []
        transitions: list[Transition] = []
        for rule in self.rules:
            if rule.sampler == reading.sampler:
                transitions.extend(self._rule(rule, reading.values, reading.taken_at))
        return transitions

    def _fresh(self, reading: Reading) -> bool:
        """Whether ``reading`` is new evidence; a fresh window end is remembered."""
        end = _window_end(reading.values)
        if end is None:
            return True
        if self.windows.get(reading.sampler) == end:
            return False
        self.windows[reading.sampler] = end
        return True

    def state(self, rule: str, labels: Labels) -> State:
        """Where one series stands now (OK for a series never seen)."""
        series = self.series.get((rule, labels))
        return series.state.state if series else State.OK

    def value(self, rule: str, labels: Labels) -> Any:
        """The series' last judged value (None: never judged, or forgotten)."""
        series = self.series.get((rule, labels))
        return series.value if series else None

    def breach(self, rule: str, labels: Labels) -> Breach | None:
        """The series' breach while it is fired (None: not fired, or never seen)."""
        series = self.series.get((rule, labels))
        return series.breach if series else None

    def last_seen(self, rule: str, labels: Labels) -> datetime | None:
        """When a reading last showed this series (None: never, or forgotten)."""
        series = self.series.get((rule, labels))
        return series.state.last_seen if series else None

    def reported(self, rule: str, labels: Labels) -> bool:
        """Whether the latest reading of its sampler judged this series.

        A firing series not shown (an app deleted, an organization's traffic stopped)
        or with too little traffic to judge is not acted on again: its state is only
        kept, until it vanishes or is judged again.
        """
        series = self.series.get((rule, labels))
        return series is not None and not series.unjudged

    def any_fired(self, rules: set[str]) -> bool:
        """Whether any series of these rules is firing or clearing now."""
        return any(
            name in rules and series.state.state in FIRED
            for (name, _), series in self.series.items()
        )

    def forget(self, rule: str, labels: Labels) -> None:
        """Drop one series' state: a breach still there then confirms afresh.

        For an incident resolved without recovering (stale, vanished, by a
        person): its breach, if it goes on, must open or reopen an incident again.
        """
        self.series.pop((rule, labels), None)

    def adopt(self, rule: str, labels: Labels, severity: Severity, now: datetime) -> None:
        """Take over a series that was firing before a restart, so its clear is seen.

        Only for a rule this detector has and a series it does not know yet.
        """
        if (rule, labels) in self.series or all(r.name != rule for r in self.rules):
            return
        state = SeriesState(state=State.FIRING, severity=severity, last_seen=now)
        self.series[(rule, labels)] = Series(state=state, unjudged=True)  # until a reading

    def hold_clear(self, rule: str, labels: Labels, clear_for: timedelta) -> None:
        """Make this firing series hold its clear condition for ``clear_for`` before it clears.

        Used for a flapping incident; the override ends when the series clears.
        """
        series = self.series.get((rule, labels))
        if series is not None and series.state.state in FIRED:
            series.clear_for = clear_for

    def _rule(self, rule: RuleConfig, values: Mapping[str, Any], now: datetime) -> list[Transition]:
        found = select(values, rule)
        for (name, labels), series in self.series.items():
            if name == rule.name:
                series.unjudged = labels not in found
        transitions = [
            t
            for labels, raw in sorted(found.items())
            if (t := self._sample(rule, labels, values, raw, now)) is not None
        ]
        return transitions + self._forget(rule, set(found), now)

    def _sample(
        self, rule: RuleConfig, labels: Labels, values: Mapping[str, Any], raw: Any, now: datetime
    ) -> Transition | None:
        series = self.series.setdefault((rule.name, labels), Series())
        value = _summed(rule, series, raw, now)
        volume = lookup(values, rule.volume.metric, labels) if rule.volume else None
        series.unjudged = _too_thin(rule, volume)
        if series.unjudged:
            # Too few requests to judge: no verdict, neither a breach nor a recovery, and
            # not news either (``last_seen`` stays): a firing series starved of traffic
            # for ``incidents.stale_after`` ends as stale_resolved, not recovered.
            return None
        judged = series.value = value
        held = (
            rule
            if series.clear_for is None
            else rule.model_copy(update={"clear_for": series.clear_for})
        )
        series.state, reason = step(held, series.state, judged, now)
        if reason is Reason.BREACH_CONFIRMED:
            series.breach = _breach(rule, labels, series.state, value, volume, now)
        elif series.breach is not None and series.state.severity is not None:
            series.breach = replace(series.breach, severity=series.state.severity, value=value)
        transition = None
        if reason is not None:
            transition = Transition(
                rule.name, labels, reason, series.state.state, now, value, series.breach
            )
        if series.state.state is State.OK:
            series.breach, series.clear_for = None, None
        return transition

    def _forget(self, rule: RuleConfig, present: set[Labels], now: datetime) -> list[Transition]:
        """Drop this rule's series unseen for ``forget_after``; a fired one says it vanished."""
        gone = [
            (labels, series)
            for (name, labels), series in self.series.items()
            if name == rule.name
            and labels not in present
            and now - (series.state.last_seen or now) >= self.forget_after
        ]
        for labels, _ in gone:
            del self.series[(rule.name, labels)]
        return [
            Transition(rule.name, labels, Reason.VANISHED, State.OK, now, None, series.breach)
            for labels, series in gone
            if series.state.state in FIRED
        ]


def _window_end(values: Mapping[str, Any]) -> datetime | None:
    """The end of a windowed reading's windows; None without one (or one unreadable)."""
    raw = values.get(WINDOW_END)
    if not isinstance(raw, str):
        return None
    try:
        end = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return end if end.tzinfo is not None else None


def _summed(rule: RuleConfig, series: Series, raw: Any, now: datetime) -> Any:
    """The raw value, or with ``sum_over`` the sum of the samples inside the window."""
    if rule.sum_over is None:
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        series.recent.append((now, float(raw)))
    series.recent = [(t, v) for t, v in series.recent if t > now - rule.sum_over]
    total = sum((v for _, v in series.recent), 0.0)
    return int(total) if total.is_integer() else total


def _too_thin(rule: RuleConfig, volume: Any) -> bool:
    """A rate over too few requests is not judged at all: it neither fires nor clears."""
    if rule.volume is None:
        return False
    return not isinstance(volume, int | float) or volume < rule.volume.at_least


def _breach(
    rule: RuleConfig,
    labels: Labels,
    state: SeriesState,
    value: Any,
    volume: Any,
    now: datetime,
) -> Breach:
    evidence: dict[str, Any] = {
        "sampler": rule.sampler,
        "metric": rule.metric,
        "op": rule.op,
        "threshold": rule.threshold,
        "value": value,
    }
    if rule.volume is not None:
        evidence["volume"] = {"metric": rule.volume.metric, "value": volume}
    return Breach(
        rule=rule.name,
        type=rule.type,
        severity=state.severity or rule.severity,
        labels=labels,
        value=value,
        started_at=state.breach.since or now,
        confirmed_at=now,
        evidence=evidence,
    )
