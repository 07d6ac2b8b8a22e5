"""The append-only, tamper-evident event log (``incident_events``).

Each event carries a sequence number, the hash of the event before it and its
own SHA-256 over a canonical encoding of its content plus that previous hash.
Triggers refuse UPDATE and DELETE (accidents); the chain shows what someone
with the file did anyway (edits, deletions, reordering); the head anchor
(:mod:`calmopsd.record.head`) shows a cut-off tail.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calmopsd.errors import ScopeError, StoreError
from calmopsd.model import AuditEvent
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.connection import connect, os_reason
from calmopsd.record.handle import Handle
from calmopsd.record.head import AuditHead, head_path_for, read_head
from calmopsd.record.projection import CHECKED, mismatches
from calmopsd.record.queued import QueuedAppend
from calmopsd.record.scope import Scope

if TYPE_CHECKING:
    from calmopsd.record.database import Database, Tx

GENESIS = "0" * 64
_HASHED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # what event_hash encodes
_COLUMNS = "seq, at, incident_id, organization_id, kind, actor, data, prev_hash, hash"


def event_hash(
    prev_hash: str,
    seq: int,
    at: str,
    incident_id: int | None,
    organization_id: str | None,
    kind: str,
    actor: str,
    data: str,
) -> str:
    """SHA-256 over the previous hash and the event's stored content, in a fixed order."""
    content = [seq, at, incident_id, organization_id, kind, actor, data]
    encoded = _HASHED.encode(content)
    return hashlib.sha256(f"{prev_hash}\n{encoded}".encode()).hexdigest()


def append_event(
    tx: Tx,
    scope: Scope,
    *,
    kind: str,
    actor: str,
    at: datetime,
    data: dict[str, Any] | None = None,
    incident_id: int | None = None,
    organization_id: str | None = None,
) -> AuditEvent:
    """Append one event inside ``tx``; the head file moves with its commit group's COMMIT.

    An event about an incident belongs to that incident's organization. Other
    events belong to ``organization_id`` (an organization scope may only name
    its own; None means platform-wide).

    The log's time never runs backwards: an event whose ``at`` is before the last
    event's is recorded at the last event's time. Writers stamp events with the time
    they know (a reading's, the executor's clock), and an input taken up after a
    later one would otherwise put the timeline out of order.
    """
    if incident_id is not None:
        organization_id = incident_organization(tx.db, scope, incident_id)
    elif not scope.is_super_admin:
        organization_id = organization_id or scope.organization_id
    scope.check_writes(organization_id)
    # sqlite3 itself: sqlite-utils' wrapper costs an append more than the SQL
    conn, data = tx.db.conn, data or {}
    event = _chain(
        conn, _last(conn), kind, actor, at, encode_time(at), data, encode_json(data),
        incident_id, organization_id,
    )  # fmt: skip
    tx.appended_after(event.prev_hash, AuditHead(event.seq, event.hash))
    return event


