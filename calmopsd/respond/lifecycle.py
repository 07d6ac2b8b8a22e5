"""Which incident status may follow which, as a table with one guard.

::

    open ──action runs──▶ stabilizing ──it worked──▶ monitoring ──clear held──▶ resolved
      ▲                      │                          │                          │
      └──────it failed───────┘◀──────did not hold───────┘   breach within 1 h ─────┘ (reopen)

Every status may resolve (recovered, stale, a person); only a reopen, for a
flapping problem, leaves ``resolved``.
"""

from __future__ import annotations

from calmopsd.errors import TransitionError
from calmopsd.model import IncidentStatus

_S = IncidentStatus
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    _S.OPEN: frozenset({_S.STABILIZING, _S.MONITORING, _S.RESOLVED}),
    _S.STABILIZING: frozenset({_S.MONITORING, _S.OPEN, _S.RESOLVED}),
    _S.MONITORING: frozenset({_S.OPEN, _S.RESOLVED}),
    _S.RESOLVED: frozenset({_S.OPEN}),
}
del _S


def check_transition(current: IncidentStatus, new: IncidentStatus) -> None:
    """Raise :class:`TransitionError` unless ``current`` → ``new`` is in the table."""
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
        raise TransitionError(f"an incident cannot go from {current} to {new} (allowed: {allowed})")
