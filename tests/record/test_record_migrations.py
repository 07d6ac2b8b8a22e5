"""Schema migrations and connection settings, against real SQLite files."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from calmopsd.errors import SchemaTooNewError
from calmopsd.record.audit import append_event, verify_file
from calmopsd.record.database import Database
from calmopsd.record.migrations import LATEST, MIGRATIONS, Migration, migrate
from calmopsd.record.scope import Scope

GUARD_TRIGGERS = {
    "incident_events_no_update",
    "incident_events_no_delete",
    "incident_events_same_org",
    "incident_actions_same_org",
    "incident_recommendations_same_org",
    "notices_same_org",
    "notice_groups_same_org",
    "customer_messages_same_org",
    "message_deliveries_same_org",
    "incident_reviews_same_org",
}


def schema(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def migration_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
    finally:
        conn.close()


def triggers(path: Path) -> set[str]:
    return {name for kind, name, _, _ in schema(path) if kind == "trigger"}


ALL_VERSIONS = [m.version for m in sorted(MIGRATIONS, key=lambda m: m.version)]
KNOWN = ", ".join(str(v) for v in ALL_VERSIONS)


def test_versions_are_unique_and_latest_is_the_highest() -> None:
    assert len(set(ALL_VERSIONS)) == len(ALL_VERSIONS)
    assert ALL_VERSIONS[-1] == LATEST
    assert ALL_VERSIONS[:2] == [1, 2]


def test_a_new_database_records_every_migration(database: Database) -> None:
    rows = [row[:2] for row in migration_rows(database.path)]
    assert rows[:2] == [
        (1, "core tables"),
        (
            2,
            "database guards: append-only audit log, child rows in their incident's organization",
        ),
    ]
    assert [version for version, _ in rows] == ALL_VERSIONS
    assert database.schema_version() == LATEST


def test_opening_twice_leaves_one_schema_and_one_row_per_migration(db_path: Path) -> None:
    Database.open(db_path).close()
    schema_before, rows_before = schema(db_path), migration_rows(db_path)

    Database.open(db_path).close()

    assert schema(db_path) == schema_before
    assert migration_rows(db_path) == rows_before
    assert [row[0] for row in rows_before] == ALL_VERSIONS


def test_an_old_database_is_upgraded_and_keeps_its_rows(db_path: Path, at: datetime) -> None:
    old = Database.open(db_path, upto=1)
    assert old.schema_version() == 1
    with old.write() as tx:
        incident_id = tx.insert(
            "incidents",
            {
                "organization_id": "acme",
                "fingerprint": "memory:api",
                "type": "memory",
                "severity": "warning",
                "status": "open",
                "title": "api memory high",
                "opened_at": "2024-05-01T12:00:00.000000+00:00",
                "updated_at": "2024-05-01T12:00:00.000000+00:00",
            },
        )
        opened = {"fingerprint": "memory:api", "type": "memory", "severity": "warning"}
        append_event(
            tx, Scope.platform(), kind="incident.opened", actor="test", at=at, incident_id=1,
            data=opened,
        )  # fmt: skip
        append_event(tx, Scope.platform(), kind="daemon.started", actor="daemon", at=at)
    old.close()
    assert triggers(db_path) == set()

    upgraded = Database.open(db_path)
    upgraded.close()

    assert [row[0] for row in migration_rows(db_path)] == ALL_VERSIONS
    assert triggers(db_path) == GUARD_TRIGGERS
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT id, organization_id, title FROM incidents").fetchall() == [
            (incident_id, "acme", "api memory high")
        ]
        assert conn.execute(
            "SELECT seq, incident_id, organization_id, kind FROM incident_events ORDER BY seq"
        ).fetchall() == [(1, 1, "acme", "incident.opened"), (2, None, None, "daemon.started")]
    finally:
        conn.close()
    verdict = verify_file(db_path)
    assert (verdict.ok, verdict.verified) == (True, 2)


def test_a_database_from_a_newer_calmopsd_is_refused_and_left_as_it_was(db_path: Path) -> None:
    Database.open(db_path).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')")
    conn.close()
    schema_before, rows_before = schema(db_path), migration_rows(db_path)

    with pytest.raises(SchemaTooNewError) as raised:
        Database.open(db_path)

    assert str(raised.value) == (
        f"database has schema version 99, unknown to this calmopsd (it knows {KNOWN}); "
        "upgrade calmopsd instead of opening a newer database with an older one"
    )

    assert schema(db_path) == schema_before
    assert migration_rows(db_path) == rows_before


def test_the_writer_uses_wal_foreign_keys_and_full_sync(database: Database) -> None:
    with database.write() as tx:
        settings = [
            tx.db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "synchronous", "query_only")
        ]
    assert settings == ["wal", 1, 2, 0]


def test_readers_are_query_only_with_foreign_keys(database: Database) -> None:
    with database.read() as db:
        settings = [
            db.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "foreign_keys", "query_only")
        ]
    assert settings == ["wal", 1, 1]


def test_a_write_through_a_reader_fails_and_changes_nothing(database: Database) -> None:
    with (
        pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"),
        database.read() as db,
    ):
        db.execute(
            "INSERT INTO health_snapshots (taken_at, sampler, ok, duration_ms, readings)"
            " VALUES ('2024-05-01', 'memory', 1, 1.0, '{}')"
        )
    with database.read() as db:
        assert db.execute("SELECT count(*) FROM health_snapshots").fetchone()[0] == 0


def test_migrate_applies_nothing_the_second_time(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        assert migrate(conn) == ALL_VERSIONS
        assert migrate(conn) == []
        assert migrate(conn, upto=1) == []
    finally:
        conn.close()
    assert [row[0] for row in migration_rows(db_path)] == ALL_VERSIONS


def test_a_version_below_the_latest_that_this_code_does_not_know_is_refused(
    db_path: Path,
) -> None:
    # Not only versions above LATEST: any applied version missing from MIGRATIONS
    # (a branch's own numbering, a newer build that filled a gap) is foreign.
    Database.open(db_path).close()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (0, 'from a branch')")
    conn.close()
    rows_before = migration_rows(db_path)

    with pytest.raises(SchemaTooNewError, match="schema version 0, unknown to this calmopsd"):
        Database.open(db_path)

    assert migration_rows(db_path) == rows_before


def test_a_build_without_an_applied_migration_refuses_the_database(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        migrate(conn)
        without_3 = tuple(m for m in MIGRATIONS if m.version != 3)
        with pytest.raises(SchemaTooNewError, match="schema version 3, unknown"):
            migrate(conn, migrations=without_3)
    finally:
        conn.close()


def test_a_migration_that_ends_its_own_transaction_raises_its_own_error(db_path: Path) -> None:
    # RAISE(ROLLBACK) ends the transaction before the error reaches _apply; a
    # second ROLLBACK there would fail with "no transaction is active" instead.
    failing = Migration(
        LATEST + 1,
        "fails half-way",
        (
            "CREATE TABLE doomed (x INTEGER)",
            """CREATE TRIGGER doomed_refuses BEFORE INSERT ON doomed
                BEGIN SELECT RAISE(ROLLBACK, 'refused by the migration'); END""",
            "INSERT INTO doomed VALUES (1)",
        ),
    )
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="refused by the migration"):
            migrate(conn, LATEST + 1, migrations=(*MIGRATIONS, failing))
        assert conn.in_transaction is False
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'doomed'").fetchall() == []
    finally:
        conn.close()
    assert [row[0] for row in migration_rows(db_path)] == ALL_VERSIONS
