"""The words of a post-incident review, drafted from one incident's events and the
snapshots around it. Pure: :mod:`calmopsd.learn.drafting` reads the store and saves.

The fields (:data:`calmopsd.record.reviews.FIELDS`): the timeline with the three
figures first, the likely root cause with its evidence, what helped, what did not,
prevention, alert tuning, and an empty ``notes`` for the operator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from calmopsd.learn.advice import RuleTiming, advise
from calmopsd.learn.cause import CauseKind, RootCause, root_cause
from calmopsd.learn.clues import DEPLOY_WINDOW, Clues, gather
from calmopsd.learn.timeline import Run, moments
from calmopsd.learn.timings import Timings, first_breach_at, spoken, timings
from calmopsd.model import AuditEvent, HealthSnapshot, Incident, Learning
from calmopsd.record.reviews import MAX_FIELD, ReviewDraft

_CAUSE_WORDS = {
    CauseKind.LEAK: "a memory leak",
    CauseKind.DEPLOY: "the deploy just before it",
    CauseKind.TEMP_FILES: "temp files filling the disk",
    CauseKind.DEPENDENCY: "a dependency going down first",
}


def draft(
    incident: Incident,
    events: Sequence[AuditEvent],
    snapshots: Iterable[HealthSnapshot],
    *,
    rule: RuleTiming | None = None,
    deploy_window: timedelta = DEPLOY_WINDOW,
) -> ReviewDraft:
    """The review of ``incident`` from its ``events`` up to the last one given."""
    clues = gather(incident, events, snapshots, deploy_window=deploy_window)
    times = timings(events, first_breach_at(incident.evidence))
    cause = root_cause(clues)
    resolution = _resolution(events) or incident.resolution
    advice = advise(clues, cause, times, flaps=incident.flaps, resolution=resolution, rule=rule)
    texts = {
        "timeline": _timeline(times, events, incident),
        "root_cause": _root_cause(cause),
        "helped": _lines(advice.helped),
        "not_helped": _lines(advice.not_helped),
        "prevention": _lines(advice.prevention),
        "tuning": _lines(advice.tuning),
        "notes": "",
    }
    figures = {
        **times.seconds(),
        "cause": cause.kind.value,
        "cause_reason": cause.reason.value,
        "cause_subject": cause.subject,
        "flaps": incident.flaps,
        "resolution": resolution,
    }
    return ReviewDraft(
        incident.id,
        events[-1].seq if events else 0,
        {name: text[:MAX_FIELD] for name, text in texts.items()},
        figures,
        learning(incident.id, clues, times, resolution),
    )


def learning(incident_id: int, clues: Clues, times: Timings, resolution: str | None) -> Learning:
    """What the next incident of the same fingerprint should know: the action that held
    last (what fixed it) and how soon after the opening, and those that did not."""
    held: list[Run] = [r for r in clues.runs if r.held]
    fix = held[-1] if held else None
    within = (
        (fix.at - times.opened_at).total_seconds()
        if fix is not None and times.opened_at is not None
        else None
    )
    ran = [r for r in clues.runs if r.status in ("succeeded", "failed")]
    return Learning(
        incident_id=incident_id,
        fix=fix.action if fix else None,
        fix_params=dict(fix.params) if fix else {},
        fixed_within_s=within,
        ineffective=tuple(dict.fromkeys(r.action for r in ran if not r.held)),
        tried=tuple(dict.fromkeys(r.action for r in ran)),
        resolution=resolution,
    )


def _timeline(times: Timings, events: Sequence[AuditEvent], incident: Incident) -> str:
    head = (
        f"Time to detect: {spoken(times.to_detect)}; to stabilize: "
        f"{spoken(times.to_stabilize)}; to resolve: {spoken(times.to_resolve)}."
    )
    told = [f"{m.at:%H:%M:%S} {m.text}" for m in moments(events, times.first_breach_at)]
    day = f"All times UTC, {times.opened_at:%Y-%m-%d}." if times.opened_at else "All times UTC."
    return "\n".join([head, day, *told])


def _root_cause(cause: RootCause) -> str:
    if cause.kind is CauseKind.NOT_DETERMINED:
        first = "Root cause: not determined. What was seen:"
    else:
        first = f"Most likely {_CAUSE_WORDS[cause.kind]} ({cause.reason.value})."
    return "\n".join([first, *cause.evidence])


def _resolution(events: Sequence[AuditEvent]) -> str | None:
    ended = [e for e in events
             if e.kind == "incident.status_changed" and e.data.get("to") == "resolved"]  # fmt: skip
    return str(ended[-1].data.get("resolution") or "") or None if ended else None


def _lines(sentences: tuple[str, ...]) -> str:
    return "\n".join(sentences)
