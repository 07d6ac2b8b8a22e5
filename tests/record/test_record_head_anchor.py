"""The head file beside the database: moved by commits only, caught up after a crash,
frozen once the log and the anchor disagree."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from calmopsd.record.audit import GENESIS, Verdict, append_event, verify_file
from calmopsd.record.database import Database
from calmopsd.record.head import AuditHead, HeadAnchor, head_path_for, read_head
from calmopsd.record.scope import Scope

DEADLINE_S = 10


class Boom(Exception):
    pass


def append(database: Database, at: datetime, note: str = "") -> AuditHead:
    with database.write() as tx:
        event = append_event(
            tx, Scope.platform(), kind="note", actor="test", at=at, data={"note": note}
        )
    return AuditHead(event.seq, event.hash)


def last_event(path: Path) -> AuditHead:
    conn = sqlite3.connect(path)
    try:
        seq, digest = conn.execute(
            "SELECT seq, hash FROM incident_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return AuditHead(seq, digest)


def event_count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        count: int = conn.execute("SELECT count(*) FROM incident_events").fetchone()[0]
    finally:
        conn.close()
    return count


def test_an_empty_database_is_anchored_at_genesis(database: Database) -> None:
    assert read_head(head_path_for(database.path)) == AuditHead(0, GENESIS)
    assert database.anchor.head == AuditHead(0, GENESIS)
    assert verify_file(database.path) == Verdict(0)


def crashed_after_commit(
    database: Database, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> AuditHead:
    """Append one event and stop as a crash between its COMMIT and the head file's own
    write would: the head file is left as it was just before the commit."""
    with monkeypatch.context() as patched:
        patched.setattr(HeadAnchor, "advance", lambda self, prev, new: None)
        return append(database, at)


def test_open_catches_up_after_a_crash_before_the_first_head_write(
    db_path: Path, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.open(db_path)
    first = crashed_after_commit(database, at, monkeypatch)
    database.close()
    left = read_head(head_path_for(db_path))
    assert left == AuditHead(0, GENESIS, pending=first)  # written before the COMMIT

    reopened = Database.open(db_path)
    try:
        assert reopened.anchor.frozen_reason is None
        assert read_head(head_path_for(db_path)) == first
    finally:
        reopened.close()
    assert verify_file(db_path) == Verdict(1)


def test_the_head_file_follows_every_committed_append(database: Database, at: datetime) -> None:
    """When write() returns the file names the event, as the head or as the pending end
    written before the COMMIT; the write after the COMMIT (on the flusher's thread) then
    makes it the head."""
    head_file = head_path_for(database.path)
    before = AuditHead(0, GENESIS)
    for seq in range(1, 6):
        written = append(database, at)
        assert written.seq == seq
        on_return = read_head(head_file)
        assert on_return in (written, AuditHead(before.seq, before.hash, pending=written))
        assert database.settle_head(DEADLINE_S)
        assert read_head(head_file) == written == last_event(database.path)
        assert database.anchor.head == written
        before = written


def test_a_writer_does_not_wait_for_the_head_write_after_its_commit(
    database: Database, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write after the COMMIT is the flusher's: held up, the writer still returns, with
    the file naming its event as pending, which verify-audit accepts."""
    first = append(database, at)
    assert database.settle_head(DEADLINE_S)
    release = threading.Event()
    flushing = threading.Event()
    flush = database.anchor.flush

    def held_flush() -> None:
        flushing.set()
        assert release.wait(DEADLINE_S)
        flush()

    monkeypatch.setattr(database.anchor, "flush", held_flush)
    second = append(database, at)
    assert flushing.wait(DEADLINE_S)  # the flusher has it, and the writer is back
    assert read_head(head_path_for(database.path)) == AuditHead(
        first.seq, first.hash, pending=second
    )
    assert verify_file(database.path) == Verdict(2)
    release.set()
    assert database.settle_head(DEADLINE_S)
    assert read_head(head_path_for(database.path)) == second


def test_closing_writes_the_head_the_flusher_had_not_written(
    db_path: Path, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush held up past close() is still made before the file is let go."""
    database = Database.open(db_path)
    release = threading.Event()
    flush = database.anchor.flush

    def held_flush() -> None:
        assert release.wait(DEADLINE_S)
        flush()

    monkeypatch.setattr(database.anchor, "flush", held_flush)
    written = append(database, at)
    threading.Timer(0.05, release.set).start()  # close() must wait for it, not skip it
    database.close()
    assert read_head(head_path_for(db_path)) == written


def test_the_head_file_is_two_json_slots_named_after_the_database(
    database: Database, at: datetime
) -> None:
    """Two 4 KiB slots overwritten in turn (issue 16): the newest says the head, the
    other what was written before the COMMIT, each with its generation and checksum."""
    written = append(database, at)
    assert database.settle_head(DEADLINE_S)

    raw = database.path.with_name("calmopsd.db.audit-head").read_bytes()
    assert len(raw) == 8192
    slots = [json.loads(raw[start : start + 4096]) for start in (0, 4096)]
    assert raw[4095:4096] == raw[8191:] == b"\n"
    for slot in slots:
        assert len(slot.pop("sum")) == 32
    assert slots[0] == {"seq": 1, "hash": written.hash, "pending": None, "gen": 2}
    assert slots[1] == {
        "seq": 0,
        "hash": GENESIS,
        "pending": {"seq": 1, "hash": written.hash},
        "gen": 1,
    }


def test_a_rolled_back_append_leaves_no_row_and_does_not_move_the_head(
    database: Database, at: datetime
) -> None:
    before = append(database, at)
    assert database.settle_head(DEADLINE_S)
    head_bytes = head_path_for(database.path).read_bytes()

    with pytest.raises(Boom), database.write() as tx:
        append_event(tx, Scope.platform(), kind="doomed", actor="test", at=at)
        raise Boom

    assert event_count(database.path) == 1
    assert head_path_for(database.path).read_bytes() == head_bytes
    assert database.anchor.head == before
    after = append(database, at)
    assert after.seq == 2
    assert verify_file(database.path) == Verdict(2)


def test_open_catches_up_a_head_file_one_event_behind(
    db_path: Path, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.open(db_path)
    anchored = append(database, at)
    newest = crashed_after_commit(database, at, monkeypatch)
    database.close()
    # A crash between COMMIT and the head file's rename looks like this:
    assert read_head(head_path_for(db_path)) == AuditHead(1, anchored.hash, pending=newest)
    assert verify_file(db_path) == Verdict(2)

    with capture_logs() as logs:
        reopened = Database.open(db_path)
    try:
        assert read_head(head_path_for(db_path)) == newest
        assert reopened.anchor.head == newest
        assert {"event": "audit.head_caught_up", "anchored": 1, "head": 2} in [
            {k: e[k] for k in ("event", "anchored", "head") if k in e} for e in logs
        ]
        assert append(reopened, at).seq == 3
    finally:
        reopened.close()
    assert verify_file(db_path) == Verdict(3)


def test_after_a_truncation_the_head_file_stays_frozen_and_verify_keeps_failing(
    db_path: Path, at: datetime
) -> None:
    database = Database.open(db_path)
    for _ in range(5):
        head = append(database, at)
    database.close()
    evidence = head_path_for(db_path).read_bytes()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER incident_events_no_delete")
    conn.execute("DELETE FROM incident_events WHERE seq > 3")
    conn.close()

    with capture_logs() as logs:
        reopened = Database.open(db_path)
    try:
        assert reopened.anchor.frozen_reason == "log ends at 3 but the head anchors 5"
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["audit.chain_broken"]
        for n in range(3):
            append(reopened, at, note=f"after the cut {n}")
    finally:
        reopened.close()

    assert head_path_for(db_path).read_bytes() == evidence
    assert read_head(head_path_for(db_path)) == head
    assert event_count(db_path) == 6
    assert verify_file(db_path) == Verdict(4, 5, "differs from the anchored head")


def test_re_appending_identical_events_after_a_cut_rebuilds_the_same_chain(
    db_path: Path, at: datetime
) -> None:
    # The hash covers content only, so the same events at the same moments
    # reproduce the anchored head exactly: nothing is lost, and nothing is flagged.
    database = Database.open(db_path)
    original = [append(database, at, note=str(n)) for n in range(3)]
    database.close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER incident_events_no_delete")
    conn.execute("DELETE FROM incident_events WHERE seq = 3")
    conn.close()

    reopened = Database.open(db_path)
    try:
        assert append(reopened, at, note="2") == original[2]
    finally:
        reopened.close()
    assert verify_file(db_path) == Verdict(3)


def test_a_head_file_that_does_not_match_the_log_freezes_at_open(
    db_path: Path, at: datetime
) -> None:
    database = Database.open(db_path)
    append(database, at)
    database.close()
    head_path_for(db_path).unlink()

    reopened = Database.open(db_path)
    try:
        append(reopened, at)
        assert reopened.anchor.frozen_reason == (
            "the audit head file is missing; the tail cannot be proven"
        )
    finally:
        reopened.close()

    assert head_path_for(db_path).exists() is False
    assert verify_file(db_path).first_bad_seq == 1


def test_a_head_seen_in_the_logs_catches_a_rewritten_head_file(db_path: Path, at: datetime) -> None:
    database = Database.open(db_path)
    for _ in range(4):
        logged = append(database, at)
    database.close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER incident_events_no_delete")
    conn.execute("DELETE FROM incident_events WHERE seq > 2")
    conn.close()
    # The attacker also puts the head file back to match the cut log.
    head_path_for(db_path).write_text(f'{{"seq": 2, "hash": "{last_event(db_path).hash}"}}\n')

    assert verify_file(db_path) == Verdict(2)
    assert verify_file(db_path, expected_head=logged) == Verdict(
        2, 3, "log ends at 2 but the head anchors 4"
    )


def test_a_chain_past_its_head_further_than_one_commit_is_reported_and_frozen(
    db_path: Path, at: datetime
) -> None:
    """Events appended past the head by anything but calmopsd's own commit (forged with
    valid hashes, or a head file put back to an old copy) are not proven by the anchor."""
    database = Database.open(db_path)
    anchored = append(database, at)
    assert database.settle_head(DEADLINE_S)
    old_copy = head_path_for(db_path).read_bytes()
    append(database, at)
    append(database, at)
    database.close()
    head_path_for(db_path).write_bytes(old_copy)

    verdict = verify_file(db_path)
    assert (verdict.ok, verdict.verified, verdict.first_bad_seq) == (False, 1, 2)
    assert verdict.reason.startswith("the log goes on past the anchored head 1 to 3")
    with capture_logs() as logs:
        reopened = Database.open(db_path)
    try:
        assert reopened.anchor.frozen_reason == verdict.reason
        assert reopened.anchor.head == anchored  # not caught up: the file stays as evidence
    finally:
        reopened.close()
    assert "audit.chain_broken" in [e["event"] for e in logs]
    assert head_path_for(db_path).read_bytes() == old_copy


def test_a_genesis_anchor_under_a_long_chain_is_reported(db_path: Path, at: datetime) -> None:
    database = Database.open(db_path)
    genesis = head_path_for(db_path).read_bytes()
    for _ in range(3):
        append(database, at)
    database.close()
    head_path_for(db_path).write_bytes(genesis)
    verdict = verify_file(db_path)
    assert (verdict.ok, verdict.first_bad_seq, verdict.beyond_head) == (False, 1, True)


def test_a_head_file_of_an_older_calmopsd_may_lag_as_it_always_could(
    db_path: Path, at: datetime
) -> None:
    """Written before the pending commit was recorded: how far it lags is unknown, so it is
    caught up as before (and written in the new form from then on)."""
    database = Database.open(db_path)
    anchored = append(database, at)
    newest = append(database, at)
    database.close()
    legacy = {"seq": anchored.seq, "hash": anchored.hash}
    head_path_for(db_path).write_text(json.dumps(legacy) + "\n")
    assert verify_file(db_path) == Verdict(2)

    reopened = Database.open(db_path)
    try:
        assert reopened.anchor.frozen_reason is None
        assert read_head(head_path_for(db_path)) == newest
    finally:
        reopened.close()


def test_verify_with_a_head_from_the_logs_accepts_the_chain_going_on_past_it(
    db_path: Path, at: datetime
) -> None:
    database = Database.open(db_path)
    logged = append(database, at)
    append(database, at)
    database.close()
    assert verify_file(db_path, expected_head=logged) == Verdict(2)
