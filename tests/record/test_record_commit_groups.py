"""Writers that arrive together share one COMMIT and one head write (issue 16), and each
still gets its own transaction: its changes stand or fall alone, and are durable and
named by the head file when its write() returns."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from commit_support import DEADLINE_S, Boom, break_at_commit, wait_for

from calmopsd.errors import StoreError
from calmopsd.record.audit import Verdict, append_event, list_events, record_event, verify_file
from calmopsd.record.commits import Group, Turns
from calmopsd.record.database import Database, Tx
from calmopsd.record.head import AuditHead, head_path_for, read_head
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def note(tx: Tx, at: datetime, kind: str) -> AuditHead:
    event = append_event(tx, PLATFORM, kind=kind, actor="test", at=at)
    return AuditHead(event.seq, event.hash)


def second_writer(
    database: Database, body: Callable[[Tx], object]
) -> tuple[threading.Thread, list[object]]:
    """A thread that writes ``body`` once; its result or exception lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            with database.write() as tx:
                outcome.append(body(tx))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    return threading.Thread(target=run), outcome


def test_a_writer_arriving_during_anothers_transaction_shares_its_commit(
    database: Database, at: datetime
) -> None:
    groups = database.commit_groups
    thread, outcome = second_writer(database, lambda tx: note(tx, at, "second"))
    with database.write() as tx:
        note(tx, at, "first")
        thread.start()
        wait_for(lambda: database.writers_waiting == 1, "the second writer to wait")
    thread.join(DEADLINE_S)

    (second,) = outcome
    assert isinstance(second, AuditHead)
    assert database.commit_groups - groups == 1
    assert [e.kind for e in list_events(database, PLATFORM)] == ["first", "second"]
    assert database.settle_head(DEADLINE_S)
    assert read_head(head_path_for(database.path)) == second == database.anchor.head
    assert verify_file(database.path) == Verdict(2)


def test_a_failing_writer_in_a_group_undoes_only_its_own_changes(
    database: Database, at: datetime
) -> None:
    def doomed(tx: Tx) -> None:
        note(tx, at, "doomed")
        raise Boom

    thread, outcome = second_writer(database, doomed)
    with database.write() as tx:
        first = note(tx, at, "first")
        thread.start()
        wait_for(lambda: database.writers_waiting == 1, "the second writer to wait")
    thread.join(DEADLINE_S)

    assert [type(o) for o in outcome] == [Boom]
    assert [e.kind for e in list_events(database, PLATFORM)] == ["first"]
    assert database.settle_head(DEADLINE_S)
    assert read_head(head_path_for(database.path)) == first
    with database.write() as tx:
        assert note(tx, at, "after").seq == 2
    assert verify_file(database.path) == Verdict(2)


def test_a_group_whose_commit_fails_fails_every_writer_in_it(
    database: Database, at: datetime
) -> None:
    """A deferred constraint is checked at the shared COMMIT: the writer that broke it
    sees the constraint, the other is told its group failed; nothing stands."""
    thread, outcome = second_writer(database, lambda tx: note(tx, at, "innocent"))
    with (
        pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"),
        database.write() as tx,
    ):
        note(tx, at, "doomed")
        break_at_commit(tx)
        thread.start()
        wait_for(lambda: database.writers_waiting == 1, "the second writer to wait")
    thread.join(DEADLINE_S)

    innocent = outcome[-1]  # its body ran (a head), then the group failed
    assert isinstance(outcome[0], AuditHead)
    assert isinstance(innocent, StoreError)
    assert "not committed: another write in its commit group failed" in str(innocent)
    assert list_events(database, PLATFORM) == []
    with database.write() as tx:
        assert note(tx, at, "after").seq == 1
    assert verify_file(database.path) == Verdict(1)


def test_a_rolled_back_write_inside_a_unit_leaves_the_head_at_the_units_own_events(
    database: Database, at: datetime
) -> None:
    with database.unit() as unit:
        kept = note(unit, at, "kept")
        with pytest.raises(Boom), database.write() as tx:
            note(tx, at, "undone")
            raise Boom
    assert [e.kind for e in list_events(database, PLATFORM)] == ["kept"]
    assert database.settle_head(DEADLINE_S)
    assert read_head(head_path_for(database.path)) == kept == database.anchor.head
    assert verify_file(database.path) == Verdict(1)


def test_many_writers_share_commits_and_every_return_is_named_by_the_head_file(
    database: Database, at: datetime
) -> None:
    """Whenever a writer is back from write(), the head file names its event: under the
    head, or in the group whose last event is named pending (the one interrupted commit
    a crash may leave, as one lone transaction's was before groups)."""
    threads, each = 6, 30
    seen: list[str] = []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        start.wait(DEADLINE_S)
        for i in range(each):
            with database.write() as tx:
                mine = note(tx, at, f"w{n}.{i}")
            head = read_head(head_path_for(database.path))
            assert head is not None
            pending = head.pending
            named = head.seq >= mine.seq or (pending is not None and pending.seq >= mine.seq)
            seen.append("named" if named else f"not named: {mine} under {head}")

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)

    assert seen == ["named"] * (threads * each)
    assert database.commit_groups < threads * each
    assert verify_file(database.path) == Verdict(threads * each)
    assert database.settle_head(DEADLINE_S)
    assert read_head(head_path_for(database.path)) == database.anchor.head


