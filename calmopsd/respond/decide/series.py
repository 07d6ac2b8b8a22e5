"""What the detector's news of a tracked incident's series calls for: a transition
(escalated, clearing, cleared, vanished), the end of monitoring, replanning after an
interrupted action, and staleness."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from calmopsd.config.incidents import IncidentsConfig
from calmopsd.config.rules import RuleConfig, metric_segments, walk
from calmopsd.detect import Reason, State, Transition
from calmopsd.model import (
    MANUAL_FINGERPRINT,
    Breach,
    Incident,
    IncidentStatus,
    IncidentType,
    Labels,
    Resolution,
)
from calmopsd.respond.decide.facts import (
    Series,
    SeriesFacts,
    fires,
    firing,
    rank,
)
from calmopsd.respond.decision import (
    Decision,
    Effect,
    EndSeries,
    Escalate,
    Move,
    Note,
    Reclassify,
    Record,
    Summarize,
    SymptomReturned,
    Then,
    Untrack,
    Why,
)
from calmopsd.respond.tracked import SeriesKey, Tracked


def transition_decision(
    t: Transition, tracked: Tracked | None, series: Series, settings: IncidentsConfig
) -> Decision:
    """What a non-confirming transition of one series changes about its incident."""
    if tracked is None:
        return Decision(Why.NOT_TRACKED)
    incident_id, key = tracked.incident.id, (t.rule, t.labels)
    current: tuple[Effect, ...] = ()
    if key == tracked.headline and t.value is not None:
        current = (Note(incident_id, {"current": t.value}),)
    if t.reason is Reason.ESCALATED:
        if t.breach is None or rank(t.breach.severity) <= rank(tracked.incident.severity):
            return Decision(Why.NOT_WORSE, current)
        why = f"{t.rule} passed its critical threshold"
        escalate = Escalate(incident_id, t.breach.severity, why, headline=t.breach)
        return Decision(Why.ESCALATED, (*current, escalate, Summarize(incident_id)))
    if t.reason is Reason.CLEAR_STARTED:
        clearing: tuple[Effect, ...] = ()
        if all(f.state is not State.FIRING for k, f in series.items() if k in tracked.series):
            clearing = (Note(incident_id, {"clearing_since": t.at}),)
        return Decision(Why.CLEAR_STARTED, (*current, *clearing, Summarize(incident_id)))
    if t.reason is Reason.CLEAR_ABORTED:
        aborted = (*current, Note(incident_id, {"clearing_since": None}), Summarize(incident_id))
        back = monitoring_decision(tracked, series, t.at)  # back in breach after monitor_for
        if back.why is Why.NOT_HOLDING:
            return Decision(Why.NOT_HOLDING, (*aborted, *back.effects), back.then)
        return Decision(Why.CLEAR_ABORTED, aborted)
    if t.reason in (Reason.CLEARED, Reason.VANISHED):
        ended = (*current, EndSeries(incident_id, key))
        if tracked.series - {key}:
            return _part_recovered(tracked, key, ended, series)
        how = Resolution.RECOVERED if t.reason is Reason.CLEARED else Resolution.VANISHED
        why = Why.RECOVERED if how is Resolution.RECOVERED else Why.VANISHED
        # The series ends after the resolve: a resolve lost to another writer leaves the
        # incident as it was, still owning its series.
        return Decision(why, (*current, *resolve_effects(tracked, how, ending=key)))
    return Decision(Why.UNCHANGED, current)


def _part_recovered(
    tracked: Tracked, key: SeriesKey, ended: tuple[Effect, ...], series: Series
) -> Decision:
    """One of its series ended and others still fire: what was planned for the whole
    may not fit what is left (a dependency back, the app it broke still errored), so
    plan again for what still fires, unless an action is running on it."""
    incident = tracked.incident
    still = sorted(k for k in tracked.series - {key} if fires(series.get(k)))
    headline_done = key == tracked.headline or not fires(series.get(tracked.headline))
    if not still or not headline_done or tracked.pending is not None:
        return Decision(Why.SERIES_ENDED, ended)  # the plan for what opened it still stands
    if incident.status not in (IncidentStatus.OPEN, IncidentStatus.MONITORING):
        return Decision(Why.SERIES_ENDED, ended)
    moved: tuple[Effect, ...] = ()
    if incident.status is IncidentStatus.MONITORING:
        moved = (Move(incident.id, IncidentStatus.MONITORING, IncidentStatus.OPEN),)
    said = {"ended": key[0], "still_firing": [rule for rule, _ in still]}
    effects = (
        *ended,
        *moved,
        Note(incident.id, {"monitor_until": None}),
        Record("incident.replanned", said, incident.id),
        *_reclassified(tracked, key, still, series),
    )
    return Decision(Why.REPLANNED_REST, effects, Then.STABILIZE)


def _reclassified(
    tracked: Tracked, ended: SeriesKey, still: list[SeriesKey], series: Series
) -> tuple[Effect, ...]:
    """Once what opened it has ended, what still fires tells the incident's type: a
    dependency back, the app it left errored is an app problem now (its headline, its
    playbook, its advice). Nothing when the rest is of the same type."""
    rest = [b for k in still if (b := _breach_of(series.get(k))) is not None]
    if not rest or any(b.type is tracked.incident.type for b in rest):
        return ()
    # A failing check or server errors (network) are what any fault looks like from
    # outside; a series that names a cause (an errored app) tells the type first.
    headline = min(rest, key=lambda b: b.type is IncidentType.NETWORK)
    why = f"{ended[0]} ended; {headline.rule} still fires"
    return (
        Reclassify(tracked.incident.id, headline.type, why, headline),
        Note(tracked.incident.id, {"cause": None}),
    )


def _breach_of(facts: SeriesFacts | None) -> Breach | None:
    return facts.breach if facts is not None else None


def resolve_effects(
    tracked: Tracked, how: Resolution, ending: SeriesKey | None = None
) -> tuple[Effect, ...]:
    """Resolve a tracked incident and stop tracking it (``ending``: the series whose end
    resolves it); not recovered: its series must confirm afresh if the breach goes on."""
    incident = tracked.incident
    moved: tuple[Effect, ...] = ()
    if incident.status is not IncidentStatus.RESOLVED:
        moved = (Move(incident.id, incident.status, IncidentStatus.RESOLVED, how),)
    ended = (EndSeries(incident.id, ending),) if ending is not None else ()
    quiet = {"clearing_since": None, "monitor_until": None, "next_step": None}
    return (
        *moved,
        *ended,
        Note(incident.id, quiet),
        Summarize(incident.id),
        Untrack(incident.id, forget=how is not Resolution.RECOVERED),
    )


def monitoring_decision(tracked: Tracked, series: Series, now: datetime) -> Decision:
    """Once ``monitor_for`` is over, a breach firing again means the action did not hold."""
    incident = tracked.incident
    if incident.status is not IncidentStatus.MONITORING:
        return Decision(Why.UNCHANGED)
    if tracked.monitor_until is not None and now < tracked.monitor_until:
        return Decision(Why.WATCHING)
    again = firing(tracked, series)
    if not again:
        return Decision(Why.QUIET)  # clearing (it resolves when the clear holds), or unreported
    effects = (
        Note(incident.id, {"monitor_until": None}),
        Move(incident.id, IncidentStatus.MONITORING, IncidentStatus.OPEN),
        Record("incident.not_holding", {"still_firing": [r for r, _ in again]}, incident.id),
        SymptomReturned(incident.id),
    )
    return Decision(Why.NOT_HOLDING, effects, Then.STABILIZE)


def replan_decision(tracked: Tracked, series: Series) -> Decision:
    """After an interrupted action: plan again once a reading shows it still fires."""
    if not tracked.replan or tracked.incident.status is not IncidentStatus.OPEN:
        return Decision(Why.UNCHANGED)
    if not firing(tracked, series):
        return Decision(Why.WATCHING)
    return Decision(Why.REPLANNED, (Note(tracked.incident.id, {"replan": False}),), Then.STABILIZE)


def stale_decision(
    incident: Incident, tracked: Tracked | None, series: Series, cutoff: datetime
) -> Decision:
    """No news of the problem since ``cutoff``: stale_resolved, not proof of recovery.

    News is a breach, or a reading that still shows one of its series in breach;
    a sampler that fell silent leaves its series firing with no news.
    """
    if incident.fingerprint.startswith(MANUAL_FINGERPRINT):
        return Decision(Why.MANUAL)
    if tracked is not None and any(
        f.state in (State.FIRING, State.CLEARING) and (f.last_seen or cutoff) > cutoff
        for k, f in series.items()
        if k in tracked.series
    ):
        return Decision(Why.HAS_NEWS)
    if (incident.last_breach_at or incident.opened_at) > cutoff:
        return Decision(Why.HAS_NEWS)
    if tracked is not None:
        return Decision(Why.STALE, resolve_effects(tracked, Resolution.STALE_RESOLVED))
    move = Move(incident.id, incident.status, IncidentStatus.RESOLVED, Resolution.STALE_RESOLVED)
    return Decision(Why.STALE, (move,))


# A headline figure that moved by more than this share since the summary showed it is
# worth rewriting the summary for; smaller moves are only remembered.
FIGURE_MOVES = 0.1
_WORSE = {">": max, ">=": max, "<": min, "<=": min}


def stored_figures(
    readings: Sequence[dict[str, Any]], rule: RuleConfig, labels: Labels
) -> tuple[float | None, float | None]:
    """The last and the worst value (for the direction its comparison reads) of
    ``rule``'s series ``labels`` in stored readings' values, oldest first: the figures
    a restarted agent takes up. None where there is none.

    A rule that sums over a window (``sum_over``) is not read so: the readings hold the
    parts, not the sums it compared.
    """
    worst = _WORSE.get(rule.op)
    if worst is None or rule.sum_over is not None:
        return None, None
    segments, wanted = metric_segments(rule.metric), dict(labels)
    values = [
        float(value)
        for values in readings
        for found, value in walk(values, segments, {})
        if found == wanted and _number(value)
    ]
    return (values[-1], worst(values)) if values else (None, None)


def figure_decision(tracked: Tracked, value: Any) -> Decision:
    """The headline series' latest value: remembered, with the worst it reached, and the
    summary rewritten once it moved notably from what the summary shows."""
    if not _number(value):
        return Decision(Why.UNCHANGED)
    worst = _WORSE.get(str(tracked.breach.evidence.get("op")))
    before = tracked.peak if _number(tracked.peak) else tracked.breach.value
    changes: dict[str, Any] = {"current": value}
    if worst is not None and _number(before):
        changes["peak"] = worst(before, value)
    shown = tracked.shown if _number(tracked.shown) else tracked.breach.value
    note = Note(tracked.incident.id, changes)
    if _number(shown) and abs(value - shown) <= FIGURE_MOVES * max(abs(shown), 1e-9):
        return Decision(Why.UNCHANGED, (note,))
    return Decision(Why.FIGURE_MOVED, (note, Summarize(tracked.incident.id)))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
