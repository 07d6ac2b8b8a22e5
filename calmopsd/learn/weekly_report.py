"""The weekly stability summary as a person reads it (calm sentences, one screen) and as a
script reads it (JSON). Pure.

Calm: each line says what happened and how it compares, in plain words and without
alarm ("slower", never "degraded!"); a line with nothing to tell says so briefly, so
the screen has the same shape every week.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from calmopsd.learn.timings import spoken
from calmopsd.learn.weekly import Figures, Spread, Summary, Trend, compare

_FASTER = {Trend.BETTER: "quicker", Trend.WORSE: "slower", Trend.STEADY: "about the same"}
_UP = {Trend.BETTER: "up", Trend.WORSE: "down", Trend.STEADY: "steady"}
STEADY_S = 0.1  # durations within a tenth of the previous one are about the same
STEADY_SHARE = 0.001  # availability within 0.1 point is steady


def title(summary: Summary) -> str:
    whose = f" for {summary.organization_id}" if summary.organization_id else ""
    return f"Stability summary{whose}, {summary.this.period.label}"


def lines(summary: Summary) -> list[str]:
    """The summary, one sentence per topic, in a fixed order."""
    this, before = summary.this, summary.previous
    return [
        _incidents(this, before),
        _timing("detect", this.detect, before.detect, before.period.label),
        _timing("resolve", this.resolve, before.resolve, before.period.label),
        _availability(this, before),
        *_actions(this),
        _budgets(this),
        _approvals(this),
        _flapping(this),
        _recurring(summary),
    ]


def text(summary: Summary) -> str:
    return "\n".join([title(summary), "", *lines(summary)])


def _incidents(this: Figures, before: Figures) -> str:
    was = f"{before.period.label}: {before.opened}"
    if not this.opened:
        return f"No incidents opened ({was})."
    kinds = ", ".join(f"{c.count} {c.key[0]} {c.key[1]}" for c in this.by_type_severity)
    return f"{_times(this.opened, 'incident')} opened ({was}): {kinds}."


def _timing(verb: str, now: Spread, before: Spread, label: str) -> str:
    if not now.count:
        return f"Time to {verb}: nothing to time this time ({label}: {_spread(before)})."
    trend = compare(now.median_s, before.median_s, higher_is_better=False,
                    steady_within=STEADY_S * (before.median_s or 0))  # fmt: skip
    moved = f", {_FASTER[trend]}" if trend in _FASTER else ""
    return f"Time to {verb}: {_spread(now)} over {now.count} ({label}: {_spread(before)}{moved})."


def _spread(spread: Spread) -> str:
    if not spread.count:
        return "none"
    return f"{_duration(spread.median_s)} median, {_duration(spread.p90_s)} p90"


def _availability(this: Figures, before: Figures) -> str:
    if not this.availability:
        return "Health checks: no readings in this period."
    previous = {a.check: a.share for a in before.availability}
    parts = []
    for a in this.availability:
        then = previous.get(a.check)
        trend = compare(a.share, then, higher_is_better=True, steady_within=STEADY_SHARE)
        was = f"{before.period.label}: {_percent(then)}" if then is not None else "new"
        moved = f", {_UP[trend]}" if trend in _UP and trend is not Trend.STEADY else ""
        parts.append(f"{a.check} {_percent(a.share)} ({was}{moved})")
    return f"Health checks up: {'; '.join(parts)}."


def _actions(this: Figures) -> list[str]:
    ran = [a for a in this.actions if a.ran or a.dry_runs]
    shadowed = [a for a in this.actions if a.shadowed]
    if not ran and not shadowed:
        return ["Actions: none ran."]
    told = []
    for a in ran:
        said = [f"{a.action} ran {_times(a.ran, 'time')}"] if a.ran else [a.action]
        if a.ran:
            said.append(f"{a.succeeded} held its check ({_percent(a.success_rate)})")
        if a.succeeded:
            said.append(f"{a.ineffective} did not hold after ({_percent(a.ineffective_rate)})")
        if a.dry_runs:
            said.append(_times(a.dry_runs, "dry run"))
        told.append(", ".join(said))
    if shadowed:
        would = ", ".join(f"{a.action} {_times(a.shadowed, 'time')}" for a in shadowed)
        told.append(f"in shadow mode would have run {would}")
    return [f"Actions: {'; '.join(told)}."]


def _budgets(this: Figures) -> str:
    others = f" ({_times(this.other_refusals, 'other refusal')})" if this.other_refusals else ""
    if not this.exhausted:
        return f"Budgets: no action refused for its budget or cooldown{others}."
    spent = ", ".join(
        f"{c.key[0]} {_times(c.count, 'time')} ({c.key[1].replace('_', ' ')})"
        for c in this.exhausted
    )
    return f"Budgets: refused for a spent budget or a cooldown: {spent}{others}."


def _approvals(this: Figures) -> str:
    if not this.pending_approvals and not this.expired_approvals:
        return "Approvals: none waiting, none expired."
    return (
        f"Approvals: {this.pending_approvals} waiting when it ended, "
        f"{this.expired_approvals} expired unanswered."
    )


def _flapping(this: Figures) -> str:
    if not this.flapping:
        return "Flapping: nothing reopened."
    told = ", ".join(
        f"{f.fingerprint} reopened {_times(f.reopened, 'time')}"
        + (f" (rule {f.rule})" if f.rule else "")
        for f in this.flapping[:5]
    )
    return f"Flapping: {told}."


def _recurring(summary: Summary) -> str:
    recurring = summary.this.recurring
    if not recurring:
        return "Recurring: nothing came up more than once."
    label = summary.previous.period.label
    told = ", ".join(
        f"{c.key[0]} {_times(c.count, 'time')} ({label}: {summary.recurring_before(c.key[0])})"
        for c in recurring
    )
    return f"Recurring: {told}."


def _times(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _duration(seconds: float | None) -> str:
    return spoken(None if seconds is None else timedelta(seconds=seconds))


def _percent(share: float | None) -> str:
    if share is None:
        return "—"
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + " %"


# -- JSON ---------------------------------------------------------------------------


def as_json(summary: Summary) -> dict[str, Any]:
    return {
        "organization_id": summary.organization_id,
        "title": title(summary),
        "lines": lines(summary),
        "week": _figures(summary.this, summary),
        "previous_week": _figures(summary.previous, None),
    }


def _figures(f: Figures, summary: Summary | None) -> dict[str, Any]:
    return {
        "label": f.period.label,
        "start": f.period.start.isoformat(),
        "end": f.period.end.isoformat(),
        "incidents": {
            "opened": f.opened,
            "by_type_severity": [
                {"type": c.key[0], "severity": c.key[1], "count": c.count}
                for c in f.by_type_severity
            ],
        },
        "time_to_detect": _spread_json(f.detect),
        "time_to_resolve": _spread_json(f.resolve),
        "availability": [
            {"check": a.check, "readings": a.readings, "up_share": a.share} for a in f.availability
        ],
        "actions": [
            {
                "action": a.action,
                "ran": a.ran,
                "succeeded": a.succeeded,
                "failed": a.failed,
                "ineffective": a.ineffective,
                "dry_runs": a.dry_runs,
                "shadowed": a.shadowed,
                "success_rate": a.success_rate,
                "ineffective_rate": a.ineffective_rate,
            }
            for a in f.actions
        ],
        "budget_exhaustions": [
            {"action": c.key[0], "reason": c.key[1], "count": c.count} for c in f.exhausted
        ],
        "other_refusals": f.other_refusals,
        "approvals": {"pending": f.pending_approvals, "expired": f.expired_approvals},
        "flapping": [
            {"fingerprint": x.fingerprint, "rule": x.rule, "reopened": x.reopened}
            for x in f.flapping
        ],
        "recurring": [
            {"fingerprint": c.key[0], "count": c.count}
            | ({"previous_count": summary.recurring_before(c.key[0])} if summary else {})
            for c in f.recurring
        ],
    }


def _spread_json(spread: Spread) -> dict[str, Any]:
    return {"count": spread.count, "median_s": spread.median_s, "p90_s": spread.p90_s}
