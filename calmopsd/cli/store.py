"""The store as the CLI uses it: read beside a running daemon, written only when none runs.

Reads need no lock: the file is opened with query-only connections (WAL lets
them run beside the daemon's writer), so ``status``, ``incidents`` and
``show`` work whether or not the daemon runs, and can never write. Changes
need the store's flock, which the running daemon holds; :func:`writable`
answers None when it does, and the command then asks the daemon's API
instead (:mod:`calmopsd.cli.client`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from calmopsd.act import control
from calmopsd.cli.options import actor_name, fail, print_json
from calmopsd.clock import SystemClock
from calmopsd.daemon.published import ADDRESS_FILE
from calmopsd.errors import OperationError, StoreError, StoreInUse, Unavailable
from calmopsd.model import ActionOutcome, Labels, OutcomeStatus, Recommendation, RefusalReason
from calmopsd.record.database import Database, connect, database_path
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope
from calmopsd.respond.approvals import Decision, approve
from calmopsd.serve.answers import Approve, Hooks, Switch
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Caller

CLI_TOKEN_NAME = "cli"  # noqa: S105  # a name, not a secret
OFFLINE_SAFE_ACTION = "needs the running daemon: the approval re-checks the live readings"


def cli_caller() -> Caller:
    """The person at the terminal: a super-admin operator, audited as ``cli:USER``."""
    return Caller(CLI_TOKEN_NAME, Scope.platform(), "operator", True, f"cli:{actor_name()}")


def existing(state_dir: Path, command: str) -> Path:
    path = database_path(state_dir)
    if not path.exists():
        fail(command, f"no database at {path}")
    return path


@contextmanager
def reading(state_dir: Path, command: str, *, as_json: bool = False) -> Iterator[Operations]:
    """:class:`Operations` over query-only connections: safe beside a running daemon.
    ``as_json``: an ``OperationError`` (no such incident, ...) is also printed as JSON,
    ``{"error": code, "detail": ...}``, as the commands that decide print theirs."""
    path = existing(state_dir, command)
    try:
        database = Database(path, connect(path, query_only=True))
    except sqlite3.Error as exc:
        fail(command, f"{path}: cannot read the database ({exc})")
    try:
        yield Operations(database, SystemClock(), trace_reads=False)
    except sqlite3.Error as exc:
        fail(command, f"{path}: cannot read the database ({exc})")
    except OperationError as exc:  # no such message, review, ...: one line, not a traceback
        if as_json:
            print_json({"error": exc.code, "detail": exc.detail})
        fail(command, exc.detail)
    finally:
        database.close()


HELD_BY_A_COMMAND_S = 15.0  # longer than a command holds the store; a daemon is asked then


@contextmanager
def writable(state_dir: Path, command: str) -> Iterator[Operations | None]:
    """:class:`Operations` on the store opened for writing, or None while a daemon holds it."""
    path = existing(state_dir, command)
    try:
        database = _open_for_writing(path, state_dir)
    except StoreInUse:  # the running daemon: ask its API
        yield None
        return
    except StoreError as exc:
        fail(command, str(exc))
    clock = SystemClock()
    hooks = Hooks(
        approve=_manual_steps_only(database, clock),
        pause=_switch(database, state_dir, clock, paused=True),
        resume=_switch(database, state_dir, clock, paused=False),
    )
    try:
        yield Operations(database, clock, hooks)
    finally:
        database.close()


def _open_for_writing(path: Path, state_dir: Path) -> Database:
    """The store, opened for writing; StoreInUse when the daemon holds it.

    Another command holds it for a moment too (six `calmopsd actions pause` at once with
    no daemon running: found by a tester, some were told a daemon ran). Such a holder
    publishes no API address, so while none is published the lock is tried again, for
    up to :data:`HELD_BY_A_COMMAND_S`, before it is taken to be a daemon's.
    """
    deadline = time.monotonic() + HELD_BY_A_COMMAND_S
    while True:
        try:
            return Database.open(path)
        except StoreInUse:
            if (state_dir / ADDRESS_FILE).exists() or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def approve_offline(
    ops: Operations, caller: Caller, incident_id: int, recommendation_id: int
) -> Decision:
    """Approve without the daemon: a manual step is recorded; a safe action is refused
    before anything is written (not even the bypass trace of an organization's incident)."""
    detail = ops.incident(caller, incident_id)
    found = [r for r in detail.recommendations if r.id == recommendation_id]
    if found and found[0].kind == "safe_action":
        raise Unavailable(OFFLINE_SAFE_ACTION, "needs_daemon")
    return ops.approve(caller, incident_id, recommendation_id)


def _manual_steps_only(database: Database, clock: SystemClock) -> Approve:
    """The approve hook when no daemon runs.

    Without the daemon there is no detector whose series could be re-checked. A manual
    step's approval only records that a person takes it on, so its "still firing"
    precondition is taken as holding; the incident must still be unresolved and the
    recommendation unexpired and undecided, as always.
    """

    def approve_manual(scope: Scope, recommendation_id: int, actor: str) -> Decision:
        rec = get_recommendation(database, scope, recommendation_id)
        if rec is not None and rec.kind == "safe_action":
            raise Unavailable(OFFLINE_SAFE_ACTION, "needs_daemon")
        return approve(
            database, scope, recommendation_id, actor=actor, at=clock.now(),
            state_of=_taken_as_firing, run=_never_run,
        )  # fmt: skip

    return approve_manual


def _switch(database: Database, state_dir: Path, clock: SystemClock, *, paused: bool) -> Switch:
    """The kill switch when no daemon runs: the flag and its audit event, as the daemon
    would write them."""

    def switch(actor: str) -> bool:
        return control.switch(database, state_dir, paused=paused, actor=actor, at=clock.now())

    return switch


def _taken_as_firing(rule: str, labels: Labels) -> str:
    return "firing"


def _never_run(rec: Recommendation, actor: str, at: datetime) -> ActionOutcome:
    # Unreachable: safe actions are refused above, and approve() runs nothing else.
    return ActionOutcome(
        OutcomeStatus.REFUSED, OFFLINE_SAFE_ACTION, reason=RefusalReason.NEEDS_DAEMON
    )
