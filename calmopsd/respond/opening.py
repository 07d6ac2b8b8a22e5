"""How a confirmed breach comes under an incident: opened, joined or reopened.

A breach is matched to its problem by fingerprint: an unresolved incident takes
it as an event, one resolved within ``reopen_within`` is reopened as flapping
(its clear hold grows), otherwise a new incident opens. After a restart or a
reload, :func:`resume_incidents` takes over the unresolved incidents from the stored
opening breach. Kept apart from :mod:`.agent` so the agent reads as the loop
that feeds transitions, and this as the one place incidents are taken on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from calmopsd.config.units import format_duration
from calmopsd.detect import classify
from calmopsd.detect.classify import Basis, Classification
from calmopsd.model import (
    AGENT,
    Breach,
    Incident,
    IncidentStatus,
    IncidentType,
    Resolution,
    SafeAction,
    Severity,
)
from calmopsd.record.audit import list_events
from calmopsd.record.codec import decode_json
from calmopsd.record.incidents import (
    change_status,
    find_by_fingerprint,
    list_children,
    list_incidents,
    open_incident,
    reopen_incident,
    update_incident,
)
from calmopsd.respond.lifecycle import check_transition
from calmopsd.respond.problem import Problem, dominant_organization, problem_of, resource_of
from calmopsd.respond.stabilize import interrupted_note, last_request
from calmopsd.respond.summary import Done
from calmopsd.respond.tracked import SeriesKey, Tracked

if TYPE_CHECKING:
    from calmopsd.respond.agent import Agent

log = structlog.get_logger("calmopsd.agent")

ACTOR = AGENT
# Bases that only restate the rule: the summary's "Why" line is left out for them.
PLAIN_BASES = frozenset({Basis.RULE_TYPE, Basis.HOST_MEMORY, Basis.HOST_DISK})


def take_breach(agent: Agent, breach: Breach, at: datetime) -> None:
    """Classify a confirmed breach, find its incident (or open one), and stabilize it."""
    decided = classify(agent.context.evidence(breach))
    dominant = dominant_organization(agent.context.logs, breach)
    problem = problem_of(breach, decided.type, dominant, decided.resource)
    cause = None if decided.basis in PLAIN_BASES else decided.detail
    reopen_since = at - agent.settings.reopen_within if agent.settings.reopen_within else None
    found = find_by_fingerprint(
        agent.database,
        agent.scope,
        organization_id=problem.organization_id,
        fingerprint=problem.fingerprint,
        resolved_since=reopen_since,
    )
    key: SeriesKey = (breach.rule, breach.labels)
    if found is not None and found.status is not IncidentStatus.RESOLVED:
        _add_breach(agent, found, breach, key, at)
        return
    tracked = _reopen(agent, found, breach, problem, at) if found is not None else None
    if found is not None and tracked is None:
        _add_breach(agent, agent.reload(found.id), breach, key, at)
        return
    if tracked is None:
        tracked = _open(agent, breach, problem, decided, at)
    tracked.cause = cause
    tracked.series.add(key)
    agent.detector.hold_clear(breach.rule, breach.labels, tracked.clear_hold)
    agent.stabilizer.stabilize(tracked, at)


def _open(
    agent: Agent, breach: Breach, problem: Problem, decided: Classification, at: datetime
) -> Tracked:
    decided_type, basis, detail = decided.type, decided.basis, decided.detail
    impact = agent.impact_for(problem.organization_id)
    incident = open_incident(
        agent.database,
        agent.scope,
        organization_id=problem.organization_id,
        fingerprint=problem.fingerprint,
        type=decided_type,
        severity=breach.severity,
        title=_title(breach, problem),
        at=at,
        actor=ACTOR,
        evidence={
            "breach": _breach_evidence(breach),
            "classification": {"type": decided_type, "basis": basis, "detail": detail},
            **_host_evidence(agent, decided_type),
        },
        impact=impact.as_dict(),
    )
    agent.event(
        "incident.classified",
        at,
        {"type": decided_type, "basis": basis, "detail": detail},
        incident.id,
    )
    tracked = Tracked(incident, breach, dict(problem.resource), _base_hold(agent, breach))
    agent.tracked[incident.id] = tracked
    return tracked


def _reopen(
    agent: Agent, found: Incident, breach: Breach, problem: Problem, at: datetime
) -> Tracked | None:
    check_transition(found.status, IncidentStatus.OPEN)
    # A flap is a recovery that did not last. Resolved by a person (or as stale or
    # vanished) while the problem went on is no flap: its clear hold does not grow.
    flap = found.resolution == Resolution.RECOVERED
    within = format_duration(agent.settings.reopen_within)
    reopened = reopen_incident(
        agent.database,
        agent.scope,
        found.id,
        at=at,
        actor=ACTOR,
        reason=f"{breach.rule} breached again within {within} of "
        + ("recovering" if flap else f"being resolved ({found.resolution})"),
        flap=flap,
    )
    if not reopened:  # someone reopened it first: that incident now takes the breach
        return None
    incident = agent.reload(found.id)
    hold = _flapped_hold(agent, breach, incident.flaps)
    tracked = Tracked(incident, breach, dict(problem.resource), hold)
    agent.tracked[incident.id] = tracked
    agent.stabilizer.symptom_returned(tracked, at)
    return tracked


def _host_evidence(agent: Agent, incident_type: IncidentType) -> dict[str, object]:
    """For a memory incident, the processes holding the most memory right now."""
    if incident_type is not IncidentType.MEMORY:
        return {}
    top = agent.context.memory.top_processes
    return {"top_processes": [p.to_values() for p in top]} if top else {}


def _add_breach(
    agent: Agent, found: Incident, breach: Breach, key: SeriesKey, at: datetime
) -> None:
    """A repeated or further breach of an unresolved problem: an event, never a duplicate."""
    tracked = agent.tracked.get(found.id)
    if tracked is None:  # opened before a restart: take it over
        resource = resource_of(found.fingerprint)
        tracked = Tracked(found, breach, resource, _base_hold(agent, breach))
        agent.tracked[found.id] = tracked
    tracked.series.add(key)
    tracked.clearing_since = None
    agent.detector.hold_clear(breach.rule, breach.labels, tracked.clear_hold)
    update_incident(
        agent.database,
        agent.scope,
        found.id,
        at=at,
        actor=ACTOR,
        event="incident.breach_added",
        data=_breach_evidence(breach),
        last_breach_at=at,
    )
    if rank(breach.severity) > rank(tracked.incident.severity):
        agent.set_severity(tracked, breach.severity, at, f"{breach.rule} is {breach.severity}")
    agent.refresh(tracked, at)


def resume_incidents(agent: Agent, now: datetime) -> None:
    """Take over the unresolved incidents a previous agent (before a restart or a
    reload) left, so that their recovery is seen and not mistaken for staleness."""
    for incident in list_incidents(agent.database, agent.scope, unresolved=True):
        if incident.id in agent.tracked or any(
            incident.id == t.incident.id for t in agent.tracked.values()
        ):
            continue
        breach = stored_breach(incident)
        if breach is None or breach.rule not in agent.rules or agent.owner(_key(breach)):
            # Not this rule set's: it ends stale unless someone resolves it; but no
            # action of this agent's runs on it, so it is not left stabilizing.
            if incident.status is IncidentStatus.STABILIZING and incident.id not in agent.in_flight:
                _reopen_interrupted(agent, incident, now)
            continue
        hold = _flapped_hold(agent, breach, incident.flaps)
        key = _key(breach)
        tracked = Tracked(incident, breach, resource_of(incident.fingerprint), hold, {key})
        agent.tracked[incident.id] = tracked
        agent.detector.adopt(breach.rule, breach.labels, incident.severity, now)
        agent.detector.hold_clear(breach.rule, breach.labels, hold)
        log.info(
            "incident.resumed",
            incident_id=incident.id,
            organization_id=incident.organization_id,
            rule=breach.rule,
        )
        _restore(agent, tracked)
        if incident.status is IncidentStatus.STABILIZING:
            pending = agent.in_flight.pop(incident.id, None)
            if pending is not None:  # a reload: the previous agent's action still runs
                tracked.pending = pending
            else:  # a stop or crash during the action: nothing runs it any more
                agent.interrupted(tracked, now)


def _restore(agent: Agent, tracked: Tracked) -> None:
    """What the summary told before the restart, from the store: the actions taken (also
    not tried again on their own), and an action interrupted by the last stop."""
    incident_id = tracked.incident.id
    for row in list_children(agent.database, agent.scope, "incident_actions", incident_id):
        outcome = decode_json(row["outcome"])
        action = SafeAction(row["action"]) if row["action"] in set(SafeAction) else None
        if action is None:
            continue
        at = datetime.fromisoformat(row["requested_at"])
        detail = str(outcome.get("detail") or "")
        tracked.done.append(Done(action, decode_json(row["params"]), at, row["status"], detail))
        tracked.tried.add(action)
    if tracked.incident.status is IncidentStatus.STABILIZING:
        return  # the interruption is being taken up right now (Agent.interrupted)
    last = last_request(list_events(agent.database, agent.scope, incident_id=incident_id))
    if last.data and last.said_interrupted and not last.recorded:
        tracked.not_done = interrupted_note(last.data)


def _key(breach: Breach) -> SeriesKey:
    return (breach.rule, breach.labels)


def _reopen_interrupted(agent: Agent, incident: Incident, now: datetime) -> None:
    last = last_request(list_events(agent.database, agent.scope, incident_id=incident.id))
    if not last.said_interrupted:  # the executor's, for its intent, says it already
        data = {"action": last.data.get("action"), "params": last.data.get("params") or {}}
        agent.event("action.interrupted", now, data, incident.id)
    change_status(
        agent.database, agent.scope, incident.id, expected=IncidentStatus.STABILIZING,
        new=IncidentStatus.OPEN, at=now, actor=ACTOR,
        data={"reason": "calmopsd stopped while an action ran on it"},
    )  # fmt: skip


def _flapped_hold(agent: Agent, breach: Breach, flaps: int) -> timedelta:
    grown = _base_hold(agent, breach) * (agent.settings.flap_hold_growth**flaps)
    return min(grown, agent.settings.max_clear_hold) if flaps else _base_hold(agent, breach)


def _base_hold(agent: Agent, breach: Breach) -> timedelta:
    rule = agent.rules.get(breach.rule)
    return rule.clear_for if rule is not None else timedelta(minutes=15)


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def rank(severity: Severity) -> int:
    """Severities in order, so a worse breach can raise an incident's severity."""
    return _SEVERITY_RANK[Severity(severity)]


def _breach_evidence(breach: Breach) -> dict[str, object]:
    return {
        "rule": breach.rule,
        "labels": dict(breach.labels),
        "value": breach.value,
        "severity": breach.severity,
        "started_at": breach.started_at.isoformat(),
        **breach.evidence,
    }


def stored_breach(incident: Incident) -> Breach | None:
    """The opening breach, as :func:`_breach_evidence` stored it on the incident."""
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


def _title(breach: Breach, problem: Problem) -> str:
    where = ", ".join(f"{k} {v}" for k, v in problem.resource)
    return f"{breach.rule} ({where})" if where else breach.rule
