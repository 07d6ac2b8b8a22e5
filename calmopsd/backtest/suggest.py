"""Alert-tuning suggestions, each with its own backtest and the YAML diff that applies it.

For each rule whose replay still opens noise (real incidents :mod:`.noise` judges
needless, matched by the baseline replay), a few variants are tried, each an edit
of the config text (:mod:`.yamldiff`) checked by the real loader and replayed over
the same history:

* ``for`` one and two readings longer (a duration: half again and twice as long);
* the threshold a few points less sensitive (5 points for a percent, half again for
  a rate, half for a "below" rule);
* ``clear_for`` twice as long, so a breach that comes back joins instead of reopening.

A rule the file writes (``rules:``) is edited in place; a shipped rule through the
keys that tune it (``thresholds:``, ``rule_defaults.<sampler>``), so a variant may
change its siblings too — and the verdict weighs every rule's incidents, not only its
own. A variant is *recommended* when, against the baseline replay, it removes noise
and loses no real incident the baseline opened; how much later it opens the ones it
keeps is told. Applying one is a person's decision: nothing here writes the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from calmopsd.backtest.report import Report
from calmopsd.backtest.yamldiff import YamlEditError, set_key, unified
from calmopsd.config import Config
from calmopsd.config.lines import KeyPath, key_path
from calmopsd.config.load import load_config_text
from calmopsd.config.rules import RuleConfig, shipped_rules
from calmopsd.config.units import format_duration
from calmopsd.errors import ConfigError

# The thresholds: key behind each shipped rule's threshold, and the step it is raised by.
SHIPPED_THRESHOLDS: dict[str, tuple[str, float]] = {
    "memory_used": ("memory_percent", 5),
    "disk_used": ("disk_percent", 5),
    "organization_upload_failures": ("upload_failure_percent", 5),
    "upload_failures": ("upload_failure_percent", 5),
    "server_errors": ("server_error_percent", 2.5),
}


class Verdict(StrEnum):
    RECOMMENDED = "recommended"
    MISSES_A_REAL_INCIDENT = "misses_a_real_incident"
    REMOVES_NO_NOISE = "removes_no_noise"
    CANNOT_EDIT = "cannot_edit"  # the text cannot be edited in place
    INVALID = "invalid"  # the edited config does not load
    NOT_APPLIED = "not_applied"  # it loads, but the rule is unchanged (it sets its own)


@dataclass(frozen=True)
class Variant:
    """One change to try: in words, and as the key and YAML value to write."""

    rule: str
    change: str
    path: KeyPath
    value: str
    applies: Callable[[RuleConfig], bool]  # does the edited rule show the change?


@dataclass(frozen=True)
class Tried:
    variant: Variant
    verdict: Verdict
    removed: tuple[int, ...] = ()  # noise incidents (ids) it would not open
    lost: tuple[int, ...] = ()  # real incidents the baseline opened and it would not
    later_s: float | None = None  # the most it opens a kept incident later than baseline
    detail: str = ""
    diff: str = ""


@dataclass(frozen=True)
class Suggestion:
    rule: str
    noise: tuple[int, ...]  # the noise incidents the baseline replay of this rule opens
    tried: tuple[Tried, ...]

    @property
    def best(self) -> Tried | None:
        """The recommended variant removing most noise, then firing least later."""
        good = [t for t in self.tried if t.verdict is Verdict.RECOMMENDED]
        return min(good, key=lambda t: (-len(t.removed), t.later_s or 0.0), default=None)


def suggest(
    config: Config,
    text: str,
    path: Path,
    baseline: Report,
    run: Callable[[Config], Report],
) -> list[Suggestion]:
    """Suggestions for every rule of ``config`` whose baseline replay opens noise."""
    found = []
    for index, rule in enumerate(config.detection_rules()):
        noise = tuple(
            sorted(
                m.real.id
                for r in baseline.rules
                for m in r.matched
                if m.noise is not None and m.real.rule == rule.name
            )
        )
        if noise:
            tried = [_try(v, text, path, baseline, run) for v in variants(config, rule, index)]
            found.append(Suggestion(rule.name, noise, tuple(tried)))
    return found


def _try(
    variant: Variant, text: str, path: Path, baseline: Report, run: Callable[[Config], Report]
) -> Tried:
    try:
        edited = set_key(text, variant.path, variant.value)
    except YamlEditError as exc:
        return Tried(variant, Verdict.CANNOT_EDIT, detail=str(exc))
    try:
        candidate = load_config_text(path, edited)
    except ConfigError as exc:
        return Tried(variant, Verdict.INVALID, detail="; ".join(exc.problems))
    rule = next((r for r in candidate.detection_rules() if r.name == variant.rule), None)
    if rule is None or not variant.applies(rule):
        return Tried(variant, Verdict.NOT_APPLIED, detail=f"{variant.rule} sets its own")
    return _judged(variant, baseline, run(candidate), unified(text, edited, str(path)))


def _judged(variant: Variant, baseline: Report, report: Report, diff: str) -> Tried:
    before, after = baseline.matches(), report.matches()
    removed = tuple(sorted(i for i, m in before.items() if m.noise and i not in after))
    lost = tuple(sorted(i for i, m in before.items() if not m.noise and i not in after))
    later = [after[i].later_s - m.later_s for i, m in before.items() if i in after]
    later_s = max(later, default=None)
    if lost:
        verdict = Verdict.MISSES_A_REAL_INCIDENT
    elif not removed:
        verdict = Verdict.REMOVES_NO_NOISE
    else:
        verdict = Verdict.RECOMMENDED
    return Tried(variant, verdict, removed, lost, later_s, diff=diff)


def variants(config: Config, rule: RuleConfig, index: int) -> list[Variant]:
    """The variants of ``rule`` worth a backtest, as edits of the config."""
    return [
        *_holds(config, rule, index),
        *_thresholds(config, rule, index),
        *_clears(config, rule, index),
    ]


def _key(config: Config, rule: RuleConfig, index: int, key: str) -> KeyPath | None:
    """Where ``key`` of ``rule`` is set: its own entry in ``rules:``, or its sampler's
    rule_defaults (None when a shipped rule writes its own, which nothing tunes)."""
    if config.rules is not None:
        return ("rules", index, key)
    own = {r.name: r.model_fields_set for r in shipped_rules()}.get(rule.name, set())
    field = "hold" if key == "for" else key
    return None if field in own else ("rule_defaults", rule.sampler, key)


def _holds(config: Config, rule: RuleConfig, index: int) -> list[Variant]:
    path = _key(config, rule, index, "for")
    if path is None:
        return []
    hold = rule.hold
    if isinstance(hold, int):
        longer: list[int | timedelta] = [hold + 1, hold + 2]
    else:
        longer = [hold * 1.5, hold * 2]
    return [
        Variant(
            rule.name,
            f"for {_spelt(hold)} → {_spelt(h)}",
            path,
            _spelt(h),
            _holds_for(h),
        )
        for h in longer
    ]


def _holds_for(hold: int | timedelta) -> Callable[[RuleConfig], bool]:
    return lambda rule: rule.hold == hold


def _thresholds(config: Config, rule: RuleConfig, index: int) -> list[Variant]:
    threshold = rule.threshold
    if rule.op not in (">", ">=", "<", "<=") or isinstance(threshold, bool | str):
        return []
    if config.rules is None:
        if rule.name not in SHIPPED_THRESHOLDS:
            return []
        key, step = SHIPPED_THRESHOLDS[rule.name]
        current = float(getattr(config.thresholds, key))
        new = current + step
        return [
            Variant(
                rule.name,
                f"thresholds.{key} {current:g} → {new:g}",
                ("thresholds", key),
                f"{new:g}",
                lambda r: float(r.threshold) != float(threshold),
            )
        ]
    upward = rule.op in (">", ">=")
    if rule.metric.endswith("percent"):
        new = threshold + 5 if upward else threshold - 5
    else:
        new = threshold * 1.5 if upward else threshold * 0.5
    return [
        Variant(
            rule.name,
            f"threshold {threshold:g} → {new:g}",
            ("rules", index, "threshold"),
            f"{new:g}",
            lambda r: r.threshold == float(f"{new:g}"),
        )
    ]


def _clears(config: Config, rule: RuleConfig, index: int) -> list[Variant]:
    path = _key(config, rule, index, "clear_for")
    if path is None or not rule.clear_for:
        return []
    longer = rule.clear_for * 2
    spelt = format_duration(longer)
    return [
        Variant(
            rule.name,
            f"clear_for {format_duration(rule.clear_for)} → {spelt}",
            path,
            spelt,
            lambda r: r.clear_for == longer,
        )
    ]


def _spelt(hold: int | timedelta) -> str:
    return str(hold) if isinstance(hold, int) else format_duration(hold)


def where(variant: Variant) -> str:
    """The key a variant edits, spelt as config errors spell it."""
    return key_path(variant.path)


def recommended(suggestions: Sequence[Suggestion]) -> list[Tried]:
    """The best variant of each rule that has one."""
    return [s.best for s in suggestions if s.best is not None]
