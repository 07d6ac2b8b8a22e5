"""A confirmed breach: it joins the unresolved incident of its problem, reopens one
resolved within ``reopen_within`` (as flapping when it had recovered), or opens one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.config.units import format_duration
from calmopsd.detect.classify import Basis, Classification
from calmopsd.model import (
    Breach,
    Incident,
    IncidentStatus,
    IncidentType,
    Resolution,
)
from calmopsd.respond.decide.facts import (
    NOTHING_AROUND,
    Surroundings,
    rank,
)
from calmopsd.respond.decision import (
    AddBreach,
    Decision,
    Effect,
    Escalate,
    Forget,
    Note,
    OpenIncident,
    Reopen,
    Summarize,
    SymptomReturned,
    TakeOver,
    Then,
    Track,
    Why,
)
from calmopsd.respond.problem import Problem, resource_of
from calmopsd.respond.tracked import SeriesKey, Tracked

# Bases that only restate the rule: the summary's "Why" line is left out for them.
PLAIN_BASES = frozenset({Basis.RULE_TYPE, Basis.HOST_MEMORY, Basis.HOST_DISK})


def breach_decision(
    breach: Breach,
    found: Incident | None,
    tracked: Tracked | None,
    *,
    classification: Classification,
    problem: Problem,
    settings: IncidentsConfig,
    base_hold: timedelta,
    surroundings: Surroundings = NOTHING_AROUND,
    sibling: Tracked | None = None,
    explained_by: Tracked | None = None,
    held_for_platform: bool = False,
    paused_apps: frozenset[str] = frozenset(),
) -> Decision:
    """Join the unresolved incident of the same problem, reopen one resolved within
    ``reopen_within`` (``found``, looked up by fingerprint), or open a new one.

    ``sibling``: an unresolved incident that already owns a series with the same labels
    (another rule about the same app, mount, probe): the same fault seen from another
    side, so the breach joins it rather than opening a second incident.
    ``explained_by``: an unresolved log incident of the breach's scope that accounts for
    it (:func:`~.scope.log_scope`): an organization's for the platform's view of its
    fault, the platform's for one organization's part of a shared one; the breach joins
    it instead of opening or reopening one. ``held_for_platform``: one organization's
    part of a fault the platform shows too, before the platform's incident opens: held
    back (forgotten, so it confirms afresh and joins that incident then).
    """
    key: SeriesKey = (breach.rule, breach.labels)
    app = dict(breach.labels).get("app")
    if breach.evidence.get("sampler") == "pm2" and app is not None and app in paused_apps:
        # Stopped by calmopsd's own pause: not a symptom. Forgotten, so that an app still
        # down once the pause ends confirms afresh and opens then.
        return Decision(Why.OWN_PAUSE, (Forget(key),))
    if found is not None and found.status is not IncidentStatus.RESOLVED:
        return join_decision(breach, found, tracked, base_hold)
    if sibling is not None:
        return join_decision(breach, sibling.incident, sibling, base_hold)
    if explained_by is not None:
        joined = join_decision(breach, explained_by.incident, explained_by, base_hold)
        # Another view of the same fault: nothing new to plan for.
        detail = f"incident {explained_by.incident.id} accounts for it"
        return replace(joined, why=Why.EXPLAINED, then=None, detail=detail)
    if held_for_platform:
        return Decision(Why.HELD_FOR_PLATFORM, (Forget(key),))
    cause = None if classification.basis in PLAIN_BASES else classification.detail
    if found is not None:
        flap = found.resolution == Resolution.RECOVERED
        within = format_duration(settings.reopen_within)
        how = "recovering" if flap else f"being resolved ({found.resolution})"
        hold = flapped_hold(base_hold, found.flaps + int(flap), settings)
        reopened = Reopen(
            found, breach, dict(problem.resource), flap,
            f"{breach.rule} breached again within {within} of {how}", hold,
        )  # fmt: skip
        effects: tuple[Effect, ...] = (
            reopened,
            SymptomReturned(found.id),
            Note(found.id, {"cause": cause, "history": surroundings.history}),
            Track(found.id, key),
        )
        why = Why.REOPENED_FLAPPING if flap else Why.REOPENED_AFTER_RESOLVED
        return Decision(why, effects, Then.STABILIZE)
    opened = OpenIncident(
        breach,
        problem,
        classification,
        title(breach, problem),
        evidence(breach, classification, surroundings),
        base_hold,
        cause,
        surroundings.history,
    )
    return Decision(Why.OPENED, (opened,), Then.STABILIZE)


def join_decision(
    breach: Breach, found: Incident, tracked: Tracked | None, base_hold: timedelta
) -> Decision:
    """A repeated or further breach of an unresolved problem: an event, never a duplicate."""
    key: SeriesKey = (breach.rule, breach.labels)
    effects: list[Effect] = []
    if tracked is None:  # opened before a restart: take it over
        effects.append(TakeOver(found, breach, _resource_of(found), base_hold))
    effects += [
        Track(found.id, key),
        Note(found.id, {"clearing_since": None}),
        AddBreach(found.id, breach),
    ]
    if rank(breach.severity) > rank(found.severity):
        effects.append(Escalate(found.id, breach.severity, f"{breach.rule} is {breach.severity}"))
    effects.append(Summarize(found.id))
    if tracked is None:
        return Decision(Why.TAKEN_OVER, tuple(effects))
    # A further symptom of an open incident nothing runs on (held, or refused): what it
    # calls for may fit where nothing did (an app the outage left errored).
    further = key not in tracked.series and breach.rule != tracked.breach.rule
    if further and found.status is IncidentStatus.OPEN and tracked.pending is None:
        return Decision(Why.JOINED, tuple(effects), Then.STABILIZE_IF_FITS)
    return Decision(Why.JOINED, tuple(effects))


def flapped_hold(base: timedelta, flaps: int, settings: IncidentsConfig) -> timedelta:
    """A flapping incident's clear hold grows with every flap, up to ``max_clear_hold``."""
    if not flaps:
        return base
    return min(base * (settings.flap_hold_growth**flaps), settings.max_clear_hold)


