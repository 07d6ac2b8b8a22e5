"""How fast the audit log appends, against plain SQLite inserts timed in the same run.

Every append is its own write transaction and durable when it returns. Two ways:

- ``record_event`` (one event in a transaction of its own: the executor, the action
  controls, the API): scope checked and the event encoded on the caller's thread, then
  queued; the first writer of the next commit group writes the queue just before its
  COMMIT (or the caller becomes that writer when none is coming), and the caller waits
  for that COMMIT alone (``calmopsd/record/queued.py``).
- ``write()`` + ``append_event`` (how a writer that changes rows too appends): BEGIN
  IMMEDIATE (or a savepoint in the group another writer began), read the last hash,
  SHA-256, INSERT, each writer in its turn on the connection.

Either way, once per commit group, the head file names the group's last event as
pending (one slot overwritten in place, fdatasync), then COMMIT (synchronous=FULL: the
WAL's fdatasync); the head file at the new head is written after, on a thread of its
own, unless the next group's write carries it.

Measured with one writer appending in a loop (every group has one append), and with
each ``THREADS`` count of writers appending at once (8 and 32 unless given).
The reference = the same INSERTs, one transaction each, on a connection with the same
pragmas, through Python's sqlite3 without the chain or the head file: one thread, and
``THREADS`` threads taking turns on it (SQLite commits each alone).

    .venv/bin/python bench/audit.py [N] [THREADS ...]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from calmopsd.record.audit import append_event, record_event
from calmopsd.record.database import Database, connect
from calmopsd.record.scope import Scope


def run_threads(threads: int, count: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` for ``count`` values of i split over ``threads``; appends per second."""
    start = threading.Barrier(threads + 1)

    def worker(first: int) -> None:
        start.wait()
        for i in range(first, count, threads):
            work(i)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    return count / (time.perf_counter() - began)


def calmopsd_appends(path: Path, count: int, threads: int = 1, *, alone: bool) -> tuple[float, int]:
    """Appends per second, and how many COMMITs they took.

    ``alone``: each a transaction of its own (``record_event``, how the executor, the
    API and the action controls record); else each in a ``write()`` of its own with
    nothing else in it (how a writer that changes rows too appends).
    """
    database = Database.open(path)
    at = datetime.now(UTC)
    scope = Scope.platform()

    def append(i: int) -> None:
        if alone:
            record_event(database, scope, kind="bench.event", actor="bench", at=at, data={"i": i})
            return
        with database.write() as tx:
            append_event(tx, scope, kind="bench.event", actor="bench", at=at, data={"i": i})

    rate = run_threads(threads, count, append)
    groups = database.commit_groups
    database.close()
    return rate, groups


def plain_inserts(path: Path, count: int, threads: int = 1) -> float:
    conn: sqlite3.Connection = connect(path)
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, at TEXT, data TEXT)")
    at = datetime.now(UTC).isoformat()
    turn = threading.Lock()

    def insert(i: int) -> None:
        with turn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO events (at, data) VALUES (?, ?)", (at, f'{{"i":{i}}}'))
            conn.execute("COMMIT")

    rate = run_threads(threads, count, insert)
    conn.close()
    return rate


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    writers = [int(arg) for arg in sys.argv[2:]] or [8, 32]
    figures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in [1, *writers]:
            label = "1 writer" if threads == 1 else f"{threads} writers"
            key = "" if threads == 1 else f"_{threads}_writers"
            reference = plain_inserts(Path(tmp) / f"plain-{threads}.db", count, threads)
            print(f"plain sqlite3 inserts (synchronous=FULL), {label}: {reference:,.0f}/s")
            for alone, how in ((True, "record_event"), (False, "write")):
                ours, groups = calmopsd_appends(
                    Path(tmp) / f"ours-{threads}-{how}" / "calmopsd.db", count, threads,
                    alone=alone,
                )  # fmt: skip
                print(
                    f"calmopsd audit appends by {how}, {label}: {ours:,.0f}/s"
                    f" ({count / groups:.1f} per COMMIT), {ours / reference:.2f}x plain"
                )
                figures.append(
                    f"audit_{how}{key}_per_s={ours:.0f} audit_{how}{key}_vs_plain_sqlite="
                    f"{ours / reference:.2f}"
                )
    print(" ".join(figures))


if __name__ == "__main__":
    main()
