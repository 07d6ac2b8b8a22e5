"""A replay against what happened: per rule, what would have opened, how much earlier
or later than the real incident, what would have been missed, and the noise removed.

Pure. A replayed incident *matches* a real one of the same problem (organization and
fingerprint) when their spans, each widened by ``slack`` (default 30 min), overlap;
each real incident takes the unmatched replayed one that opened nearest to it, oldest
real incident first. Only real incidents opened inside the window count as missed or
removed; older ones still unresolved in it are there to be matched, so a replay that
starts inside a breach does not call it new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from calmopsd.backtest.grouping import Source, WouldOpen
from calmopsd.backtest.noise import QUICK, Noise, noise_of
from calmopsd.backtest.replay import Period, Replay
from calmopsd.backtest.sources import RealIncident

SLACK = timedelta(minutes=30)
UNKNOWN_RULE = "(rule not recorded)"


@dataclass(frozen=True)
class Window:
    """The stretch of history replayed; ``until`` is the newest thing stored."""

    since: datetime
    until: datetime


@dataclass(frozen=True)
class Match:
    """A real incident the replay opened too: ``later_s`` < 0 is earlier."""

    real: RealIncident
    would: WouldOpen
    later_s: float
    noise: Noise | None


@dataclass(frozen=True)
class Unopened:
    """A real incident the replay did not open, and whether that removed noise."""

    real: RealIncident
    noise: Noise | None


@dataclass(frozen=True)
class RuleReport:
    rule: str
    opened: tuple[WouldOpen, ...]  # every incident this rule's breach would have opened
    matched: tuple[Match, ...]
    new: tuple[WouldOpen, ...]  # opened, with no real incident to match
    missed: tuple[Unopened, ...]  # real incidents, not noise, not opened
    removed: tuple[Unopened, ...]  # noise not opened


@dataclass(frozen=True)
class Report:
    window: Window
    periods: tuple[Period, ...]
    readings: int
    rules: tuple[RuleReport, ...]
    manual: int  # incidents people opened: not compared
    quick: timedelta

    @property
    def rolled_up(self) -> bool:
        return any(p.source is Source.ROLLUP for p in self.periods)

    def matches(self) -> dict[int, Match]:
        return {m.real.id: m for r in self.rules for m in r.matched}

    def missed_ids(self) -> set[int]:
        return {u.real.id for r in self.rules for u in r.missed}

    def removed_ids(self) -> set[int]:
        return {u.real.id for r in self.rules for u in r.removed}


def compare(
    replayed: Replay,
    real: Sequence[RealIncident],
    window: Window,
    rules: Sequence[str],
    *,
    quick: timedelta = QUICK,
    slack: timedelta = SLACK,
    manual: int = 0,
) -> Report:
    """The per-rule report: ``rules`` in order, then any other rule real incidents name."""
    matches = match(replayed.incidents, real, window, slack, quick)
    matched_would = {id(m.would) for m in matches}
    matched_real = {m.real.id for m in matches}
    unopened = [
        Unopened(r, noise_of(r, quick))
        for r in real
        if r.id not in matched_real and r.opened_at >= window.since
    ]
    names = list(rules) + sorted({u.real.rule or UNKNOWN_RULE for u in unopened} - set(rules))
    reports = tuple(
        RuleReport(
            name,
            tuple(w for w in replayed.incidents if w.rule == name),
            tuple(m for m in matches if m.would.rule == name),
            tuple(w for w in replayed.incidents if w.rule == name and id(w) not in matched_would),
            tuple(u for u in unopened if (u.real.rule or UNKNOWN_RULE) == name and not u.noise),
            tuple(u for u in unopened if (u.real.rule or UNKNOWN_RULE) == name and u.noise),
        )
        for name in names
    )
    return Report(window, replayed.periods, replayed.readings, reports, manual, quick)


def match(
    replayed: Sequence[WouldOpen],
    real: Sequence[RealIncident],
    window: Window,
    slack: timedelta = SLACK,
    quick: timedelta = QUICK,
) -> list[Match]:
    """Pair real incidents with replayed ones of the same problem (see the module)."""
    free = list(replayed)
    pairs: list[Match] = []
    for incident in sorted(real, key=lambda r: (r.opened_at, r.id)):
        close = [w for w in free if overlaps(w, incident, window.until, slack)]
        if not close:
            continue
        best = min(close, key=lambda w: abs(w.opened_at - incident.opened_at))
        free.remove(best)
        later = (best.opened_at - incident.opened_at).total_seconds()
        pairs.append(Match(incident, best, later, noise_of(incident, quick)))
    return pairs


def overlaps(would: WouldOpen, real: RealIncident, until: datetime, slack: timedelta) -> bool:
    """Same problem, and the two spans (to ``until`` while unresolved) within ``slack``."""
    if (would.organization_id, would.fingerprint) != real.key:
        return False
    real_end = real.resolved_at or until
    would_end = would.ended_at or until
    return would.opened_at - slack <= real_end and real.opened_at - slack <= would_end
