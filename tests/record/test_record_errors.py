"""A store that cannot be used is a StoreError or AuditError naming the file, never a traceback.

The library half checks the exception and its message; the CLI half runs the
real command and checks that the user sees one line and exit status 1.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from support.process import calmopsd, write_config

from calmopsd.errors import AuditError, StoreError
from calmopsd.record.audit import GENESIS, Verdict, append_event, verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.head import AuditHead, head_path_for, read_head
from calmopsd.record.scope import Scope

GARBAGE = b"this is not a SQLite database, only some bytes\n" * 100
NOT_UTF8 = b'{"seq": 1, "hash": "\xff\xfe"}\n'


def corrupt(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.write_bytes(GARBAGE)


def with_events(db_path: Path, at: datetime, count: int) -> None:
    database = Database.open(db_path)
    try:
        for n in range(count):
            with database.write() as tx:
                append_event(tx, Scope.platform(), kind="note", actor="test", at=at, data={"n": n})
    finally:
        database.close()


def test_opening_a_file_that_is_not_a_database_is_a_store_error_naming_it(
    db_path: Path,
) -> None:
    corrupt(db_path)

    with pytest.raises(StoreError) as raised:
        Database.open(db_path)

    assert str(raised.value) == (f"{db_path}: cannot open the database (file is not a database)")


def test_verifying_a_file_that_is_not_a_database_is_a_store_error_naming_it(
    db_path: Path,
) -> None:
    corrupt(db_path)

    with pytest.raises(StoreError) as raised:
        verify_file(db_path)

    assert str(raised.value) == (f"{db_path}: cannot read the audit log (file is not a database)")


def test_a_state_directory_under_a_regular_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a directory\n")
    db_path = database_path(tmp_path / "file" / "state")

    with pytest.raises(StoreError) as raised:
        Database.open(db_path)

    assert str(raised.value) == (
        f"{db_path}: cannot open the database (Not a directory: {tmp_path / 'file' / 'state'})"
    )


def test_a_path_the_os_refuses_is_a_store_error_for_open_and_verify(tmp_path: Path) -> None:
    # A name longer than the file system allows: is_file() raises rather than answer False.
    db_path = database_path(tmp_path / ("x" * 300))

    with pytest.raises(StoreError) as opening:
        Database.open(db_path)
    with pytest.raises(StoreError) as verifying:
        verify_file(db_path)

    assert str(opening.value) == (
        f"{db_path}: cannot open the database (File name too long: {db_path.parent})"
    )
    assert str(verifying.value) == (
        f"{db_path}: cannot read the audit log (File name too long: {db_path})"
    )


def test_a_head_file_that_is_not_utf8_is_an_audit_error(db_path: Path, at: datetime) -> None:
    with_events(db_path, at, 1)
    head_path_for(db_path).write_bytes(NOT_UTF8)
    expected = f"{head_path_for(db_path)}: unreadable audit head file (not UTF-8 text)"

    with pytest.raises(AuditError) as raised:
        read_head(head_path_for(db_path))
    assert str(raised.value) == expected
    with pytest.raises(AuditError, match="not UTF-8 text"):
        verify_file(db_path)
    with pytest.raises(AuditError, match="not UTF-8 text"):
        Database.open(db_path)


def test_a_head_file_that_cannot_be_read_is_an_audit_error(tmp_path: Path) -> None:
    head = tmp_path / "calmopsd.db.audit-head"
    head.mkdir()

    with pytest.raises(AuditError) as raised:
        read_head(head)

    assert str(raised.value) == f"{head}: cannot read the audit head file (Is a directory)"


def test_a_head_file_with_a_negative_seq_is_an_audit_error(tmp_path: Path) -> None:
    head = tmp_path / "calmopsd.db.audit-head"
    head.write_text(json.dumps({"seq": -1, "hash": GENESIS}) + "\n")

    with pytest.raises(AuditError) as raised:
        read_head(head)

    assert str(raised.value) == f"{head}: unreadable audit head file (negative seq -1)"


def test_a_head_anchored_at_seq_0_must_hold_genesis(db_path: Path, at: datetime) -> None:
    with_events(db_path, at, 2)
    head_path_for(db_path).write_text(json.dumps({"seq": 0, "hash": "ab" * 32}) + "\n")

    assert verify_file(db_path) == Verdict(0, 0, "differs from the anchored head")


def test_a_head_anchored_at_genesis_before_the_first_append_still_verifies(
    db_path: Path, at: datetime
) -> None:
    # A crash between the first COMMIT and the first head write leaves exactly this.
    with_events(db_path, at, 2)
    head_path_for(db_path).write_text(json.dumps({"seq": 0, "hash": GENESIS}) + "\n")

    assert verify_file(db_path) == Verdict(2)


def test_a_head_at_seq_0_with_another_hash_freezes_the_anchor_at_open(
    db_path: Path, at: datetime
) -> None:
    with_events(db_path, at, 1)
    forged = AuditHead(0, "ab" * 32)
    forged_file = {"seq": 0, "hash": forged.hash, "pending": None}
    head_path_for(db_path).write_text(json.dumps(forged_file) + "\n")

    reopened = Database.open(db_path)
    try:
        assert reopened.anchor.frozen_reason == "differs from the anchored head"
    finally:
        reopened.close()
    assert read_head(head_path_for(db_path)) == forged


# The CLI, as a user runs it.


def config_in(tmp_path: Path) -> tuple[Path, Path]:
    config = write_config(tmp_path / "calmops.yaml", "state_dir: state\n")
    return config, database_path(tmp_path / "state")


def test_verify_audit_on_a_corrupt_database_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    config, db_path = config_in(tmp_path)
    corrupt(db_path)

    result = calmopsd("verify-audit", "--config", str(config))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"audit: {db_path}: cannot read the audit log (file is not a database)"
    ]


def test_verify_audit_with_a_head_file_that_is_not_utf8_prints_one_line_and_exits_1(
    tmp_path: Path, at: datetime
) -> None:
    config, db_path = config_in(tmp_path)
    with_events(db_path, at, 1)
    head_path_for(db_path).write_bytes(NOT_UTF8)

    result = calmopsd("verify-audit", "--config", str(config))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"audit: {head_path_for(db_path)}: unreadable audit head file (not UTF-8 text)"
    ]


def test_verify_audit_with_a_forged_genesis_head_fails_at_seq_0(
    tmp_path: Path, at: datetime
) -> None:
    config, db_path = config_in(tmp_path)
    with_events(db_path, at, 3)
    head_path_for(db_path).write_text(json.dumps({"seq": 0, "hash": "ab" * 32}) + "\n")

    result = calmopsd("verify-audit", "--config", str(config))

    assert result.returncode == 1
    assert result.stderr.startswith("audit FAILED at seq 0: differs from the anchored head")


def test_run_on_a_corrupt_database_logs_the_reason_and_exits_1(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "calmops.yaml", "state_dir: state\nsensing:\n  pm2:\n    enabled: false\n"
    )
    db_path = database_path(tmp_path / "state")
    corrupt(db_path)

    result = calmopsd("run", "--config", str(config))

    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{db_path}: cannot open the database (file is not a database)" in result.stdout
