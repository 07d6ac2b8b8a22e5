"""The summary's Next: line points at the incident type's runbook section while the
incident is unresolved — one line, the command a person can run on any installed host —
and says nothing more once it is resolved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calmopsd import runbook
from calmopsd.model import Breach, Incident, IncidentStatus, IncidentType, Severity
from calmopsd.respond.impact import Impact
from calmopsd.respond.summary import MAX_LINES, Facts, manual_summary, summarize

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
UNRESOLVED = (IncidentStatus.OPEN, IncidentStatus.STABILIZING, IncidentStatus.MONITORING)


def incident(kind: IncidentType, status: IncidentStatus = IncidentStatus.OPEN) -> Incident:
    resolved = status is IncidentStatus.RESOLVED
    return Incident(
        id=3, organization_id=None, fingerprint=f"{kind}:x", type=kind, severity=Severity.WARNING,
        status=status, title="Something is wrong", description="", summary="", evidence={},
        resolution="recovered" if resolved else None, opened_at=AT, updated_at=AT,
        resolved_at=AT + timedelta(minutes=20) if resolved else None,
    )  # fmt: skip


def facts(found: Incident, next_step: str | None = None) -> Facts:
    breach = Breach(
        rule="memory_used", type=found.type, severity=Severity.WARNING, labels=(), value=91.0,
        started_at=AT, confirmed_at=AT, evidence={"threshold": 85, "metric": "used_percent"},
    )  # fmt: skip
    return Facts(found, breach, Impact(), AT + timedelta(minutes=5), next_step=next_step)


@pytest.mark.parametrize("kind", list(IncidentType))
@pytest.mark.parametrize("status", UNRESOLVED)
def test_an_unresolved_incident_s_next_line_ends_with_its_runbook_command(
    kind: IncidentType, status: IncidentStatus
) -> None:
    text = summarize(facts(incident(kind, status), "look at it (recommendation #1)."))
    lines = text.splitlines()
    assert len(lines) <= MAX_LINES
    assert lines[-1] == f"Next: look at it (recommendation #1). Runbook: calmopsd runbook {kind}."
    assert kind.value in runbook.types()  # the command it names prints a section
    assert [line for line in lines if "runbook" in line.lower()] == [lines[-1]]


def test_with_no_step_for_a_person_the_runbook_is_still_named() -> None:
    text = summarize(facts(incident(IncidentType.MEMORY)))
    assert text.splitlines()[-1] == "Next: none. Runbook: calmopsd runbook memory."


def test_a_resolved_incident_s_next_line_has_no_pointer() -> None:
    text = summarize(facts(incident(IncidentType.DISK, IncidentStatus.RESOLVED)))
    assert text.splitlines()[-1] == "Next: none."
    assert "runbook" not in text.lower()


def test_a_person_s_incident_names_the_runbook_until_it_is_resolved() -> None:
    opened = incident(IncidentType.NETWORK)
    assert manual_summary(opened, "token:acme-op").splitlines()[-1] == (
        "Next: the person who opened it decides; resolve it with a note when done. "
        "Runbook: calmopsd runbook network."
    )
    done = replace(opened, status=IncidentStatus.RESOLVED, resolution="manual",
                   resolved_at=AT + timedelta(hours=1))  # fmt: skip
    text = manual_summary(done, "token:acme-op", note="fixed the route")
    assert text.splitlines()[-1] == "Next: none."
    assert "runbook" not in text.lower()
