"""The runbook held to the code: the package's text (calmopsd/runbook.md) is docs/runbook.md
byte for byte; a section per incident type, whose "Classified as" line names exactly the
classification rows that give the type, and whose "On its own" line names exactly the
type's shipped playbook; the summary, the notices, the API and `show` point at it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calmopsd import runbook
from calmopsd.config.incidents import PlaybookConfig
from calmopsd.detect.classify import CLASSIFICATION, Basis
from calmopsd.model import Incident, IncidentStatus, IncidentType, SafeAction, Severity
from calmopsd.notices.text import notice_text
from calmopsd.record.outbox import NoticeKind

ROOT = Path(__file__).resolve().parents[1]
DOCS_COPY = ROOT / "docs" / "runbook.md"
TEXT = runbook.document()
AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def paragraph(body: str, start: str) -> str:
    (found,) = [p for p in body.strip().split("\n\n") if p.startswith(start)]
    return " ".join(found.split())


def an_incident(organization: str | None = None, status: IncidentStatus = IncidentStatus.OPEN,
                ) -> Incident:  # fmt: skip
    return Incident(
        7, organization, "disk:mount=/", IncidentType.DISK, Severity.WARNING, status,
        "Disk / at 91 % full", "", "What: disk.", {}, None, AT, AT, None,
    )  # fmt: skip


def test_the_docs_copy_is_the_shipped_text_byte_for_byte() -> None:
    shipped = (ROOT / "calmopsd" / runbook.RESOURCE).read_bytes()
    assert DOCS_COPY.read_bytes() == shipped, (
        "docs/runbook.md and calmopsd/runbook.md differ: edit calmopsd/runbook.md, then "
        "cp calmopsd/runbook.md docs/runbook.md"
    )
    assert shipped.decode("utf-8") == TEXT


def test_there_is_one_section_per_incident_type() -> None:
    assert runbook.types() == [t.value for t in IncidentType]
    assert list(runbook.sections()) == [t.value for t in IncidentType]


def test_the_sections_and_the_introduction_make_the_whole_document() -> None:
    assert runbook.introduction() + "".join(runbook.sections().values()) == TEXT
    assert runbook.introduction().startswith("# Runbook\n")
    assert "## " not in runbook.introduction()


def test_a_section_is_its_heading_and_what_follows_up_to_the_next_type() -> None:
    disk = runbook.section("disk")
    assert disk.startswith("## disk\n\nClassified as disk by: `host_disk`")
    assert disk.endswith("Escalate when the disk is full within hours at the current rate.\n\n")
    assert "## " not in disk[3:]
    assert runbook.section(IncidentType.APP) == runbook.sections()["app"]
    with pytest.raises(KeyError):
        runbook.section("weather")


@pytest.mark.parametrize("incident_type", list(IncidentType))
def test_each_section_names_its_classification_rows_and_its_playbook(
    incident_type: IncidentType,
) -> None:
    body = runbook.section(incident_type)
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


def test_the_pointers_name_the_command_and_the_dashboard_page() -> None:
    assert runbook.command("disk") == "calmopsd runbook disk"
    assert runbook.page("disk") == "/ops/runbook#disk"
    assert runbook.page("disk", "acme") == "/company/acme/ops/runbook#disk"


def test_without_a_dashboard_address_every_notice_names_the_command() -> None:
    for kind in NoticeKind:
        body = notice_text(kind, an_incident(), [], host="web1", dashboard_url=None, key="k").body
        assert "Runbook: calmopsd runbook disk" in body.splitlines(), kind


def test_with_a_dashboard_address_every_notice_links_the_section_page() -> None:
    url = "https://ops.example.com/"
    for kind in NoticeKind:
        platform = notice_text(kind, an_incident(), [], host="web1", dashboard_url=url, key="k")
        assert "Runbook: https://ops.example.com/ops/runbook#disk" in platform.body.splitlines()
        theirs = notice_text(kind, an_incident("acme"), [], host="web1", dashboard_url=url,
                             key="k")  # fmt: skip
        assert (
            "Runbook: https://ops.example.com/company/acme/ops/runbook#disk"
            in theirs.body.splitlines()
        )


def test_an_incident_s_full_view_and_show_point_at_its_runbook_section() -> None:
    from calmopsd.cli.screens import incident_screen
    from calmopsd.serve.answers import IncidentDetail
    from calmopsd.serve.views import incident as incident_view

    assert incident_view(an_incident(), full=True)["runbook"] == {
        "command": "calmopsd runbook disk",
        "page": "/ops/runbook#disk",
    }
    assert incident_view(an_incident("acme"), full=True)["runbook"]["page"] == (
        "/company/acme/ops/runbook#disk"
    )
    screen = incident_screen(IncidentDetail(an_incident(), [], [], []))
    assert (
        "Runbook: calmopsd runbook disk (what calmopsd does, what to check first, how to roll "
        "back or escalate)"
    ) in screen.splitlines()
