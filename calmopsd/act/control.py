"""The kill switch: the ``actions.paused`` flag in the state dir, and its audit events.

The flag's presence refuses every action (the executor reads it on each
request). It is a file so that it survives restarts and holds with no daemon
running. It is thrown one way: :func:`switch` sets or lifts the flag and
records ``actions.paused`` / ``actions.resumed`` with the caller as actor, at
once — in the running daemon when the CLI or a token asks its API, or in the
CLI itself on the store when no daemon runs. A flag made or removed by hand is
recorded on the daemon's next tick by :func:`follow`, which compares the flag
with the last switch event in the audit log (so nothing is kept in memory, and
a flag written before the store existed is recorded once).
"""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime
from pathlib import Path

from calmopsd.record.audit import record_event
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.record.statedir import PRIVATE_FILE, make_private_dir

PAUSE_FLAG = "actions.paused"
PAUSED, RESUMED = "actions.paused", "actions.resumed"
_ACTOR = re.compile(r"[^A-Za-z0-9_.@:-]")
# The flag and its event change together: a tick must not see a flag the API has just
# written but not yet recorded, and record it a second time.
_guard = threading.Lock()


def actor_name(text: str) -> str:
    """Who asked, as recorded: letters, digits and ``_.@:-`` only, at most 64."""
    cleaned = _ACTOR.sub("", text.strip())[:64]
    return cleaned or "cli"


def pause(state_dir: Path, by: str) -> bool:
    """Set the flag, naming ``by``; False if it was already set. Records nothing."""
    make_private_dir(state_dir)
    try:
        fd = os.open(
            state_dir / PAUSE_FLAG,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            PRIVATE_FILE,
        )
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as flag:
        flag.write(actor_name(by) + "\n")
    return True


def resume(state_dir: Path) -> bool:
    """Remove the flag; False if it was not set. Records nothing."""
    try:
        (state_dir / PAUSE_FLAG).unlink()
    except FileNotFoundError:
        return False
    return True


def paused_by(state_dir: Path) -> str | None:
    """Who paused actions (None: not paused)."""
    try:
        with (state_dir / PAUSE_FLAG).open(encoding="utf-8", errors="replace") as flag:
            return actor_name(flag.read(200))
    except FileNotFoundError:
        return None
    except OSError:
        return "cli"  # unreadable but present: still paused


def switch(database: Database, state_dir: Path, *, paused: bool, actor: str, at: datetime) -> bool:
    """Set (``paused``) or lift the kill switch and record it as ``actor``; False, and
    nothing recorded, if it already was that way.

    The flag changes first: a pause holds even if its event cannot be written (the
    next :func:`follow` records it then).
    """
    with _guard:
        changed = pause(state_dir, actor) if paused else resume(state_dir)
        if changed:
            _record(database, PAUSED if paused else RESUMED, actor, at)
        return changed


def follow(database: Database, state_dir: Path, at: datetime) -> tuple[str, str] | None:
    """Record the flag if the audit log's last switch event says otherwise (it was made
    or removed by hand); the (kind, actor) recorded, or None."""
    with _guard:
        by = paused_by(state_dir)
        if (by is not None) == (last_switch(database) == PAUSED):
            return None
        kind = PAUSED if by is not None else RESUMED
        actor = by or "cli"
        _record(database, kind, actor, at)
        return kind, actor


def last_switch(database: Database) -> str | None:
    """The kind of the newest switch event in the audit log (None: there is none)."""
    with database.read() as db:
        row = db.execute(
            "SELECT kind FROM incident_events WHERE kind IN (?, ?) ORDER BY seq DESC LIMIT 1",
            [PAUSED, RESUMED],
        ).fetchone()
    return str(row[0]) if row is not None else None


def _record(database: Database, kind: str, actor: str, at: datetime) -> None:
    record_event(database, Scope.platform(), kind=kind, actor=actor, at=at)
