"""The agent's decisions, as pure functions: what the state and one input call for.

Each function takes what the agent knows (a :class:`~calmopsd.respond.tracked.Tracked`
it only reads, the incident as stored, the detector's view of the series, the
settings) and returns a :class:`~calmopsd.respond.decision.Decision`: a named reason
and the effects to apply, in order. None of them reads the store, a clock or the
host; the agent gathers what they need and :mod:`calmopsd.respond.apply` writes what
they return, in the input's one transaction.

    facts.py        the detector's view of a series, the host around it, shared rules
    breach.py       a confirmed breach opens, joins or reopens an incident
    series.py       a series' transition; monitoring, replanning and staleness on the clock
    stabilizing.py  the playbook's next action or the named reason for none; approvals
    outcome.py      an action's outcome moves the incident on
    people.py       a person's change, and a decided recommendation
    resume.py       incidents left by a previous agent; actions cut short
"""

from calmopsd.respond.decide.breach import (
    breach_decision,
    breach_evidence,
    flapped_hold,
    join_decision,
    stored_breach,
)
from calmopsd.respond.decide.facts import (
    NOTHING_AROUND,
    PASSABLE,
    SeriesFacts,
    Surroundings,
    passable,
    rank,
)
from calmopsd.respond.decide.outcome import outcome_decision
from calmopsd.respond.decide.people import follow_decision, recommendation_followed
from calmopsd.respond.decide.resume import (
    LastRequest,
    Resumable,
    finished_meanwhile,
    interrupted_note,
    last_request,
    resume_decision,
)
from calmopsd.respond.decide.series import (
    figure_decision,
    monitoring_decision,
    replan_decision,
    resolve_effects,
    stale_decision,
    stored_figures,
    transition_decision,
)
from calmopsd.respond.decide.stabilizing import (
    approved_decision,
    begin_decision,
    stabilize_decision,
)

__all__ = [
    "NOTHING_AROUND",
    "PASSABLE",
    "LastRequest",
    "Resumable",
    "SeriesFacts",
    "Surroundings",
    "approved_decision",
    "begin_decision",
    "breach_decision",
    "breach_evidence",
    "figure_decision",
    "finished_meanwhile",
    "flapped_hold",
    "follow_decision",
    "interrupted_note",
    "join_decision",
    "last_request",
    "monitoring_decision",
    "outcome_decision",
    "passable",
    "rank",
    "recommendation_followed",
    "replan_decision",
    "resolve_effects",
    "resume_decision",
    "stabilize_decision",
    "stale_decision",
    "stored_breach",
    "stored_figures",
    "transition_decision",
]
