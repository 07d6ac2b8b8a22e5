"""The calm decision summary: at most 8 short lines, same facts → same text.

In this order: what happened (with the key figure), who is affected, what
calmopsd already did and whether it worked, what it deliberately did not do
and why, the state now, and the one next step that needs a human. Times are
UTC, written HH:MM. No raw log lines ever reach it: only figures and names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from calmopsd import runbook
from calmopsd.customers.status import customer_impact
from calmopsd.model import Breach, Incident, IncidentStatus, Learning, Resolution
from calmopsd.respond.impact import Impact
from calmopsd.respond.recommend import action_words

MAX_LINES = 8


@dataclass(frozen=True)
class Done:
    """One action the agent asked for, and what came of it."""

    action: str
    params: dict[str, Any]
    at: datetime
    status: str  # succeeded, failed, refused, shadow
    detail: str = ""


@dataclass(frozen=True)
class Facts:
    """Everything the summary says, gathered by the agent."""

    incident: Incident
    breach: Breach
    impact: Impact
    now: datetime
    cause: str | None = None  # the classification, when evidence beyond the rule decided it
    current: Any = None  # the breached value as last read
    peak: Any = None  # its worst since the incident opened
    done: tuple[Done, ...] = ()
    not_done: str | None = None
    clearing_since: datetime | None = None
    clear_hold: timedelta | None = None
    monitor_until: datetime | None = None
    next_step: str | None = None
    resolution_note: str | None = None  # a person's, when they resolved it
    history: tuple[Learning, ...] = ()  # earlier incidents of the same problem, newest first


def summarize(facts: Facts) -> str:
    """At most six lines: customer impact is always the second (status messages read it)."""
    lines = [
        _what(facts) + (f" Likely {facts.incident.type}: {facts.cause}." if facts.cause else ""),
        _customers(facts.impact, facts.incident),
        _done(facts),
        *([f"Not done: {clip(facts.not_done)}."] if facts.not_done else []),
        *([history_line(facts.history)] if facts.history else []),
        _now(facts),
        next_line(facts.next_step or "none.", facts.incident),
    ]
    # Names and details come from outside (app names, executor messages): one line each.
    return "\n".join(" ".join(line.split()) for line in lines[:MAX_LINES])


def next_line(step: str, incident: Incident) -> str:
    """``Next: <step>``, and while the incident is unresolved the command that prints its
    type's runbook section (on any installed host, no checkout needed)."""
    if incident.status is IncidentStatus.RESOLVED:
        return f"Next: {step}"
    return f"Next: {step} Runbook: {runbook.command(incident.type)}."


