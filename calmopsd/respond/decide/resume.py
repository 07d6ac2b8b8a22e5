"""After a restart or a reload: take over the unresolved incidents left behind, and
make one whose action was cut short actionable again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.model import (
    ActionOutcome,
    AuditEvent,
    Incident,
    IncidentStatus,
    OutcomeStatus,
    Recommendation,
    SafeAction,
)
from calmopsd.respond.decide.breach import flapped_hold, stored_breach
from calmopsd.respond.decide.facts import ACTOR
from calmopsd.respond.decide.memory import remembered
from calmopsd.respond.decision import (
    Decision,
    Effect,
    Move,
    Note,
    Record,
    Summarize,
    TakeOver,
    Why,
)
from calmopsd.respond.playbook import Step
from calmopsd.respond.problem import resource_of
from calmopsd.respond.recommend import action_words
from calmopsd.respond.summary import Done, clip
from calmopsd.respond.tracked import Pending, SeriesKey


@dataclass(frozen=True)
class LastRequest:
    """An incident's last ``action.requested`` (its data; empty if none) and the events
    after it: what a restart reads to tell how that request ended."""

    data: dict[str, Any]
    since: tuple[AuditEvent, ...]

    @property
    def said_interrupted(self) -> bool:
        return any(e.kind == "action.interrupted" for e in self.since)

    @property
    def recorded(self) -> bool:
        return any(e.kind == "action.recorded" for e in self.since)


def last_request(events: list[AuditEvent]) -> LastRequest:
    requested = [e for e in events if e.kind == "action.requested"]
    if not requested:
        return LastRequest({}, tuple(events))
    last = requested[-1]
    return LastRequest(last.data, tuple(e for e in events if e.seq > last.seq))


def interrupted_note(requested: dict[str, Any]) -> str:
    """What the summary says of the action an ``action.requested`` event asked for, cut
    short by a stop or crash."""
    action, params = requested.get("action"), requested.get("params")
    params = params if isinstance(params, dict) else {}
    known = action in set(SafeAction)
    what = action_words(SafeAction(str(action)), params) if known else "an action"
    return clip(f"{what} was interrupted: calmopsd stopped while it ran", 160)


@dataclass(frozen=True)
class Resumable:
    """What the store holds of an unresolved incident a previous agent left."""

    incident: Incident
    last: LastRequest  # its last action request and what followed it
    done: tuple[Done, ...] = ()  # its action rows, oldest first
    in_flight: Pending | None = None  # the previous agent's action, still running (a reload)
    owned: bool = False  # another tracked incident already owns its series
    events: tuple[AuditEvent, ...] = ()  # its whole log, oldest first
    advice: tuple[Recommendation, ...] = ()  # its recommendations, oldest first
    figures: tuple[float | None, float | None] = (None, None)
    """Its headline series' last and worst value in the stored readings."""


def resume_decision(
    left: Resumable, rules: Mapping[str, timedelta], settings: IncidentsConfig
) -> Decision:
    """Take over an unresolved incident a previous agent (before a restart or a reload)
    left, so that its recovery is seen and not mistaken for staleness; an action cut
    short by a stop or crash leaves it actionable (``open``) again.

    ``rules``: the clear hold of each rule of this rule set, by name.
    """
    incident, last = left.incident, left.last
    breach = stored_breach(incident)
    stabilizing = incident.status is IncidentStatus.STABILIZING
    if breach is None or breach.rule not in rules or left.owned:
        # Not this rule set's: it ends stale unless someone resolves it; but no action of
        # this agent's runs on it, so it is not left stabilizing.
        if stabilizing and left.in_flight is None:
            back = (*_said_interrupted(incident, last), _back_open(incident))
            return Decision(Why.FOREIGN_INTERRUPTED, back)
        return Decision(Why.FOREIGN)
    key: SeriesKey = (breach.rule, breach.labels)
    hold = flapped_hold(rules[breach.rule], incident.flaps, settings)
    taken = TakeOver(incident, breach, resource_of(incident.fingerprint), hold, frozenset({key}))
    restored = remembered(incident, left.events, left.done, left.advice, settings)
    figures = dict(zip(("current", "peak"), left.figures, strict=True))
    restored |= {k: v for k, v in figures.items() if v is not None}  # neither forgotten
    effects: list[Effect] = [taken, Note(incident.id, restored)]
    if not stabilizing:
        if last.data and last.said_interrupted and not last.recorded:
            effects.append(Note(incident.id, {"not_done": interrupted_note(last.data)}))
        return Decision(Why.RESUMED, (*effects, Summarize(incident.id)))
    if left.in_flight is not None:  # a reload: the previous agent's action still runs
        effects.append(Note(incident.id, {"pending": left.in_flight}))
        return Decision(Why.RESUMED_IN_FLIGHT, (*effects, Summarize(incident.id)))
    finished = finished_meanwhile(last)
    if finished is not None:
        # The executor wrote the action's result and calmopsd stopped before taking it
        # up: take it up now, rather than calling a finished action interrupted.
        pending, outcome = finished
        effects.append(Note(incident.id, {"pending": pending}))
        return Decision(Why.FINISHED_MEANWHILE, tuple(effects), outcome)
    interrupted = {"pending": None, "replan": True, "not_done": interrupted_note(last.data)}
    effects += [
        *_said_interrupted(incident, last),
        _back_open(incident),
        Note(incident.id, interrupted),
        Summarize(incident.id),
    ]
    return Decision(Why.INTERRUPTED, tuple(effects))


def finished_meanwhile(last: LastRequest) -> tuple[Pending, ActionOutcome] | None:
    """The action the last request asked for, and its result, if the executor wrote one."""
    executed = [e for e in last.since if e.kind == "action.executed"]
    action, params = last.data.get("action"), last.data.get("params")
    if not executed or action not in set(SafeAction) or not isinstance(params, dict):
        return None
    result = executed[-1]
    try:
        status = OutcomeStatus(str(result.data.get("status")))
    except ValueError:
        return None
    step = Step(SafeAction(str(action)), params, str(last.data.get("reason") or ""))
    pending = Pending(step, result.actor, pass_over=result.actor == ACTOR)
    return pending, ActionOutcome(status, str(result.data.get("detail") or ""))


def _said_interrupted(incident: Incident, last: LastRequest) -> tuple[Effect, ...]:
    """Cut short before the executor wrote its intent (or never reached it): the executor
    has nothing to record, so the agent says it."""
    if last.said_interrupted:
        return ()
    data = {"action": last.data.get("action"), "params": last.data.get("params") or {}}
    return (Record("action.interrupted", data, incident.id),)


def _back_open(incident: Incident) -> Move:
    reason = {"reason": "calmopsd stopped while an action ran on it"}
    return Move(incident.id, IncidentStatus.STABILIZING, IncidentStatus.OPEN, data=reason)
