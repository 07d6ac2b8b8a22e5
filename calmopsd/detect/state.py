"""One series' hold-down and hysteresis state, as a table.

Each sample is judged (:func:`judge`) as in breach, between the clear and fire
thresholds, or clear; how long that has held turns it into an
:class:`Observation`, and :data:`TRANSITIONS` maps ``(state, observation)`` to
the next state and the named reason, if anything worth reporting happened::

    OK ──breach──▶ PENDING ──held `for`──▶ FIRING ──clear──▶ CLEARING ──held `clear_for`──▶ OK
                     │                       ▲                  │
                     └──not breach──▶ OK     └──not clear───────┘

A blip shorter than ``for`` goes OK → PENDING → OK and never fires; between
the two thresholds a firing series stays firing; a clear that is interrupted
goes back to FIRING and must start its ``clear_for`` again.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from calmopsd.config.rules import ORDERING, RuleConfig
from calmopsd.model import Severity


class State(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    CLEARING = "clearing"


class Verdict(StrEnum):
    """How one sample stands against a rule's thresholds."""

    BREACH = "breach"
    BETWEEN = "between"  # past the clear threshold, short of the fire threshold
    CLEAR = "clear"


class Observation(StrEnum):
    """A verdict and whether it has now held long enough to act on."""

    BREACH = "breach"
    BREACH_HELD = "breach_held"
    BETWEEN = "between"
    CLEAR = "clear"
    CLEAR_HELD = "clear_held"


class Reason(StrEnum):
    BREACH_STARTED = "breach_started"
    BREACH_ABANDONED = "breach_abandoned"
    BREACH_CONFIRMED = "breach_confirmed"
    ESCALATED = "escalated"
    CLEAR_STARTED = "clear_started"
    CLEAR_ABORTED = "clear_aborted"
    CLEARED = "cleared"
    VANISHED = "vanished"  # a firing series no reading has shown for ``forget_after``


_S, _O, _R = State, Observation, Reason
TRANSITIONS: dict[tuple[State, Observation], tuple[State, Reason | None]] = {
    (_S.OK, _O.BREACH): (_S.PENDING, _R.BREACH_STARTED),
    (_S.OK, _O.BREACH_HELD): (_S.FIRING, _R.BREACH_CONFIRMED),  # `for: 1`
    (_S.OK, _O.BETWEEN): (_S.OK, None),
    (_S.OK, _O.CLEAR): (_S.OK, None),
    (_S.OK, _O.CLEAR_HELD): (_S.OK, None),
    (_S.PENDING, _O.BREACH): (_S.PENDING, None),
    (_S.PENDING, _O.BREACH_HELD): (_S.FIRING, _R.BREACH_CONFIRMED),
    (_S.PENDING, _O.BETWEEN): (_S.OK, _R.BREACH_ABANDONED),
    (_S.PENDING, _O.CLEAR): (_S.OK, _R.BREACH_ABANDONED),
    (_S.PENDING, _O.CLEAR_HELD): (_S.OK, _R.BREACH_ABANDONED),
    (_S.FIRING, _O.BREACH): (_S.FIRING, None),
    (_S.FIRING, _O.BREACH_HELD): (_S.FIRING, None),
    (_S.FIRING, _O.BETWEEN): (_S.FIRING, None),  # hysteresis
    (_S.FIRING, _O.CLEAR): (_S.CLEARING, _R.CLEAR_STARTED),
    (_S.FIRING, _O.CLEAR_HELD): (_S.OK, _R.CLEARED),  # `clear_for: 0s`
    (_S.CLEARING, _O.BREACH): (_S.FIRING, _R.CLEAR_ABORTED),
    (_S.CLEARING, _O.BREACH_HELD): (_S.FIRING, _R.CLEAR_ABORTED),
    (_S.CLEARING, _O.BETWEEN): (_S.FIRING, _R.CLEAR_ABORTED),
    (_S.CLEARING, _O.CLEAR): (_S.CLEARING, None),
    (_S.CLEARING, _O.CLEAR_HELD): (_S.OK, _R.CLEARED),
}
del _S, _O, _R

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def advance(state: State, observation: Observation) -> tuple[State, Reason | None]:
    """The next state and its reason; the table is complete, so a miss is a bug."""
    try:
        return TRANSITIONS[(state, observation)]
    except KeyError:
        raise AssertionError(f"no transition from {state} on {observation}") from None


def compares(op: str, value: Any, threshold: Any) -> bool:
    """``value op threshold``; a value of the wrong kind (None, text for >) is never in breach."""
    if value is None:
        return False
    if op in ORDERING and not _is_number(value):
        return False
    if op not in ORDERING and isinstance(threshold, bool) != isinstance(value, bool):
        return False
    return _COMPARE[op](value, threshold)


def judge(rule: RuleConfig, value: Any) -> Verdict:
    if compares(rule.op, value, rule.threshold):
        return Verdict.BREACH
    if rule.clear is None or not _is_number(value):
        return Verdict.CLEAR
    healthy = operator.lt if rule.op in (">", ">=") else operator.gt
    return Verdict.CLEAR if healthy(value, rule.clear) else Verdict.BETWEEN


def is_critical(rule: RuleConfig, value: Any) -> bool:
    return rule.critical is not None and compares(rule.op, value, rule.critical)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Run:
    """How long a condition has held without a break: samples and since when."""

    samples: int = 0
    since: datetime | None = None

    def extend(self, holds: bool, now: datetime) -> Run:
        if not holds:
            return Run()
        return Run(self.samples + 1, self.since or now)

    def held(self, hold: int | timedelta, now: datetime) -> bool:
        if self.since is None:
            return False
        if isinstance(hold, int):
            return self.samples >= hold
        return now - self.since >= hold


@dataclass(frozen=True)
class SeriesState:
    """What one (rule, series) keeps between samples."""

    state: State = State.OK
    breach: Run = Run()
    clear: Run = Run()
    critical: Run = Run()
    severity: Severity | None = None  # while FIRING or CLEARING
    last_seen: datetime | None = None


def step(
    rule: RuleConfig, series: SeriesState, value: Any, now: datetime
) -> tuple[SeriesState, Reason | None]:
    """Fold one sample into ``series``: the new state and the reason, if one is due."""
    verdict = judge(rule, value)
    breach = series.breach.extend(verdict is Verdict.BREACH, now)
    clear = series.clear.extend(verdict is Verdict.CLEAR, now)
    critical = series.critical.extend(is_critical(rule, value), now)
    observation = _observe(rule, verdict, breach, clear, now)
    state, reason = advance(series.state, observation)
    severity = series.severity
    is_severe = critical.held(rule.hold, now)
    if reason is Reason.BREACH_CONFIRMED:
        severity = Severity.CRITICAL if is_severe else rule.severity
    elif state is State.FIRING and reason is None and is_severe and severity != Severity.CRITICAL:
        severity, reason = Severity.CRITICAL, Reason.ESCALATED
    elif state is State.OK:
        severity = None
    updated = replace(
        series,
        state=state,
        breach=breach,
        clear=clear,
        critical=critical,
        severity=severity,
        last_seen=now,
    )
    return updated, reason


def _observe(
    rule: RuleConfig, verdict: Verdict, breach: Run, clear: Run, now: datetime
) -> Observation:
    if verdict is Verdict.BREACH:
        return Observation.BREACH_HELD if breach.held(rule.hold, now) else Observation.BREACH
    if verdict is Verdict.CLEAR:
        held = clear.held(1, now) and now - (clear.since or now) >= rule.clear_for
        return Observation.CLEAR_HELD if held else Observation.CLEAR
    return Observation.BETWEEN
