"""How fast the audit log appends, against plain SQLite inserts timed in the same run.

calmopsd's append = BEGIN IMMEDIATE, read the last hash, SHA-256, INSERT, the head
file naming the pending event (write, fsync, rename, fsync dir), COMMIT
(synchronous=FULL), then the head file again at the new head.
The reference = the same INSERTs, one transaction each, on a connection with the
same pragmas, through Python's sqlite3 without the chain or the head file.

    .venv/bin/python bench/audit.py [N]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from calmopsd.record.audit import append_event
from calmopsd.record.database import Database, connect
from calmopsd.record.scope import Scope


def calmopsd_appends(path: Path, count: int) -> float:
    database = Database.open(path)
    at = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(count):
        with database.write() as tx:
            append_event(
                tx, Scope.platform(), kind="bench.event", actor="bench", at=at, data={"i": i}
            )
    took = time.perf_counter() - began
    database.close()
    return count / took


def plain_inserts(path: Path, count: int) -> float:
    conn: sqlite3.Connection = connect(path)
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, at TEXT, data TEXT)")
    at = datetime.now(UTC).isoformat()
    began = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events (at, data) VALUES (?, ?)", (at, f'{{"i":{i}}}'))
        conn.execute("COMMIT")
    took = time.perf_counter() - began
    conn.close()
    return count / took


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        ours = calmopsd_appends(Path(tmp) / "calmopsd.db", count)
        reference = plain_inserts(Path(tmp) / "plain.db", count)
    print(f"calmopsd audit appends: {ours:,.0f}/s")
    print(f"plain sqlite3 inserts (synchronous=FULL): {reference:,.0f}/s")
    print(f"audit_appends_per_s={ours:.0f} audit_vs_plain_sqlite={ours / reference:.2f}")


if __name__ == "__main__":
    main()
