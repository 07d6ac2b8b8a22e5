"""Lone appends (``record_event``, a transaction of their own) are queued for the next
commit group and written by its first writer (issue 16): each caller is still back only
once its event is durable and named by the head file, or with the error that kept it from
being so: its own row's, or that of the group that took it. Nothing not written is
reported written, and no caller is failed by a group or a writer it did not wait for."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from commit_support import DEADLINE_S, Boom, HeldThenFailing, break_at_commit, wait_for

from calmopsd.errors import ScopeError, StoreError
from calmopsd.model import AuditEvent, IncidentType, Severity
from calmopsd.record.audit import Verdict, append_event, list_events, record_event, verify_file
from calmopsd.record.database import Database
from calmopsd.record.head import head_path_for, read_head
from calmopsd.record.incidents import open_incident
from calmopsd.record.queued import QueuedAppend
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """A started thread running ``call`` once; its result or exception lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def lone(database: Database, at: datetime, kind: str, **data: object) -> Callable[[], object]:
    return lambda: record_event(database, PLATFORM, kind=kind, actor="test", at=at, data=data)


def stored(database: Database) -> list[tuple[int, str, str]]:
    return [(e.seq, e.kind, e.hash) for e in list_events(database, PLATFORM)]


def test_an_append_queued_while_a_writer_holds_the_connection_commits_in_its_group(
    database: Database, at: datetime
) -> None:
    groups, transactions = database.commit_groups, database.write_transactions
    with database.write() as tx:
        append_event(tx, PLATFORM, kind="held", actor="test", at=at)
        thread, outcome = in_thread(lone(database, at - timedelta(seconds=5), "queued", n=1))
        wait_for(lambda: database.appends_queued == 1, "the append to be queued")
    thread.join(DEADLINE_S)

    (event,) = outcome
    assert isinstance(event, AuditEvent)
    assert (event.seq, event.kind, event.data) == (2, "queued", {"n": 1})
    assert event.at == at  # never before the event it follows, as in a write of its own
    assert stored(database) == [(1, "held", stored(database)[0][2]), (2, "queued", event.hash)]
    assert database.commit_groups - groups == 1
    assert database.write_transactions - transactions == 1  # it took no turn of its own
    assert database.settle_head(DEADLINE_S)
    head = read_head(head_path_for(database.path))
    assert head is not None and (head.seq, head.hash) == (2, event.hash)
    assert verify_file(database.path) == Verdict(2)