def _last(conn: sqlite3.Connection) -> tuple[int, str, str]:
    """The last event's seq, hash and stored time; (0, GENESIS, "") for an empty log."""
    row = conn.execute(
        "SELECT seq, hash, at FROM incident_events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1], row[2]) if row else (0, GENESIS, "")


def _chain(
    conn: sqlite3.Connection,
    last: tuple[int, str, str],
    kind: str,
    actor: str,
    at: datetime,
    at_text: str,
    data: dict[str, Any],
    data_text: str,
    incident_id: int | None,
    organization_id: str | None,
) -> AuditEvent:
    """Chain one event onto ``last`` and INSERT it, inside the open transaction. Its time
    never runs before the last event's (both UTC, microseconds: text orders as time)."""
    seq, prev_hash = last[0] + 1, last[1]
    if at_text < last[2]:
        at_text = last[2]
        at = decode_time(at_text)
    digest = event_hash(
        prev_hash, seq, at_text, incident_id, organization_id, kind, actor, data_text
    )
    conn.execute(
        _INSERT,
        [seq, at_text, incident_id, organization_id, kind, actor, data_text, prev_hash, digest],
    )
    return AuditEvent(seq, at, incident_id, organization_id, kind, actor, data, prev_hash, digest)


def append_queued(
    conn: sqlite3.Connection, items: Sequence[QueuedAppend]
) -> tuple[str, AuditHead] | None:
    """Append queued lone events in the open transaction of the group about to commit;
    return (the hash the first links to, the last event) for the head, or None.

    Each item gets its event, or the error of its own INSERT (a CHECK it fails); an
    error that ended the transaction is raised: the whole group fails.
    """
    if not items:
        return None
    last = _last(conn)
    first_prev = last[1]
    for item in items:
        try:
            event = _chain(
                conn, last, item.kind, item.actor, item.at, item.at_text, item.data,
                item.data_text, item.incident_id, item.organization_id,
            )  # fmt: skip
        except sqlite3.Error as exc:
            if not conn.in_transaction:
                raise
            item.error = StoreError(f"audit event {item.kind!r} not appended ({exc})")
            continue
        item.event = event
        last = (event.seq, event.hash, max(item.at_text, last[2]))
    if last[1] == first_prev:  # every INSERT failed
        return None
    return first_prev, AuditHead(last[0], last[1])


_INSERT = f"INSERT INTO incident_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def incident_organization(db: Handle, scope: Scope, incident_id: int) -> str | None:
    """The organization of an incident this scope can see; ScopeError if it cannot."""
    where, params = scope.filter()
    row = db.execute(
        f"SELECT organization_id FROM incidents WHERE id = ? AND {where}", [incident_id, *params]
    ).fetchone()
    if row is None:
        raise ScopeError(f"no incident {incident_id} in this scope")
    return row[0]  # type: ignore[no-any-return]  # sqlite3 rows are untyped


def list_events(
    database: Database, scope: Scope, *, incident_id: int | None = None
) -> list[AuditEvent]:
    """Events this scope may see, oldest first (optionally one incident's timeline)."""
    where, scope_params = scope.filter()
    params: list[Any] = list(scope_params)
    if incident_id is not None:
        where += " AND incident_id = ?"
        params = [*params, incident_id]
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incident_events WHERE {where} ORDER BY seq", params
        ).fetchall()
    return [_to_event(row) for row in rows]


def events_of_incidents(
    database: Database, scope: Scope, ids: Sequence[int], kinds: Collection[str]
) -> dict[int, list[AuditEvent]]:
    """The events of ``kinds`` of each incident in ``ids`` this scope may see, oldest first:
    a few queries for hundreds of incidents, not one each (the weekly summary reads weeks)."""
    where, scope_params = scope.filter()
    found: dict[int, list[AuditEvent]] = {i: [] for i in ids}
    kind_marks = ", ".join("?" for _ in kinds)
    with database.read() as db:
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = list(ids[start : start + _IDS_PER_QUERY])
            marks = ", ".join("?" for _ in chunk)
            rows = db.execute(
                f"""SELECT {_COLUMNS} FROM incident_events
                    WHERE incident_id IN ({marks}) AND kind IN ({kind_marks}) AND {where}
                    ORDER BY seq""",
                [*chunk, *kinds, *scope_params],
            ).fetchall()
            for row in rows:
                event = _to_event(row)
                if event.incident_id is not None:
                    found[event.incident_id].append(event)
    return found


_IDS_PER_QUERY = 500  # well under SQLite's 32,766 host parameters


def _to_event(row: tuple[Any, ...]) -> AuditEvent:
    seq, at, incident_id, organization_id, kind, actor, data, prev_hash, digest = row
    return AuditEvent(
        seq,
        decode_time(at),
        incident_id,
        organization_id,
        kind,
        actor,
        decode_json(data),
        prev_hash,
        digest,
    )