def test_full_groups_commit_and_the_writers_left_begin_the_next(
    database: Database, at: datetime
) -> None:
    """With a group limit smaller than the writers waiting, the first writer commits a
    full group while others still wait (one hand-off wakes it, not them), and they go on
    in groups of their own: no writer is left waiting, none is in a group over the limit."""
    database._turns = Turns(max_group=3)
    threads, each = 8, 15
    sizes: list[int] = []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        start.wait(DEADLINE_S)
        for i in range(each):
            with database.write() as tx:
                note(tx, at, f"w{n}.{i}")

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    commit = database._commit

    def counted(group: Group) -> None:
        commit(group)
        sizes.append(group.size)

    database._commit = counted  # type: ignore[method-assign]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)

    assert not any(thread.is_alive() for thread in pool)
    assert sum(sizes) == threads * each
    assert max(sizes) <= 3
    assert verify_file(database.path) == Verdict(threads * each)


class FailingRollbacks:
    """The writer connection, whose rollbacks fail while ``failing`` is set: what an I/O
    error under a rollback does, which a real disk cannot be made to do on demand."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.failing = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if self.failing and sql in ("ROLLBACK TO member", "ROLLBACK"):
            raise sqlite3.OperationalError(f"disk I/O error (injected into {sql})")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_a_writer_whose_rollback_fails_leaves_no_one_waiting_and_the_store_writes_again(
    database: Database, at: datetime
) -> None:
    """Its body raised and neither ROLLBACK TO nor ROLLBACK worked: its group is lost and
    ended all the same, so the writer waiting behind it is told the disk's error instead of
    waiting for ever; once the disk answers, the next write rolls the old transaction back
    first and goes through, and nothing of the failed one stands."""
    proxy = FailingRollbacks(database._writer)
    database._writer = proxy  # type: ignore[assignment]
    thread, outcome = second_writer(database, lambda tx: note(tx, at, "behind"))
    with pytest.raises(Boom), database.write() as tx:
        note(tx, at, "first")
        thread.start()
        wait_for(lambda: database.writers_waiting == 1, "the second writer to wait")
        proxy.failing = True
        raise Boom
    thread.join(DEADLINE_S)
    assert not thread.is_alive()
    (told,) = outcome
    assert isinstance(told, sqlite3.OperationalError)
    assert "disk I/O error (injected into ROLLBACK)" in str(told)

    proxy.failing = False
    with database.write() as tx:
        assert note(tx, at, "after").seq == 1
    assert [e.kind for e in list_events(database, PLATFORM)] == ["after"]
    assert verify_file(database.path) == Verdict(1)


def test_close_waits_for_the_group_under_way_to_commit(db_path: Path, at: datetime) -> None:
    """A close() that comes while a writer's transaction is open waits for its COMMIT
    (before, it joined the open group and closed the connection under it: the writer's
    COMMIT failed on a closed database)."""
    database = Database.open(db_path)
    inside, release = threading.Event(), threading.Event()

    def held(tx: Tx) -> AuditHead:
        mine = note(tx, at, "held")
        inside.set()
        release.wait(DEADLINE_S)
        return mine

    writer, outcome = second_writer(database, held)
    writer.start()
    assert inside.wait(DEADLINE_S)
    closer = threading.Thread(target=database.close)
    closer.start()
    wait_for(lambda: database._turns._closing, "close() to wait for the connection")
    assert closer.is_alive()
    release.set()
    writer.join(DEADLINE_S)
    closer.join(DEADLINE_S)

    assert not closer.is_alive()
    (written,) = outcome
    assert isinstance(written, AuditHead) and written.seq == 1
    assert read_head(head_path_for(db_path)) == written
    assert verify_file(db_path) == Verdict(1)


def test_close_is_not_held_off_by_a_writer_writing_on_and_later_writes_are_refused(
    db_path: Path, at: datetime
) -> None:
    """Found by review: close() waited for each next group, so a writer in a loop held
    it off until it stopped. Now no group begins once close() has begun: the writer is
    told the store is closed, and so are a lone append and a read after it."""
    database = Database.open(db_path)
    started = threading.Event()
    outcome: list[object] = []

    def writer() -> None:
        try:
            for i in range(100_000):  # far more than a close() may wait for
                with database.write() as tx:
                    note(tx, at, f"w{i}")
                started.set()
        except StoreError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(DEADLINE_S)
    closer = threading.Thread(target=database.close)
    closer.start()
    closer.join(DEADLINE_S)
    assert not closer.is_alive(), "close() is held off by the writer"
    thread.join(DEADLINE_S)
    assert not thread.is_alive()

    (refused,) = outcome
    assert str(refused) == "the store is closed (or closing): no write begins"
    with pytest.raises(StoreError, match="no write begins"):
        record_event(database, PLATFORM, kind="late", actor="test", at=at)
    with pytest.raises(StoreError, match=r"the store is closed$"), database.read():
        pass
    assert verify_file(db_path).ok
