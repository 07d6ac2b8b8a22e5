"""What the store's transaction tests share: a deadline, an error of their own, a COMMIT
that fails, and a writer connection whose statements fail on demand."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

from calmopsd.record.database import Tx

DEADLINE_S = 10


class Boom(Exception):
    pass


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


def break_at_commit(tx: Tx) -> None:
    """Make ``tx``'s COMMIT fail: a deferred foreign key, checked only then (the simplest
    real way to make a COMMIT fail)."""
    tx.db.execute("PRAGMA defer_foreign_keys = ON")
    tx.db.execute(
        "INSERT INTO incident_actions (incident_id, action, status, requested_by,"
        " requested_at) VALUES (999, 'pm2_restart', 'executed', 't', 'now')"
    )


class HeldThenFailing:
    """The writer connection, whose next ``sql`` statement waits for ``go`` and then
    fails with an I/O error: what a failing disk does at that statement, which a real
    one cannot be made to do on demand."""

    def __init__(self, conn: sqlite3.Connection, sql: str):
        self.conn = conn
        self.sql = sql
        self.reached = threading.Event()
        self.go = threading.Event()
        self.armed = True

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if self.armed and sql == self.sql:
            self.armed = False
            self.reached.set()
            self.go.wait(DEADLINE_S)
            raise sqlite3.OperationalError(f"disk I/O error (injected into {sql})")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)