@dataclass(frozen=True)
class Verdict:
    """The outcome of walking the chain: how many events held, and the first that did not."""

    verified: int
    first_bad_seq: int | None = None
    reason: str = ""
    # The chain goes on past its anchored head further than one interrupted commit can
    # leave it (a daemon appending while the head was read can look so for a moment).
    beyond_head: bool = False

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify_chain(
    rows: list[tuple[Any, ...]], head: AuditHead | None, *, head_known: bool = True
) -> Verdict:
    """Check ``rows`` (all events, ordered by seq) link up and match the anchored ``head``.

    ``head_known`` False means no anchor was given at all (the tail cannot be
    checked); a missing head file with events present is a failure.
    """
    prev, expected = GENESIS, 1
    hashes: dict[int, str] = {}
    for row in rows:
        seq, at, incident_id, organization_id, kind, actor, data, prev_hash, digest = row
        if seq != expected:
            return Verdict(expected - 1, expected, f"event {expected} is missing")
        if prev_hash != prev:
            return Verdict(expected - 1, seq, "does not link to the event before it")
        recomputed = event_hash(prev_hash, seq, at, incident_id, organization_id, kind, actor, data)
        if recomputed != digest:
            return Verdict(expected - 1, seq, "content does not match its hash")
        hashes[seq] = digest
        prev, expected = digest, expected + 1
    count = expected - 1
    if head is None:
        if head_known and count:
            return Verdict(0, 1, "the audit head file is missing; the tail cannot be proven")
        return Verdict(count)
    if head.seq > count:
        return Verdict(count, count + 1, f"log ends at {count} but the head anchors {head.seq}")
    if head.seq < 0:
        return Verdict(0, head.seq, "the head anchors a seq below 0")
    # seq 0 anchors the empty chain, whose only hash is GENESIS.
    anchored = GENESIS if head.seq == 0 else hashes[head.seq]
    if anchored != head.hash:
        return Verdict(max(head.seq - 1, 0), head.seq, "differs from the anchored head")
    if head.torn and head.pending is not None and count < head.pending.seq:
        return Verdict(
            count, count + 1,
            f"the log ends at {count}, before {head.pending.seq}, which the head file's "
            "intact slot says was committing, and its other slot is damaged: a write torn "
            "there came after that commit, so events past the log's end were removed",
        )  # fmt: skip
    if head.seq < count and not head.unbounded and not _pending_commit(head, count, hashes):
        return Verdict(
            head.seq, head.seq + 1,
            f"the log goes on past the anchored head {head.seq} to {count}: further than "
            "an interrupted commit can leave it, so events after the head are unproven",
            beyond_head=True,
        )  # fmt: skip
    return Verdict(count)


def _pending_commit(head: AuditHead, count: int, hashes: dict[int, str]) -> bool:
    """Whether the events past the head are the one transaction the head file said was
    about to commit: the chain ends exactly at its last event, with that hash."""
    pending = head.pending
    return pending is not None and pending.seq == count and hashes.get(count) == pending.hash


def read_chain(db: Handle) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = db.execute(
        f"SELECT {_COLUMNS} FROM incident_events ORDER BY seq"
    ).fetchall()
    return rows


