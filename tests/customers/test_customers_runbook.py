"""The runbook pointer is for the people who run the platform: it is in the summary's
Next: line, and never in what customers are sent — the drafts are written from the
incident's type and impact alone, and the leak check would refuse the pointer anyway."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from calmopsd.config import Config
from calmopsd.customers.drafting import draft_for
from calmopsd.customers.known import Known
from calmopsd.customers.leaks import find_leaks
from calmopsd.model import Breach, Incident, IncidentStatus, IncidentType, Severity
from calmopsd.respond.impact import Impact
from calmopsd.respond.summary import Facts, summarize

AT = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
DOWN = Impact(health_failing=("site",))


def seen_by_customers(kind: IncidentType, status: IncidentStatus) -> Incident:
    found = Incident(
        id=5, organization_id=None, fingerprint=f"{kind}:x", type=kind, severity=Severity.CRITICAL,
        status=status, title="t", description="", summary="", evidence={}, resolution=None,
        opened_at=AT, updated_at=AT, resolved_at=None, impact=DOWN.as_dict(),
    )  # fmt: skip
    breach = Breach(
        rule="health_check_failing", type=kind, severity=Severity.CRITICAL,
        labels=(("check", "site"),), value=True, started_at=AT, confirmed_at=AT, evidence={},
    )  # fmt: skip
    summary = summarize(Facts(found, breach, DOWN, AT, next_step="look (recommendation #1)."))
    return replace(found, summary=summary)


@pytest.mark.parametrize("kind", list(IncidentType))
@pytest.mark.parametrize(
    "status", [IncidentStatus.OPEN, IncidentStatus.STABILIZING, IncidentStatus.MONITORING]
)
def test_no_customer_draft_carries_the_runbook_pointer(
    kind: IncidentType, status: IncidentStatus
) -> None:
    found = seen_by_customers(kind, status)
    assert f"Runbook: calmopsd runbook {kind}." in found.summary  # it is in the summary
    draft = draft_for(found, [])
    assert draft is not None
    assert "runbook" not in draft.text.lower()
    assert "calmopsd" not in draft.text.lower()


def test_the_leak_check_refuses_the_pointer_had_anyone_pasted_it() -> None:
    known = Known.from_config(Config())
    found = seen_by_customers(IncidentType.MEMORY, IncidentStatus.OPEN)
    pointer = found.summary.splitlines()[-1].split("). ", 1)[1]
    assert pointer == "Runbook: calmopsd runbook memory."
    assert find_leaks(f"We are looking into it. {pointer}", known) != []
    assert find_leaks("We are looking into it. See /ops/runbook#memory.", known) != []
