"""The report (and suggestions) as a person reads it, and as JSON for scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from calmopsd.backtest.buckets import APPROXIMATION
from calmopsd.backtest.grouping import WouldOpen
from calmopsd.backtest.noise import describe
from calmopsd.backtest.replay import Period
from calmopsd.backtest.report import Match, Report, RuleReport, Unopened
from calmopsd.backtest.suggest import Suggestion, Tried, where


def text(report: Report, suggestions: Sequence[Suggestion] | None = None) -> str:
    """The report in plain lines: the window, where each stretch came from, per rule."""
    w = report.window
    lines = [f"Backtest of {_t(w.since)} to {_t(w.until)} ({report.readings} readings replayed)"]
    lines += ["", "History:"] + [f"  {_period(p)}" for p in report.periods]
    if not report.periods:
        lines.append("  nothing stored in this window")
    if report.rolled_up:
        lines += ["", f"Roll-ups: {APPROXIMATION}"]
    lines += ["", f"Noise: {describe(report.quick)}"]
    if report.manual:
        lines.append(f"{report.manual} incident(s) opened by a person are not compared.")
    for rule in report.rules:
        if rule.opened or rule.missed or rule.removed:
            lines += ["", *_rule(rule)]
    quiet = [r.rule for r in report.rules if not (r.opened or r.missed or r.removed)]
    if quiet:
        lines += ["", f"Nothing opened or missed: {', '.join(quiet)}"]
    lines += ["", _totals(report)]
    if suggestions is not None:
        lines += ["", *_suggestions(suggestions)]
    return "\n".join(lines) + "\n"


def _rule(rule: RuleReport) -> list[str]:
    lines = [
        f"{rule.rule}: would open {len(rule.opened)}, matching {len(rule.matched)} real; "
        f"{len(rule.new)} new, {len(rule.missed)} missed, {len(rule.removed)} noise removed"
    ]
    lines += [f"  {_match(m)}" for m in rule.matched]
    lines += [f"  new: {w.fingerprint} at {_t(w.opened_at)} ({w.source})" for w in rule.new]
    lines += [f"  missed: {_unopened(u)}" for u in rule.missed]
    lines += [f"  noise removed: {_unopened(u)} ({u.noise})" for u in rule.removed]
    return lines


def _match(m: Match) -> str:
    when = (
        "at the same time"
        if m.later_s == 0
        else (f"{_span(abs(m.later_s))} {'later' if m.later_s > 0 else 'earlier'}")
    )
    noise = f", noise ({m.noise})" if m.noise else ""
    return (
        f"incident {m.real.id} {m.real.fingerprint} opened {_t(m.real.opened_at)}: "
        f"{when} ({m.would.source}){noise}"
    )


def _unopened(u: Unopened) -> str:
    ended = u.real.resolution or "unresolved"
    return f"incident {u.real.id} {u.real.fingerprint} opened {_t(u.real.opened_at)}, {ended}"


def _totals(report: Report) -> str:
    opened = sum(len(r.opened) for r in report.rules)
    new = sum(len(r.new) for r in report.rules)
    return (
        f"In all: would open {opened} ({new} new); {len(report.missed_ids())} real "
        f"incident(s) missed; {len(report.removed_ids())} noise incident(s) removed."
    )


def _suggestions(suggestions: Sequence[Suggestion]) -> list[str]:
    if not suggestions:
        return ["Suggestions: no rule's replay opens noise; nothing to tune."]
    lines = [
        "Suggestions (each backtested over the same history; applying one is for a "
        "person to approve):"
    ]
    for s in suggestions:
        lines.append(f"  {s.rule}: opens noise incident(s) {', '.join(map(str, s.noise))}")
        lines += [f"    {_tried(t)}" for t in s.tried]
        best = s.best
        if best is not None:
            lines += [f"  recommended for {s.rule}: {best.variant.change}", best.diff.rstrip()]
    return lines


def _tried(t: Tried) -> str:
    said = f"{t.variant.change} ({where(t.variant)}): {t.verdict}"
    if t.removed:
        said += f", removes {len(t.removed)} noise"
    if t.lost:
        said += f", misses incident(s) {', '.join(map(str, t.lost))}"
    if t.later_s:
        said += f", up to {_span(t.later_s)} later"
    return said + (f" — {t.detail}" if t.detail else "")


def _period(p: Period) -> str:
    kind = "raw snapshots" if p.source == "raw" else "5-minute roll-ups"
    return f"{p.sampler}: {kind} {_t(p.first)} to {_t(p.last)} ({p.count})"


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _span(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return (
        f"{minutes} min {rest} s"
        if rest and minutes
        else (f"{minutes} min" if minutes else f"{rest} s")
    )


# -- JSON -------------------------------------------------------------------------------


def as_json(report: Report, suggestions: Sequence[Suggestion] | None = None) -> dict[str, Any]:
    """The report as JSON values: times ISO-8601, durations in seconds."""
    found: dict[str, Any] = {
        "since": report.window.since.isoformat(),
        "until": report.window.until.isoformat(),
        "readings": report.readings,
        "periods": [_period_json(p) for p in report.periods],
        "approximation": APPROXIMATION if report.rolled_up else None,
        "noise": {"quick_s": report.quick.total_seconds(), "rule": describe(report.quick)},
        "manual_not_compared": report.manual,
        "rules": [_rule_json(r) for r in report.rules],
        "totals": {
            "would_open": sum(len(r.opened) for r in report.rules),
            "new": sum(len(r.new) for r in report.rules),
            "missed": len(report.missed_ids()),
            "noise_removed": len(report.removed_ids()),
        },
    }
    if suggestions is not None:
        found["suggestions"] = [_suggestion_json(s) for s in suggestions]
    return found


def _period_json(p: Period) -> dict[str, Any]:
    return {
        "sampler": p.sampler,
        "source": str(p.source),
        "first": p.first.isoformat(),
        "last": p.last.isoformat(),
        "count": p.count,
    }


def _rule_json(r: RuleReport) -> dict[str, Any]:
    return {
        "rule": r.rule,
        "would_open": [_would_json(w) for w in r.opened],
        "matched": [
            {
                "incident_id": m.real.id,
                "later_s": m.later_s,
                "noise": m.noise,
                "opened_at": m.would.opened_at.isoformat(),
                "source": str(m.would.source),
            }
            for m in r.matched
        ],
        "new": [_would_json(w) for w in r.new],
        "missed": [
            {
                "incident_id": u.real.id,
                "fingerprint": u.real.fingerprint,
                "opened_at": u.real.opened_at.isoformat(),
            }
            for u in r.missed
        ],
        "noise_removed": [
            {
                "incident_id": u.real.id,
                "fingerprint": u.real.fingerprint,
                "opened_at": u.real.opened_at.isoformat(),
                "noise": u.noise,
            }
            for u in r.removed
        ],
    }


def _would_json(w: WouldOpen) -> dict[str, Any]:
    return {
        "fingerprint": w.fingerprint,
        "organization_id": w.organization_id,
        "opened_at": w.opened_at.isoformat(),
        "source": str(w.source),
        "ended_at": w.ended_at.isoformat() if w.ended_at else None,
        "ending": w.ending,
        "reopened": w.reopened,
        "severity": w.severity,
        "labels": dict(w.labels),
        "rules": list(w.rules),
    }


def _suggestion_json(s: Suggestion) -> dict[str, Any]:
    best = s.best
    return {
        "rule": s.rule,
        "noise": list(s.noise),
        "tried": [
            {
                "change": t.variant.change,
                "key": where(t.variant),
                "value": t.variant.value,
                "verdict": t.verdict,
                "removes": list(t.removed),
                "misses": list(t.lost),
                "later_s": t.later_s,
                "detail": t.detail,
                "diff": t.diff,
            }
            for t in s.tried
        ],
        "recommended": None if best is None else where(best.variant),
    }
