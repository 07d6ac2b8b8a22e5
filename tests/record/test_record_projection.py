"""verify-audit checks the incidents table against what the chain tells: an incident moved
to another organization, resolved or downgraded by editing the table alone is found."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from calmopsd.model import IncidentStatus
from calmopsd.record.audit import Verdict, verify_file
from calmopsd.record.database import Database
from calmopsd.record.incidents import change_status, open_incident, reopen_incident
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def lived(db_path: Path, at: datetime) -> int:
    """An incident of acme opened, escalated, resolved and reopened: every checked column
    moved by the code that writes it, with its event."""
    from calmopsd.record.incidents import update_incident

    database = Database.open(db_path)
    try:
        incident = open_incident(
            database, PLATFORM, organization_id="acme", fingerprint="upload:platform",
            type="upload", severity="warning", title="uploads failing", at=at, actor="calmopsd",
        )  # fmt: skip
        update_incident(
            database, PLATFORM, incident.id, at=at, actor="calmopsd",
            event="incident.escalated", data={"from": "warning", "to": "critical"},
            severity="critical",
        )  # fmt: skip
        assert change_status(
            database, PLATFORM, incident.id, expected=IncidentStatus.OPEN,
            new=IncidentStatus.RESOLVED, at=at, actor="dana", resolution="manual",
        )  # fmt: skip
        assert reopen_incident(database, PLATFORM, incident.id, at=at, actor="calmopsd", reason="x")
        assert change_status(
            database, PLATFORM, incident.id, expected=IncidentStatus.OPEN,
            new=IncidentStatus.RESOLVED, at=at, actor="calmopsd", resolution="recovered",
        )  # fmt: skip
        return incident.id
    finally:
        database.close()


def edit(db_path: Path, sql: str, *params: object) -> None:
    """What someone with write access to the database file does behind calmopsd's back."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def test_the_table_as_calmopsd_wrote_it_agrees_with_the_chain(db_path: Path, at: datetime) -> None:
    lived(db_path, at)
    assert verify_file(db_path) == Verdict(5)


@pytest.mark.parametrize(
    ("sql", "column", "stored", "told"),
    [
        ("UPDATE incidents SET organization_id = 'globex'", "organization_id", "globex", "acme"),
        ("UPDATE incidents SET organization_id = NULL", "organization_id", None, "acme"),
        ("UPDATE incidents SET severity = 'info'", "severity", "info", "critical"),
        ("UPDATE incidents SET status = 'open', resolution = NULL", "status", "open", "resolved"),
        ("UPDATE incidents SET resolution = 'stale_resolved'", "resolution", "stale_resolved",
         "recovered"),
        ("UPDATE incidents SET type = 'memory'", "type", "memory", "upload"),
        ("UPDATE incidents SET fingerprint = 'upload:acme'", "fingerprint", "upload:acme",
         "upload:platform"),
    ],
)  # fmt: skip
def test_a_column_edited_behind_calmopsds_back_fails_verification(
    db_path: Path, at: datetime, sql: str, column: str, stored: object, told: object
) -> None:
    incident_id = lived(db_path, at)
    edit(db_path, sql)
    verdict = verify_file(db_path)
    assert not verdict.ok
    assert verdict.reason == (
        f"incident {incident_id}'s {column} is {stored!r} in the incidents table, "
        f"but its events say {told!r}"
    )
    assert verdict.verified == 5  # the chain itself still holds


def test_events_appended_after_an_incident_moved_organization_are_found_too(
    db_path: Path, at: datetime
) -> None:
    """Moved, then used by calmopsd: new events carry the new organization, which its
    opening event never named."""
    incident_id = lived(db_path, at)
    edit(db_path, "UPDATE incidents SET organization_id = 'globex'")
    database = Database.open(db_path)
    try:
        assert reopen_incident(database, PLATFORM, incident_id, at=at, actor="calmopsd", reason="y")
    finally:
        database.close()
    verdict = verify_file(db_path)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)  # the reopening, after the move
    assert "organization_id is 'globex'" in verdict.reason


def test_an_incident_row_the_log_never_opened_or_one_deleted_fails(
    db_path: Path, at: datetime
) -> None:
    incident_id = lived(db_path, at)
    edit(db_path, "DELETE FROM incidents WHERE id = ?", incident_id)
    verdict = verify_file(db_path)
    assert verdict.reason == (
        f"incident {incident_id} was opened in the log but is not in the incidents table"
    )

    edit(
        db_path,
        "INSERT INTO incidents (id, fingerprint, type, severity, status, title, opened_at,"
        " updated_at) VALUES (?, 'disk:host', 'disk', 'warning', 'open', 'forged', ?, ?)",
        incident_id, at.isoformat(), at.isoformat(),
    )  # fmt: skip
    verdict = verify_file(db_path)
    assert verdict.reason == (
        f"incident {incident_id}'s organization_id is None in the incidents table, "
        "but its events say 'acme'"
    )
    edit(
        db_path,
        "INSERT INTO incidents (id, fingerprint, type, severity, status, title, opened_at,"
        " updated_at) VALUES (99, 'memory:host', 'memory', 'warning', 'open', 'forged', ?, ?)",
        at.isoformat(), at.isoformat(),
    )  # fmt: skip
    edit(db_path, "DELETE FROM incidents WHERE id = ?", incident_id)
    verdict = verify_file(db_path)
    # Both are wrong; the one after the log's end (never opened) is told after the other.
    assert verdict.reason == (
        f"incident {incident_id} was opened in the log but is not in the incidents table"
    )
    from calmopsd.record.audit import _read_rows
    from calmopsd.record.projection import mismatches

    rows, incidents = _read_rows(db_path)
    assert [m.reason for m in mismatches(rows, incidents)][-1] == (
        "incident 99 is in the incidents table but was never opened in the log"
    )