def clip(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- what happened --------------------------------------------------------------


def _pct(value: Any) -> str:
    return f"{value:.0f} %"


def _rate(value: Any) -> str:
    return f"{value * 100:.0f} %"


def _name(labels: dict[str, str], key: str) -> str:
    return f"`{labels.get(key, '?')}`"


_HEADLINES: dict[str, Callable[[Any, dict[str, str]], str]] = {
    "memory_used": lambda v, lab: f"Memory at {_pct(v)} on the host",
    "disk_used": lambda v, lab: f"Disk {lab.get('mount', '/')} at {_pct(v)} full",
    "disk_filling": lambda v, lab: (
        f"Disk {lab.get('mount', '/')} full in about {max(1, round(v))} h at the current rate"
    ),
    "upload_failures": lambda v, lab: f"Upload failures at {_rate(v)} of uploads (5 min)",
    "organization_upload_failures": lambda v, lab: (
        f"Upload failures at {_rate(v)} of uploads (5 min)"
    ),
    "server_errors": lambda v, lab: f"Server errors at {_rate(v)} of requests (1 min)",
    "health_check_failing": lambda v, lab: f"Health check {_name(lab, 'check')} failing",
    "pm2_app_errored": lambda v, lab: f"PM2 app {_name(lab, 'app')} errored",
    "pm2_app_not_online": lambda v, lab: f"PM2 app {_name(lab, 'app')} not online ({v})",
    "pm2_app_restarting": lambda v, lab: (
        f"PM2 app {_name(lab, 'app')} restarted {v:.0f} times in 5 min"
    ),
    "dependency_down": lambda v, lab: f"Dependency {_name(lab, 'probe')} unreachable",
}
_THRESHOLDS: dict[str, Callable[[Any], str]] = {
    "memory_used": _pct,
    "disk_used": _pct,
    "disk_filling": lambda t: f"{t:.0f} h",
    "upload_failures": _rate,
    "organization_upload_failures": _rate,
    "server_errors": _rate,
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _what(facts: Facts) -> str:
    """The headline: the breached figure as last read (not frozen at the breach), and
    the worst it reached when that was worse; once resolved, the worst it reached (a
    crash loop that stopped is not told as "restarted 0 times")."""
    breach, labels = facts.breach, dict(facts.breach.labels)
    value = facts.current if _number(facts.current) and _number(breach.value) else breach.value
    last = None
    resolved = facts.incident.status is IncidentStatus.RESOLVED
    if resolved and _number(facts.peak) and _number(value) and facts.peak != value:
        value, last = facts.peak, value  # a resolved incident is told by its worst
    scope = f" for organization {labels['organization']}" if "organization" in labels else ""
    say = _HEADLINES.get(breach.rule)
    if say is not None and isinstance(value, int | float | str):
        try:
            head = say(value, labels)
        except (TypeError, ValueError):
            head = _generic(breach, value)
    else:
        head = _generic(breach, value)
    threshold = breach.evidence.get("threshold")
    shown = _THRESHOLDS.get(breach.rule)
    notes = [f"threshold {shown(threshold)}"] if shown and _number(threshold) else []
    key = str(breach.evidence.get("metric", "")).rsplit(".", 1)[-1]
    if last is not None:
        notes.append(f"last read {shown(last) if shown else _figure(key, last)}")
    elif _number(facts.peak) and _number(value) and facts.peak != value:
        notes.append(f"peak {shown(facts.peak) if shown else _figure(key, facts.peak)}")
    limit = f" ({'; '.join(notes)})" if notes else ""
    return f"{head}{scope} since {_hhmm(breach.started_at)}{limit}."


def _generic(breach: Breach, value: Any) -> str:
    """A user's own rule: its name, the metric's last key, the value with its unit."""
    labels = dict(breach.labels)
    labels.pop("organization", None)
    where = ", ".join(f"{k} {v}" for k, v in sorted(labels.items()))
    key = str(breach.evidence.get("metric", "")).rsplit(".", 1)[-1] or "value"
    if isinstance(value, bool | str):
        said = f"{key} is {str(value).lower() if isinstance(value, bool) else value}"
    else:
        said = f"{key} at {_figure(key, value)}"
    threshold = breach.evidence.get("threshold")
    limit = (
        f"; fires {breach.evidence.get('op')} {_figure(key, threshold)}"
        if threshold is not None
        else ""
    )
    return f"{breach.rule}: {said}" + (f" ({where})" if where else "") + limit


def _figure(key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if key.endswith("_percent"):
        return _pct(value)
    if key.endswith("_rate"):
        return _rate(value)
    return f"{value:g}"


# -- customers ----------------------------------------------------------------------


def _customers(impact: Impact, incident: Incident) -> str:
    if not impact.seen:
        errors = impact.server_errors_per_min
        rate = "error rate normal" if errors is not None else "no error rate read yet"
        return f"Customers: no impact seen yet; {rate}."
    parts: list[str] = []
    if impact.health_failing:
        parts.append(
            "health check " + ", ".join(f"`{n}`" for n in impact.health_failing) + " failing"
        )
    if impact.server_errors_high and impact.server_errors_per_min is not None:
        parts.append(f"{impact.server_errors_per_min:.0f} server errors/min")
    if impact.uploads_failing and impact.upload_failure_rate is not None:
        parts.append(f"{_rate(impact.upload_failure_rate)} of uploads failing")
    who = (
        "organizations "
        + ", ".join(impact.organizations[:5])
        + (f" and {len(impact.organizations) - 5} more" if len(impact.organizations) > 5 else "")
        if impact.organizations
        else "all traffic"
    )
    # In a status page's words first, as a customer message would put it.
    seen = customer_impact(replace(incident, impact=impact.as_dict()))
    terms = f"{seen.component.words}, {seen.phase.value}: " if seen.affected else ""
    return f"Customers: {terms}{'; '.join(parts)}; affected: {who}."


# -- done ---------------------------------------------------------------------------


_OUTCOME = {
    "succeeded": "it worked",
    "failed": "it failed",
    "refused": "refused",
    "shadow": "not run (shadow mode)",
}
_PAST = {
    "pm2_restart": "restarted PM2 app `{app}`",
    "nginx_reload": "reloaded nginx",
    "pause_jobs": "paused background jobs",
    "rate_limit_uploads": "rate-limited uploads",
    "clear_temp": "cleared old temp uploads",
}


def _done(facts: Facts) -> str:
    ran = [d for d in facts.done if d.status in ("succeeded", "failed")]
    if not ran:
        return "Done: nothing yet."  # refusals and shadow runs are told under "Not done"
    last = len(ran) - 1
    steps = [
        _step(d, _helped(facts) if i == last else "done")
        for i, d in enumerate(ran)
        if i >= last - 1
    ]
    if ran[-1].status == "succeeded" and (now := _now_value(facts)) is not None:
        steps[-1] += f"; {now}"
    earlier = len(ran) - 2
    prefix = f"{earlier} earlier step{'s' if earlier > 1 else ''}; " if earlier > 0 else ""
    return f"Done: {prefix}{'; '.join(steps)}."


_NOW_VALUE: dict[str, Callable[[Any], str]] = {
    "memory_used": lambda v: f"memory now {_pct(v)}",
    "disk_used": lambda v: f"disk now {_pct(v)} full",
    "server_errors": lambda v: f"server errors now {_rate(v)}",
    "upload_failures": lambda v: f"upload failures now {_rate(v)}",
}


def _now_value(facts: Facts) -> str | None:
    """The breached figure as last read, once it moved since the breach."""
    say = _NOW_VALUE.get(facts.breach.rule)
    value = facts.current
    if say is None or not isinstance(value, int | float) or value == facts.breach.value:
        return None
    return say(value)


# Actions whose success alone does not say whether they helped: "removed 0 files".
_SAYS_HOW_MUCH = frozenset({"clear_temp"})


def _past(done: Done) -> str:
    if done.action == "rate_limit_uploads" and done.params.get("organization"):
        return f"rate-limited organization {done.params['organization']}'s uploads"
    try:
        return _PAST[done.action].format(**done.params)
    except KeyError:
        return done.action.replace("_", " ")


def _helped(facts: Facts) -> str:
    """What came of the latest action that ran, judged by the symptom in the incident's
    own scope (its series), not by the action's own check: an nginx reload that passed
    its check while the 502s went on did not work."""
    incident = facts.incident
    if facts.clearing_since is not None or incident.resolution == Resolution.RECOVERED:
        return "it worked"
    if incident.status in (IncidentStatus.MONITORING, IncidentStatus.RESOLVED):
        return "done"  # the Now line says how long it is watched
    return "done, but the breach went on"


def _step(done: Done, helped: str = "done") -> str:
    if done.status in ("succeeded", "failed"):
        words = _past(done)
        result = helped if done.status == "succeeded" else _OUTCOME[done.status]
        if done.detail and (done.status == "failed" or done.action in _SAYS_HOW_MUCH):
            result += f" ({clip(done.detail, 60)})"
        return f"{words} at {_hhmm(done.at)}; {result}"
    return f"asked to {action_words(done.action, done.params)} at {_hhmm(done.at)}: " + (
        _OUTCOME.get(done.status, done.status)
        + (f" ({clip(done.detail, 60)})" if done.detail else "")
    )


# -- what worked before -------------------------------------------------------------

_DOING = {
    "pm2_restart": "restarting `{app}`",
    "nginx_reload": "reloading nginx",
    "pause_jobs": "pausing background jobs",
    "rate_limit_uploads": "rate-limiting uploads",
    "clear_temp": "clearing old temp uploads",
}


def _doing(action: str, params: Any) -> str:
    try:
        return _DOING[action].format(**dict(params))
    except (KeyError, TypeError):
        return action.replace("_", " ")


def _fix(learning: Learning) -> tuple[str | None, tuple[tuple[str, Any], ...]]:
    return learning.fix, tuple(sorted(learning.fix_params.items()))


def history_line(history: tuple[Learning, ...]) -> str:
    """What the last reviewed incidents of the same problem say worked: "Before: last 3
    times, restarting `api` fixed it within 2 minutes." The most common fix is named
    with how often it worked when the times disagree; what did not hold is named too."""
    times = "last time" if len(history) == 1 else f"last {len(history)} times"
    fixes = [_fix(h) for h in history if h.fix]
    if not fixes:
        said = history[0].resolution
        ended = "recovered by itself" if said in (None, "recovered") else f"ended {said}"
        return f"Before: {times}, no action fixed it; it {ended}."
    best = max(set(fixes), key=lambda f: (fixes.count(f), -fixes.index(f)))
    took = [h.fixed_within_s for h in history if _fix(h) == best and h.fixed_within_s is not None]
    slowest = timedelta(seconds=max(took)) if took else None
    within = (
        ""
        if slowest is None
        else (" at once" if slowest < timedelta(minutes=1) else f" within {_minutes(slowest)}")
    )
    count = "" if fixes.count(best) == len(history) else f" {fixes.count(best)} of those times"
    failed = sorted({a for h in history for a in h.ineffective if a != best[0]})
    fell = f"; {', '.join(_doing(a, {'app': '?'}) for a in failed)} did not hold" if failed else ""
    return f"Before: {times}, {_doing(str(best[0]), dict(best[1]))} fixed it{count}{within}{fell}."


# -- now ------------------------------------------------------------------------------


def _now(facts: Facts) -> str:
    incident = facts.incident
    flapping = (
        f" Flapping: reopened {incident.flaps} time{'s' if incident.flaps > 1 else ''}"
        + (f", clear hold now {_minutes(facts.clear_hold)}" if facts.clear_hold else "")
        + "."
        if incident.flaps
        else ""
    )
    if incident.status is IncidentStatus.RESOLVED:
        note = f": {clip(facts.resolution_note, 100)}" if facts.resolution_note else ""
        return (
            f"Now: resolved at {_hhmm(incident.resolved_at)} "
            f"({_resolution(incident)}{note}).{flapping}"
        )
    if facts.clearing_since is not None and facts.clear_hold is not None:
        until = facts.clearing_since + facts.clear_hold
        return (
            f"Now: recovering since {_hhmm(facts.clearing_since)}; "
            f"resolves at {_hhmm(until)} if it holds.{flapping}"
        )
    if incident.status is IncidentStatus.MONITORING and facts.monitor_until is not None:
        left = facts.monitor_until - facts.now
        return (
            f"Now: monitoring for {_minutes(left)} (until {_hhmm(facts.monitor_until)}).{flapping}"
        )
    if incident.status is IncidentStatus.STABILIZING:
        return f"Now: stabilizing.{flapping}"
    return f"Now: open, {incident.severity}; watching.{flapping}"


_RESOLUTIONS = {
    Resolution.RECOVERED: "recovered",
    Resolution.STALE_RESOLVED: "stale: no news for a long time, not proof of recovery",
    Resolution.VANISHED: "what it watched is no longer reported",
    Resolution.MANUAL: "by a person",
}


def _resolution(incident: Incident) -> str:
    said = incident.resolution or "resolved"
    return _RESOLUTIONS.get(Resolution(said), said) if said in set(Resolution) else said


def _minutes(delta: timedelta | None) -> str:
    minutes = max(0, round((delta or timedelta(0)).total_seconds() / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _hhmm(at: datetime | None) -> str:
    return at.strftime("%H:%M") if at else "?"


def manual_summary(incident: Incident, opened_by: str, note: str | None = None) -> str:
    """The summary of an incident a person opened: the agent does not track it, so this
    says only what is known, and is rewritten when a person changes its status."""
    description = " ".join(incident.description.split())
    lines = [
        f"What: {clip(incident.title, 150)} (opened by {opened_by} at "
        f"{_hhmm(incident.opened_at)}).",
        "Customers: not assessed: a person opened this incident.",
        "Done: nothing by calmopsd: it acts only on what it detects itself.",
        *([f"Details: {clip(description, 300)}"] if description else []),
        (
            f"Now: resolved at {_hhmm(incident.resolved_at)} ({_resolution(incident)}"
            + (f": {clip(note, 100)}" if note else "")
            + ")."
            if incident.status is IncidentStatus.RESOLVED
            else f"Now: {incident.status}, {incident.severity}."
        ),
        next_line("none." if incident.status is IncidentStatus.RESOLVED
                  else "the person who opened it decides; resolve it with a note when done.",
                  incident),
    ]  # fmt: skip
    return "\n".join(" ".join(line.split()) for line in lines[:MAX_LINES])