def verify_file(database_path: Path, *, expected_head: AuditHead | None = None) -> Verdict:
    """Verify the chain in ``database_path`` against its head file (and a head seen in the logs).

    The head file is read before the rows: appends only move it after their
    commit, so a daemon appending meanwhile cannot make the log look cut. It can
    make it look run past the head (a commit between the two reads): that verdict
    is read again, a few times, before it stands. A file that cannot be read as a
    database is a :class:`StoreError` naming it. ``expected_head`` (an ``audit.head``
    line from the logs) is an older anchor: the chain may go on past it.
    """
    try:
        found = database_path.is_file()
    except OSError as exc:
        raise StoreError(f"{database_path}: cannot read the audit log ({os_reason(exc)})") from exc
    if not found:
        raise StoreError(f"{database_path}: no database here")
    for _ in range(_READS):
        head = read_head(head_path_for(database_path))
        rows, incidents = _rows_of(database_path)
        verdict = verify_chain(rows, head)
        if not verdict.beyond_head:
            break
    if verdict.ok and expected_head is not None:
        verdict = verify_chain(rows, replace(expected_head, unbounded=True))
    if not verdict.ok:
        return verdict
    disagree = mismatches(rows, incidents)
    if disagree:
        return Verdict(verdict.verified, disagree[0].seq, disagree[0].reason)
    return verdict


_READS = 3  # a daemon appending between reading the head and the rows, again and again


def _rows_of(database_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    try:
        return _read_rows(database_path)
    except sqlite3.Error as exc:
        raise StoreError(f"{database_path}: cannot read the audit log ({exc})") from exc
    except OSError as exc:
        raise StoreError(f"{database_path}: cannot read the audit log ({os_reason(exc)})") from exc


def _read_rows(database_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The chain and the incidents' checked columns, from one snapshot: a daemon writing
    meanwhile cannot make them disagree."""
    conn = connect(database_path, query_only=True)
    try:
        conn.execute("BEGIN")
        rows: list[tuple[Any, ...]] = conn.execute(
            f"SELECT {_COLUMNS} FROM incident_events ORDER BY seq"
        ).fetchall()
        incidents: list[tuple[Any, ...]] = conn.execute(
            f"SELECT id, {', '.join(CHECKED)} FROM incidents ORDER BY id"
        ).fetchall()
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    return rows, incidents


def record_event(
    database: Database,
    scope: Scope,
    *,
    kind: str,
    actor: str,
    at: datetime,
    data: dict[str, Any] | None = None,
    incident_id: int | None = None,
) -> AuditEvent:
    """Append one event in a transaction of its own; back once it is durable.

    Outside a unit of work the event is queued for the next commit group
    (:mod:`calmopsd.record.queued`); the scope is checked here first, on this thread.
    """
    if database.in_unit:
        with database.write() as tx:
            return append_event(
                tx, scope, kind=kind, actor=actor, at=at, data=data, incident_id=incident_id
            )
    if incident_id is not None:
        with database.read() as db:  # an incident's organization never changes
            organization_id = incident_organization(db, scope, incident_id)
    else:
        organization_id = None if scope.is_super_admin else scope.organization_id
    scope.check_writes(organization_id)
    data = data or {}
    item = QueuedAppend(
        kind, actor, at, data, encode_time(at), encode_json(data), incident_id, organization_id
    )
    return database.append_alone(item)


def events_after(database: Database, scope: Scope, seq: int, *, limit: int) -> list[AuditEvent]:
    """Up to ``limit`` events after ``seq`` that this scope may see, oldest first.

    How consumers follow the log (:mod:`calmopsd.record.cursors`): seq is the
    primary key, so each batch is an index range read however long the log grows.
    """
    where, params = scope.filter()
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incident_events"
            f" WHERE seq > ? AND {where} ORDER BY seq LIMIT ?",
            [seq, *params, limit],
        ).fetchall()
    return [_to_event(row) for row in rows]


def events_of_kinds(
    database: Database, scope: Scope, kinds: tuple[str, ...], *, since: datetime
) -> list[AuditEvent]:
    """Events of ``kinds`` at or after ``since`` that this scope may see, oldest first
    (one range of the ``(kind, at)`` index per kind)."""
    where, params = scope.filter()
    marks = ",".join("?" * len(kinds))
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM incident_events WHERE kind IN ({marks}) AND at >= ? "
            f"AND {where} ORDER BY seq",
            [*kinds, encode_time(since), *params],
        ).fetchall()
    return [_to_event(row) for row in rows]
