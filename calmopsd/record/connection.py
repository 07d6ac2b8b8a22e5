"""How calmopsd opens an SQLite connection, and how an OS error reads in a store message.

Below everything else in ``record``: the store (:mod:`.database`) and the
audit log's file check (:func:`calmopsd.record.audit.verify_file`) both open
connections this way, and neither may import the other at run time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000
# A query-only connection's page cache, in KiB (SQLite's default is 2,000 KiB). The store
# opens a reader for each read going on at once (up to the API's eight, the scheduler's
# pool, the agent and the consumers: about fourteen in a daemon; three kept idle), and
# each one's cache fills as the store grows, so at the default they could come to ~28 MiB
# of RSS (issue 16). Pages not cached are read from the kernel's page cache; the writer
# keeps the default.
READER_CACHE_KIB = 512


def connect(path: Path, *, query_only: bool = False) -> sqlite3.Connection:
    """Open a connection with calmopsd's settings; autocommit, so transactions are explicit."""
    conn = sqlite3.connect(
        path, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if query_only:
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    return conn


def os_reason(exc: OSError) -> str:
    """``Not a directory: /srv/x`` rather than ``[Errno 20] Not a directory: '/srv/x'``."""
    if exc.strerror is None:
        return str(exc)
    return f"{exc.strerror}: {exc.filename}" if exc.filename is not None else exc.strerror