def test_lone_appends_from_many_threads_are_each_durable_and_named_when_back(
    database: Database, at: datetime
) -> None:
    threads, each = 8, 40
    returned: list[AuditEvent] = []
    unnamed: list[str] = []
    start = threading.Barrier(threads)

    def appender(n: int) -> None:
        start.wait(DEADLINE_S)
        for i in range(each):
            event = record_event(
                database, PLATFORM, kind="lone", actor=f"w{n}", at=at, data={"i": i}
            )
            head = read_head(head_path_for(database.path))
            assert head is not None
            pending = head.pending
            if head.seq < event.seq and (pending is None or pending.seq < event.seq):
                unnamed.append(f"{event.seq} not named by {head}")
            returned.append(event)

    pool = [threading.Thread(target=appender, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)

    assert not any(thread.is_alive() for thread in pool)
    assert unnamed == []
    assert sorted((e.seq, e.hash) for e in returned) == [
        (seq, digest) for seq, _, digest in stored(database)
    ]
    assert len(returned) == threads * each
    assert database.commit_groups < threads * each  # they shared commits
    assert verify_file(database.path) == Verdict(threads * each)
    assert database.settle_head(DEADLINE_S)
    assert read_head(head_path_for(database.path)) == database.anchor.head


def test_lone_appends_beside_writers_whose_bodies_fail_lose_nothing(
    database: Database, at: datetime
) -> None:
    """Writers raising in their bodies share the groups that write the queue: only their
    own changes are undone."""
    rounds = 60
    returned: list[AuditEvent] = []
    start = threading.Barrier(3)

    def appender() -> None:
        start.wait(DEADLINE_S)
        for i in range(rounds):
            returned.append(
                record_event(database, PLATFORM, kind="lone", actor="a", at=at, data={"i": i})
            )

    def failing() -> None:
        start.wait(DEADLINE_S)
        for _ in range(rounds):
            with pytest.raises(Boom), database.write() as tx:
                append_event(tx, PLATFORM, kind="undone", actor="f", at=at)
                raise Boom

    pool = [threading.Thread(target=t) for t in (appender, appender, failing)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)

    assert not any(thread.is_alive() for thread in pool)
    assert sorted(e.seq for e in returned) == list(range(1, 2 * rounds + 1))
    assert {kind for _, kind, _ in stored(database)} == {"lone"}
    assert verify_file(database.path) == Verdict(2 * rounds)


def test_a_queued_append_its_check_refuses_fails_alone(database: Database, at: datetime) -> None:
    """NaN encodes (Python's JSON allows it) but is not JSON: the table's CHECK refuses
    that one row; the writer and the other queued append in its group stand."""
    with database.write() as tx:
        append_event(tx, PLATFORM, kind="held", actor="test", at=at)
        bad, bad_outcome = in_thread(lone(database, at, "bad", x=float("nan")))
        wait_for(lambda: database.appends_queued == 1, "the bad append to be queued")
        good, good_outcome = in_thread(lone(database, at, "good"))
        wait_for(lambda: database.appends_queued == 2, "the good append to be queued")
    bad.join(DEADLINE_S)
    good.join(DEADLINE_S)

    (refused,) = bad_outcome
    assert isinstance(refused, StoreError)
    assert "audit event 'bad' not appended (CHECK constraint failed" in str(refused)
    (event,) = good_outcome
    assert isinstance(event, AuditEvent) and event.seq == 2
    assert [kind for _, kind, _ in stored(database)] == ["held", "good"]
    assert verify_file(database.path) == Verdict(2)


def test_appends_queued_in_a_group_whose_commit_fails_are_not_appended(
    database: Database, at: datetime
) -> None:
    with (
        pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"),
        database.write() as tx,
    ):
        append_event(tx, PLATFORM, kind="doomed", actor="test", at=at)
        break_at_commit(tx)
        thread, outcome = in_thread(lone(database, at, "innocent"))
        wait_for(lambda: database.appends_queued == 1, "the append to be queued")
    thread.join(DEADLINE_S)

    (told,) = outcome
    assert isinstance(told, StoreError)
    assert "not appended: its commit group did not commit (IntegrityError('FOREIGN KEY" in str(told)
    assert stored(database) == []
    after = record_event(database, PLATFORM, kind="after", actor="test", at=at)
    assert after.seq == 1
    assert verify_file(database.path) == Verdict(1)


def test_when_the_writer_for_the_queue_cannot_begin_what_waited_for_it_fails_and_the_next_writes(
    database: Database, at: datetime
) -> None:
    proxy = HeldThenFailing(database._writer, "BEGIN IMMEDIATE")
    database._writer = proxy  # type: ignore[assignment]
    first, first_outcome = in_thread(lone(database, at, "first"))
    assert proxy.reached.wait(DEADLINE_S)
    behind, behind_outcome = in_thread(lone(database, at, "behind"))
    wait_for(lambda: database.appends_queued == 2, "the second append to be queued")
    proxy.go.set()
    first.join(DEADLINE_S)
    behind.join(DEADLINE_S)

    assert not first.is_alive() and not behind.is_alive()
    (own,) = first_outcome  # the writer sees its own BEGIN's error, as a lone writer would
    assert isinstance(own, sqlite3.OperationalError)
    assert "injected into BEGIN" in str(own)
    (told,) = behind_outcome  # the one waiting for it is told why, in a StoreError
    assert isinstance(told, StoreError)
    assert str(told) == (
        "audit event 'behind' not appended: the writer it waited for could not begin"
        " (OperationalError('disk I/O error (injected into BEGIN IMMEDIATE)'))"
    )
    assert database.appends_queued == 0
    assert record_event(database, PLATFORM, kind="next", actor="test", at=at).seq == 1
    assert [kind for _, kind, _ in stored(database)] == ["next"]
    assert verify_file(database.path) == Verdict(1)


def test_inside_a_unit_a_lone_append_joins_the_unit_and_goes_with_it(
    database: Database, at: datetime
) -> None:
    with pytest.raises(Boom), database.unit():
        record_event(database, PLATFORM, kind="in.unit", actor="test", at=at)
        assert database.appends_queued == 0
        raise Boom
    assert stored(database) == []


def test_a_lone_append_about_another_organizations_incident_is_refused_before_it_queues(
    database: Database, at: datetime
) -> None:
    incident = open_incident(
        database, PLATFORM, organization_id="acme", fingerprint="f", type=IncidentType.MEMORY,
        severity=Severity.WARNING, title="t", at=at, actor="test",
    )  # fmt: skip
    before = stored(database)
    with pytest.raises(ScopeError, match=r"^no incident 1 in this scope$"):
        record_event(
            database, Scope.organization("globex"), kind="x", actor="mallory", at=at,
            incident_id=incident.id,
        )  # fmt: skip
    assert stored(database) == before
    assert database.appends_queued == 0
    event = record_event(
        database, Scope.organization("acme"), kind="note", actor="a", at=at, incident_id=incident.id
    )
    own = record_event(database, Scope.organization("globex"), kind="own", actor="g", at=at)
    assert (event.organization_id, own.organization_id) == ("acme", "globex")
    assert verify_file(database.path) == Verdict(3)


def test_an_append_queued_after_a_failing_group_took_the_queue_is_written_by_the_next(
    database: Database, at: datetime
) -> None:
    """The failed group's caller fails alone: the append queued after its group took the
    queue is not its to fail (found by review: it was failed with that group's error)."""
    proxy = HeldThenFailing(database._writer, "COMMIT")
    database._writer = proxy  # type: ignore[assignment]
    doomed, doomed_outcome = in_thread(lone(database, at, "doomed"))
    assert proxy.reached.wait(DEADLINE_S)  # its group took the queue and is at COMMIT
    later, later_outcome = in_thread(lone(database, at, "later"))
    wait_for(lambda: database.appends_queued == 1, "the later append to be queued")
    proxy.go.set()
    doomed.join(DEADLINE_S)
    later.join(DEADLINE_S)

    (failed,) = doomed_outcome
    assert isinstance(failed, StoreError)
    assert "its commit group did not commit (OperationalError('disk I/O error" in str(failed)
    (event,) = later_outcome
    assert isinstance(event, AuditEvent) and (event.seq, event.kind) == (1, "later")
    assert [kind for _, kind, _ in stored(database)] == ["later"]
    assert verify_file(database.path) == Verdict(1)


def test_a_writer_for_the_queue_interrupted_before_it_begins_strands_no_one(
    database: Database, at: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt (SIGINT in the main thread) right after a caller became the writer
    for the queue: its event leaves the queue, and the next lone append writes itself
    instead of waiting for a writer that is gone."""
    queue = database._queue
    put = queue.put

    def put_then_interrupted(item: QueuedAppend, gathering: Callable[[], bool]) -> bool:
        monkeypatch.setattr(queue, "put", put)  # once
        if put(item, gathering):
            raise KeyboardInterrupt  # as a signal handler would, at the next bytecode
        return False

    monkeypatch.setattr(queue, "put", put_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        record_event(database, PLATFORM, kind="interrupted", actor="test", at=at)
    assert database.appends_queued == 0
    thread, outcome = in_thread(lone(database, at, "next"))
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "the next lone append waits for a writer that is gone"
    (event,) = outcome
    assert isinstance(event, AuditEvent) and event.seq == 1
    assert [kind for _, kind, _ in stored(database)] == ["next"]


def test_a_lone_append_inside_a_read_on_the_same_thread_reads_the_same_snapshot(
    database: Database, at: datetime
) -> None:
    incident = open_incident(
        database, PLATFORM, organization_id="acme", fingerprint="f", type=IncidentType.MEMORY,
        severity=Severity.WARNING, title="t", at=at, actor="test",
    )  # fmt: skip
    with database.read() as db:
        assert db.execute("SELECT count(*) FROM incidents").fetchone()[0] == 1
        event = record_event(database, PLATFORM, kind="n", actor="t", at=at, incident_id=1)
    assert (event.incident_id, event.organization_id) == (incident.id, "acme")
