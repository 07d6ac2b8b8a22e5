"""Stored history through a rule set: the real detector, classification and grouping.

Pure: :func:`replay` folds an iterable of typed readings — raw readings
(:class:`~calmopsd.model.Reading`) and roll-up buckets
(:class:`~calmopsd.record.rollups.RollupBucket`), oldest first — and reads no clock:
each reading's own time is the time. Every rule has its own
:class:`~calmopsd.detect.Detector` (a detector's series are per rule, so this is the
same as one detector over all rules), because a roll-up bucket is a different reading
for each rule (:mod:`.buckets`). A raw reading also feeds the classification
:class:`~calmopsd.detect.Context`, so a confirmed breach gets the type and fingerprint
the agent would have given it.

Per sampler, a roll-up bucket is replayed only until that sampler's first raw reading:
retention rolls whole buckets and deletes their raw rows, so later buckets would only
repeat what raw readings say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from calmopsd.backtest.buckets import bucket_reading
from calmopsd.backtest.grouping import Forget, Grouper, HoldClear, Instruction, Source, WouldOpen
from calmopsd.config.incidents import IncidentsConfig
from calmopsd.config.rules import RuleConfig
from calmopsd.detect import Context, Detector, Reason, Transition, classify
from calmopsd.detect.problem import dominant_organization, problem_of
from calmopsd.model import Reading
from calmopsd.record.rollups import RollupBucket

Observed = Reading | RollupBucket


@dataclass(frozen=True)
class Period:
    """One sampler's stretch of history from one source: first and last reading, how many."""

    sampler: str
    source: Source
    first: datetime
    last: datetime
    count: int


@dataclass(frozen=True)
class Replay:
    """What a rule set would have opened over the history, and where the history came from."""

    incidents: tuple[WouldOpen, ...]
    periods: tuple[Period, ...]
    readings: int  # raw readings and roll-up buckets replayed


def observed_at(item: Observed) -> datetime:
    """When a replayed item happened: a reading's time, a bucket's end."""
    return item.taken_at if isinstance(item, Reading) else item.end


@dataclass
class _Tally:
    first: datetime
    last: datetime
    count: int = 0


class _Replayer:
    def __init__(self, rules: Sequence[RuleConfig], settings: IncidentsConfig) -> None:
        self.rules = {rule.name: rule for rule in rules}
        self.detectors = {rule.name: Detector([rule]) for rule in rules}
        self.context = Context(deploy_window=settings.deploy_window)
        self.grouper = Grouper(settings)
        self.share = settings.dominant_share / 100
        self.raw_seen: set[str] = set()
        self.by_sampler: dict[str, list[RuleConfig]] = {}
        for rule in rules:
            self.by_sampler.setdefault(rule.sampler, []).append(rule)
        self.periods: dict[tuple[str, Source], _Tally] = {}
        self.readings = 0

    def take(self, item: Observed) -> None:
        at = observed_at(item)
        if isinstance(item, RollupBucket):
            if item.sampler in self.raw_seen:
                return
            self._tell(self.grouper.stale(at, self._last_seen))
            self._count(item.sampler, Source.ROLLUP, at)
            for rule in self._of(item.sampler):
                reading = bucket_reading(rule, item)
                self._handle(self.detectors[rule.name].evaluate(reading), Source.ROLLUP)
            return
        self.raw_seen.add(item.sampler)
        self._tell(self.grouper.stale(at, self._last_seen))
        self._count(item.sampler, Source.RAW, at)
        self.context.observe(item)
        transitions = [
            t for r in self._of(item.sampler) for t in self.detectors[r.name].evaluate(item)
        ]
        self._handle(sorted(transitions, key=_specific_first), Source.RAW)

    def _of(self, sampler: str) -> list[RuleConfig]:
        return self.by_sampler.get(sampler, [])

    def _handle(self, transitions: Iterable[Transition], source: Source) -> None:
        for t in transitions:
            key = (t.rule, t.labels)
            if t.reason is Reason.BREACH_CONFIRMED and t.breach is not None:
                decided = classify(self.context.evidence(t.breach))
                dominant = dominant_organization(self.context.logs, t.breach, self.share)
                problem = problem_of(t.breach, decided.type, dominant, decided.resource)
                hold = self.rules[t.rule].clear_for
                self._tell(self.grouper.confirmed(t.breach, problem, decided.type, source, hold))
            elif t.reason in (Reason.CLEARED, Reason.VANISHED):
                self.grouper.ended(key, t.reason is Reason.CLEARED, t.at)

    def _tell(self, instructions: Iterable[Instruction]) -> None:
        for instruction in instructions:
            rule, labels = instruction.key
            if isinstance(instruction, HoldClear):
                self.detectors[rule].hold_clear(rule, labels, instruction.clear_for)
            elif isinstance(instruction, Forget):
                self.detectors[rule].forget(rule, labels)

    def _last_seen(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> datetime | None:
        detector = self.detectors.get(key[0])
        return detector.last_seen(*key) if detector is not None else None

    def _count(self, sampler: str, source: Source, at: datetime) -> None:
        self.readings += 1
        tally = self.periods.setdefault((sampler, source), _Tally(at, at))
        tally.last, tally.count = at, tally.count + 1

    def result(self) -> Replay:
        periods = tuple(
            Period(sampler, source, tally.first, tally.last, tally.count)
            for (sampler, source), tally in sorted(self.periods.items())
        )
        return Replay(self.grouper.result(), periods, self.readings)


def replay(
    observed: Iterable[Observed], rules: Sequence[RuleConfig], settings: IncidentsConfig
) -> Replay:
    """Fold ``observed`` (oldest first) through ``rules``; the incidents they would have
    opened, grouped as the agent groups them."""
    replayer = _Replayer(rules, settings)
    for item in observed:
        replayer.take(item)
    return replayer.result()


def _specific_first(transition: Transition) -> int:
    """An organization's confirmed breaches before the rest, as the agent takes them."""
    confirmed = transition.reason is Reason.BREACH_CONFIRMED
    return 0 if confirmed and any(k == "organization" for k, _ in transition.labels) else 1