def title(breach: Breach, problem: Problem) -> str:
    where = ", ".join(f"{k} {v}" for k, v in problem.resource)
    return f"{breach.rule} ({where})" if where else breach.rule


def evidence(breach: Breach, decided: Classification, surroundings: Surroundings) -> dict[str, Any]:
    """What a new incident keeps of why it opened (for a memory incident, the processes
    holding the most memory right now)."""
    kept: dict[str, Any] = {
        "breach": breach_evidence(breach),
        "classification": {"type": decided.type, "basis": decided.basis, "detail": decided.detail},
    }
    if decided.type is IncidentType.MEMORY and surroundings.top_processes:
        kept["top_processes"] = surroundings.top_processes
    return kept


def breach_evidence(breach: Breach) -> dict[str, Any]:
    return {
        "rule": breach.rule,
        "labels": dict(breach.labels),
        "value": breach.value,
        "severity": breach.severity,
        "started_at": breach.started_at.isoformat(),
        **breach.evidence,
    }


def _resource_of(incident: Incident) -> dict[str, str]:
    return resource_of(incident.fingerprint)


def stored_breach(incident: Incident) -> Breach | None:
    """The opening breach, as :func:`breach_evidence` stored it on the incident."""
    stored = incident.evidence.get("breach")
    if not isinstance(stored, dict) or not isinstance(stored.get("rule"), str):
        return None
    labels = tuple(sorted((str(k), str(v)) for k, v in (stored.get("labels") or {}).items()))
    try:
        started = datetime.fromisoformat(str(stored.get("started_at")))
    except ValueError:
        started = incident.opened_at
    kept = ("sampler", "metric", "op", "threshold", "value", "volume")
    return Breach(
        rule=stored["rule"],
        type=incident.type,
        severity=incident.severity,
        labels=labels,
        value=stored.get("value"),
        started_at=started,
        confirmed_at=incident.opened_at,
        evidence={k: stored[k] for k in kept if k in stored},
    )
