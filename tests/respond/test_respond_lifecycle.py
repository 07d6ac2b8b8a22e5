"""The incident status table and its guard."""

from __future__ import annotations

import pytest

from calmopsd.errors import TransitionError
from calmopsd.model import IncidentStatus
from calmopsd.respond.lifecycle import TRANSITIONS, check_transition

S = IncidentStatus


def test_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(IncidentStatus)


@pytest.mark.parametrize(
    ("current", "new"),
    [(S.OPEN, S.STABILIZING), (S.STABILIZING, S.MONITORING), (S.STABILIZING, S.OPEN),
     (S.MONITORING, S.OPEN), (S.MONITORING, S.RESOLVED), (S.RESOLVED, S.OPEN),
     (S.OPEN, S.RESOLVED)],
)  # fmt: skip
def test_the_lifecycle_allows(current: IncidentStatus, new: IncidentStatus) -> None:
    check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        (S.RESOLVED, S.MONITORING,
         "an incident cannot go from resolved to monitoring (allowed: open)"),
        (S.MONITORING, S.STABILIZING,
         "an incident cannot go from monitoring to stabilizing (allowed: open, resolved)"),
        (S.OPEN, S.OPEN,
         "an incident cannot go from open to open (allowed: monitoring, resolved, stabilizing)"),
        (S.RESOLVED, S.RESOLVED, "an incident cannot go from resolved to resolved (allowed: open)"),
    ],
)  # fmt: skip
def test_the_lifecycle_refuses_with_a_reason(
    current: IncidentStatus, new: IncidentStatus, message: str
) -> None:
    with pytest.raises(TransitionError) as refused:
        check_transition(current, new)
    assert str(refused.value) == message
