"""Many scheduler threads, one Database: no "database is locked", one intact chain."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any

from calmopsd.model import IncidentStatus, IncidentType, Severity
from calmopsd.record.audit import Verdict, append_event, list_events, verify_file
from calmopsd.record.connection import READER_CACHE_KIB
from calmopsd.record.database import IDLE_READERS, Database
from calmopsd.record.head import head_path_for, read_head
from calmopsd.record.incidents import change_status, get_incident, list_incidents, open_incident
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot, latest_snapshots

THREADS = 8
WRITES_PER_THREAD = 50


def run_all(workers: list[Callable[[], Any]]) -> list[Any]:
    """Start every worker at once; return their results, re-raising the first failure."""
    start = threading.Barrier(len(workers))

    def run(worker: Callable[[], Any]) -> Any:
        start.wait(timeout=10)
        return worker()

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        futures = [pool.submit(run, worker) for worker in workers]
        return [future.result(timeout=60) for future in futures]


def test_eight_writing_threads_never_lock_and_leave_one_intact_chain(
    database: Database, at: datetime
) -> None:
    platform = Scope.platform()
    done = threading.Event()
    reads: list[int] = []

    def writer(thread: int) -> dict[str, int]:
        made = {"incidents": 0, "events": 0, "snapshots": 0}
        for i in range(WRITES_PER_THREAD):
            if i % 3 == 0:
                open_incident(
                    database,
                    platform,
                    organization_id="acme" if thread % 2 else None,
                    fingerprint=f"memory:t{thread}:{i}",
                    type=IncidentType.MEMORY,
                    severity=Severity.WARNING,
                    title=f"thread {thread} write {i}",
                    at=at,
                    actor=f"thread-{thread}",
                )
                made["incidents"] += 1
            elif i % 3 == 1:
                with database.write() as tx:
                    append_event(
                        tx, platform, kind="tick", actor=f"thread-{thread}", at=at, data={"i": i}
                    )
                made["events"] += 1
            else:
                add_snapshot(
                    database,
                    platform,
                    sampler=f"sampler-{thread}",
                    taken_at=at,
                    ok=True,
                    duration_ms=float(i),
                    readings={"i": i},
                )
                made["snapshots"] += 1
        return made

    def reader() -> int:
        rounds = 0
        while not done.is_set() or rounds == 0:
            list_incidents(database, platform)
            list_events(database, platform)
            latest_snapshots(database, platform)
            rounds += 1
        reads.append(rounds)
        return rounds

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as readers:
        reading = [readers.submit(reader) for _ in range(2)]
        try:
            made = run_all([partial(writer, t) for t in range(THREADS)])
        finally:
            done.set()
        for future in reading:
            future.result(timeout=30)
    elapsed = time.monotonic() - started

    incidents = sum(m["incidents"] for m in made)
    events = sum(m["events"] for m in made)
    snapshots = sum(m["snapshots"] for m in made)
    assert (incidents, events, snapshots) == (8 * 17, 8 * 17, 8 * 16)
    assert len(list_incidents(database, platform)) == incidents
    assert len(latest_snapshots(database, platform)) == THREADS
    # Every incident opened appends one event in the same transaction.
    assert verify_file(database.path) == Verdict(incidents + events)
    assert database.settle_head(10)
    assert read_head(head_path_for(database.path)) == database.anchor.head
    assert database.anchor.head is not None
    assert database.anchor.head.seq == incidents + events
    assert len(reads) == 2
    assert elapsed < 20


def test_of_two_racing_status_changes_exactly_one_wins(database: Database, at: datetime) -> None:
    platform = Scope.platform()
    incident = open_incident(
        database,
        platform,
        organization_id="acme",
        fingerprint="disk:/var",
        type=IncidentType.DISK,
        severity=Severity.CRITICAL,
        title="disk filling",
        at=at,
        actor="agent",
    )

    def move() -> bool:
        return change_status(
            database,
            Scope.organization("acme"),
            incident.id,
            expected=IncidentStatus.OPEN,
            new=IncidentStatus.MONITORING,
            at=at,
            actor="racer",
        )

    results = run_all([move, move])

    assert sorted(results) == [False, True]
    changes = [
        e.data
        for e in list_events(database, platform, incident_id=incident.id)
        if e.kind == "incident.status_changed"
    ]
    assert changes == [{"from": "open", "to": "monitoring", "resolution": None}]
    found = get_incident(database, platform, incident.id)
    assert found is not None
    assert found.status == IncidentStatus.MONITORING
    assert verify_file(database.path) == Verdict(2)


def test_many_racing_status_changes_still_have_one_winner(database: Database, at: datetime) -> None:
    incident = open_incident(
        database,
        Scope.platform(),
        organization_id=None,
        fingerprint="network:upstream",
        type=IncidentType.NETWORK,
        severity=Severity.WARNING,
        title="upstream slow",
        at=at,
        actor="agent",
    )

    def resolve() -> bool:
        return change_status(
            database,
            Scope.platform(),
            incident.id,
            expected=IncidentStatus.OPEN,
            new=IncidentStatus.RESOLVED,
            at=at,
            actor="racer",
            resolution="recovered",
        )

    results = run_all([resolve] * THREADS)

    assert results.count(True) == 1
    kinds = [e.kind for e in list_events(database, Scope.platform())]
    assert kinds == ["incident.opened", "incident.status_changed"]


def test_each_reader_holds_a_bounded_page_cache_and_the_writer_the_default(
    database: Database,
) -> None:
    # Issue 16: readers at SQLite's 2,000 KiB default each would grow the daemon's RSS
    # with the store; a reader's cache is 512 KiB at most.
    def reader_cache() -> int:
        with database.read() as db:
            return int(db.execute("PRAGMA cache_size").fetchone()[0])

    assert run_all([reader_cache] * THREADS) == [-READER_CACHE_KIB] * THREADS
    assert READER_CACHE_KIB == 512
    with database.unit() as tx:
        assert tx.db.execute("PRAGMA cache_size").fetchone()[0] == -2000


def open_readers(database: Database) -> int:
    return len(database._readers)


def test_reads_at_once_never_wait_for_a_connection_and_only_a_few_stay_open(
    database: Database, at: datetime
) -> None:
    """Issue 16: a reader connection per thread held one for each of the daemon's 14
    reading threads. Reads take one for as long as they last: as many at once as there
    are readers, each its own snapshot, and afterwards IDLE_READERS stay open."""

    def reader(held: threading.Barrier) -> int:
        with database.read() as db:
            held.wait(timeout=10)  # every read open at once: none waits for another's
            return int(db.execute("SELECT count(*) FROM incident_events").fetchone()[0])

    many = threading.Barrier(THREADS)
    assert run_all([partial(reader, many)] * THREADS) == [0] * THREADS
    assert open_readers(database) == IDLE_READERS < THREADS
    few = threading.Barrier(2)
    assert run_all([partial(reader, few)] * 2) == [0, 0]  # fewer than are idle: none opened
    assert open_readers(database) == IDLE_READERS


def test_a_read_whose_body_raised_hands_on_its_connection_with_no_snapshot_left(
    database: Database, at: datetime
) -> None:
    class Boom(Exception):
        pass

    with database.read() as db:  # a snapshot before the event
        raised_on = db.conn
        try:
            with database.read() as inner:  # a read inside a read: the same snapshot
                assert inner is db
                raise Boom
        except Boom:
            pass
        assert db.conn.in_transaction  # the inner read's end did not end the outer's
    try:
        with database.read() as db:
            raise Boom
    except Boom:
        pass
    with database.write() as tx:
        append_event(tx, Scope.platform(), kind="after", actor="test", at=at)
    with database.read() as db:
        assert db.conn is raised_on  # handed on, not dropped
        assert db.execute("SELECT count(*) FROM incident_events").fetchone()[0] == 1
    assert open_readers(database) == 1
