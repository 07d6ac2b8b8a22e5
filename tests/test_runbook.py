"""docs/runbook.md held to the code: a section per incident type, whose "Classified as"
line names exactly the classification rows that give the type, and whose "On its own"
line names exactly the type's shipped playbook; the summary and the notices link to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from calmopsd.config.incidents import PlaybookConfig
from calmopsd.detect.classify import CLASSIFICATION, Basis
from calmopsd.model import IncidentType, SafeAction
from calmopsd.runbook import PATH, section

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / PATH).read_text(encoding="utf-8")


def sections() -> dict[str, str]:
    parts = re.split(r"^## (\S+)\n", TEXT, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def paragraph(body: str, start: str) -> str:
    (found,) = [p for p in body.strip().split("\n\n") if p.startswith(start)]
    return " ".join(found.split())


def test_there_is_one_section_per_incident_type() -> None:
    assert list(sections()) == [t.value for t in IncidentType]


@pytest.mark.parametrize("incident_type", list(IncidentType))
def test_each_section_names_its_classification_rows_and_its_playbook(
    incident_type: IncidentType,
) -> None:
    body = sections()[incident_type.value]
    classified = paragraph(body, f"Classified as {incident_type} by:")
    rows = {b.value for b, _, t in CLASSIFICATION if t is incident_type} | {Basis.RULE_TYPE.value}
    assert set(re.findall(r"`([a-z_]+)`", classified)) == rows
    own = paragraph(body, "On its own:").split(" — ")[0]
    shipped = [a.value for a in getattr(PlaybookConfig(), incident_type.value)]
    assert re.findall(r"`([a-z_0-9]+)`", own) == shipped
    for heading in ("It asks a person:", "Check first:", "Roll back or escalate:"):
        assert paragraph(body, heading), heading


def test_every_safe_action_is_in_the_runbook() -> None:
    assert [a.value for a in SafeAction if f"`{a.value}`" not in TEXT] == []


def test_the_links_point_at_a_heading() -> None:
    assert section("disk") == "docs/runbook.md#disk"
    assert "## disk\n" in TEXT


def test_every_notice_links_to_its_types_section() -> None:
    from datetime import UTC, datetime

    from calmopsd.model import Incident, IncidentStatus, Severity
    from calmopsd.notices.text import notice_text
    from calmopsd.record.outbox import NoticeKind

    at = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    incident = Incident(
        7, None, "disk:mount=/", IncidentType.DISK, Severity.WARNING, IncidentStatus.OPEN,
        "Disk / at 91 % full", "", "What: disk.", {}, None, at, at, None,
    )  # fmt: skip
    for kind in NoticeKind:
        body = notice_text(kind, incident, [], host="web1", dashboard_url=None, key="k").body
        assert "Runbook: docs/runbook.md#disk" in body.splitlines(), kind


def test_an_incident_s_full_view_and_show_point_at_its_runbook_section() -> None:
    from datetime import UTC, datetime

    from calmopsd.cli.screens import incident_screen
    from calmopsd.model import Incident, IncidentStatus, IncidentType, Severity
    from calmopsd.serve.answers import IncidentDetail
    from calmopsd.serve.views import incident as incident_view

    at = datetime(2026, 3, 1, tzinfo=UTC)
    found = Incident(
        id=7, organization_id=None, fingerprint="disk:/", type=IncidentType.DISK,
        severity=Severity.WARNING, status=IncidentStatus.OPEN, title="disk", description="",
        summary="Disk / at 91 %.", evidence={}, resolution=None, opened_at=at, updated_at=at,
        resolved_at=None,
    )  # fmt: skip
    assert incident_view(found, full=True)["runbook"] == "docs/runbook.md#disk"
    screen = incident_screen(IncidentDetail(found, [], [], []))
    assert "Runbook: docs/runbook.md#disk" in screen
    assert "## disk" in (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8").lower()
