"""The hash chain shows what someone with the file did, even with the guard triggers gone.

Every tampering test drops the append-only triggers by hand first, as an
attacker with write access to the file would, and then checks that
``verify_file`` names the first event that can no longer be trusted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calmopsd.errors import StoreError
from calmopsd.model import IncidentType, Severity
from calmopsd.record.audit import (
    GENESIS,
    Verdict,
    append_event,
    event_hash,
    list_events,
    verify_file,
)
from calmopsd.record.database import Database, database_path
from calmopsd.record.head import head_path_for
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONTENT = ("at", "incident_id", "organization_id", "kind", "actor", "data")
COLUMNS = (*CONTENT, "prev_hash", "hash")
FORGED_HASH = hashlib.sha256(b"forged").hexdigest()

# Who appends each event after the first: (scope's organization, event's incident?)
WRITERS = [("acme", False), ("acme", True), ("globex", False), (None, False), (None, True)]


# ---- building a chain through the real API --------------------------------------------


def build_chain(path: Path, writers: list[tuple[str | None, bool]]) -> None:
    """Event 1 opens acme's incident; then one event per writer, in order."""
    database = Database.open(path)
    try:
        incident = open_incident(
            database,
            Scope.platform(),
            organization_id="acme",
            fingerprint="memory:api",
            type=IncidentType.MEMORY,
            severity=Severity.WARNING,
            title="api memory high",
            at=AT,
            actor="agent",
        )
        for n, (org, about_incident) in enumerate(writers, start=2):
            scope = Scope.organization(org) if org else Scope.platform()
            with database.write() as tx:
                append_event(
                    tx,
                    scope,
                    kind=f"step.{n}",
                    actor=f"{org or 'platform'}-bot",
                    at=AT + timedelta(seconds=n),
                    data={"n": n, "note": "ünïcode ✓"},
                    incident_id=incident.id if about_incident else None,
                )
    finally:
        database.close()


def tamper(path: Path) -> sqlite3.Connection:
    """A raw connection on the file with the append-only triggers dropped."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER incident_events_no_update")
    conn.execute("DROP TRIGGER incident_events_no_delete")
    return conn


def event_row(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    cursor = conn.execute(
        "SELECT seq, at, incident_id, organization_id, kind, actor, data, prev_hash, hash"
        " FROM incident_events WHERE seq = ?",
        (seq,),
    )
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def forged(column: str, value: Any) -> Any:
    """A plausible, different value for ``column``."""
    if column == "at":
        return (datetime.fromisoformat(value) + timedelta(seconds=1)).isoformat(
            timespec="microseconds"
        )
    if column == "incident_id":
        return 1 if value is None else value + 1
    if column == "organization_id":
        return {"acme": "globex", "globex": None, None: "acme"}[value]
    if column == "data":
        return json.dumps({**json.loads(value), "tampered": True}, separators=(",", ":"))
    if column in ("prev_hash", "hash"):
        return GENESIS if value == FORGED_HASH else FORGED_HASH
    return value + "!"


# ---- the mutations, each with the first seq verify must name -------------------------


@dataclass(frozen=True)
class Edit:
    seq: int
    column: str

    def apply(self, conn: sqlite3.Connection, count: int) -> int:
        value = forged(self.column, event_row(conn, self.seq)[self.column])
        conn.execute(
            f"UPDATE incident_events SET {self.column} = ? WHERE seq = ?", (value, self.seq)
        )
        return self.seq


@dataclass(frozen=True)
class EditAndRehash:
    """Edit content and recompute that row's own hash, as an attacker who read the code."""

    seq: int
    column: str

    def apply(self, conn: sqlite3.Connection, count: int) -> int:
        row = event_row(conn, self.seq)
        row[self.column] = forged(self.column, row[self.column])
        digest = event_hash(row["prev_hash"], *(row[c] for c in ("seq", *CONTENT)))
        conn.execute(
            f"UPDATE incident_events SET {self.column} = ?, hash = ? WHERE seq = ?",
            (row[self.column], digest, self.seq),
        )
        # The next event no longer links to it; the last one no longer matches the head.
        return self.seq + 1 if self.seq < count else count


@dataclass(frozen=True)
class Delete:
    seq: int

    def apply(self, conn: sqlite3.Connection, count: int) -> int:
        conn.execute("DELETE FROM incident_events WHERE seq = ?", (self.seq,))
        return self.seq


@dataclass(frozen=True)
class Swap:
    low: int
    high: int

    def apply(self, conn: sqlite3.Connection, count: int) -> int:
        conn.execute("UPDATE incident_events SET seq = -1 WHERE seq = ?", (self.low,))
        conn.execute("UPDATE incident_events SET seq = ? WHERE seq = ?", (self.low, self.high))
        conn.execute("UPDATE incident_events SET seq = ? WHERE seq = -1", (self.high,))
        return self.low


@dataclass(frozen=True)
class Truncate:
    rows: int

    def apply(self, conn: sqlite3.Connection, count: int) -> int:
        conn.execute("DELETE FROM incident_events WHERE seq > ?", (count - self.rows,))
        return count - self.rows + 1


Mutation = Edit | EditAndRehash | Delete | Swap | Truncate


@st.composite
def chains_with_one_mutation(draw: st.DrawFn) -> tuple[list[tuple[str | None, bool]], Mutation]:
    writers = draw(st.lists(st.sampled_from(WRITERS), min_size=1, max_size=11))
    count = len(writers) + 1
    seqs = st.integers(1, count)
    swaps = st.integers(1, count - 1).flatmap(
        lambda low: st.builds(Swap, st.just(low), st.integers(low + 1, count))
    )
    mutation: Mutation = draw(
        st.one_of(
            st.builds(Edit, seqs, st.sampled_from(COLUMNS)),
            st.builds(EditAndRehash, seqs, st.sampled_from(CONTENT)),
            st.builds(Delete, seqs),
            swaps,
            st.builds(Truncate, st.integers(1, count)),
        )
    )
    return writers, mutation


@settings(max_examples=60, deadline=None)
@given(chains_with_one_mutation())
def test_any_single_tampering_is_named_by_its_first_bad_seq(
    case: tuple[list[tuple[str | None, bool]], Mutation],
) -> None:
    writers, mutation = case
    count = len(writers) + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = database_path(Path(tmp))
        build_chain(path, writers)
        assert verify_file(path) == Verdict(count)

        conn = tamper(path)
        try:
            expected_bad = mutation.apply(conn, count)
        finally:
            conn.close()

        verdict = verify_file(path)
    assert verdict.ok is False
    assert verdict.first_bad_seq == expected_bad


# ---- readable examples of the same property -------------------------------------------


@pytest.fixture
def chain_of_five(db_path: Path) -> Path:
    build_chain(db_path, [("acme", True), ("globex", False), (None, False), (None, True)])
    return db_path


def mutate(path: Path, mutation: Mutation) -> Verdict:
    conn = tamper(path)
    try:
        mutation.apply(conn, 5)
    finally:
        conn.close()
    return verify_file(path)


def test_an_intact_chain_verifies_with_its_count(chain_of_five: Path) -> None:
    assert verify_file(chain_of_five) == Verdict(verified=5)


@pytest.mark.parametrize("column", COLUMNS)
def test_an_edit_of_any_column_is_named_by_its_seq(chain_of_five: Path, column: str) -> None:
    reason = (
        "does not link to the event before it"
        if column == "prev_hash"
        else "content does not match its hash"
    )

    assert mutate(chain_of_five, Edit(3, column)) == Verdict(2, 3, reason)


@pytest.mark.parametrize("column", CONTENT)
def test_a_rehashed_edit_of_any_content_column_is_caught_by_the_next_event(
    chain_of_five: Path, column: str
) -> None:
    assert mutate(chain_of_five, EditAndRehash(3, column)) == Verdict(
        3, 4, "does not link to the event before it"
    )


def test_a_deleted_middle_event_is_named_by_its_seq(chain_of_five: Path) -> None:
    assert mutate(chain_of_five, Delete(3)) == Verdict(2, 3, "event 3 is missing")


def test_a_swapped_pair_is_named_by_the_lower_position(chain_of_five: Path) -> None:
    assert mutate(chain_of_five, Swap(2, 4)) == Verdict(
        1, 2, "does not link to the event before it"
    )


def test_a_truncated_tail_is_named_by_the_first_missing_seq(chain_of_five: Path) -> None:
    assert mutate(chain_of_five, Truncate(2)) == Verdict(
        3, 4, "log ends at 3 but the head anchors 5"
    )


def test_a_rehashed_edit_of_the_last_event_is_caught_by_the_head(chain_of_five: Path) -> None:
    assert mutate(chain_of_five, EditAndRehash(5, "organization_id")) == Verdict(
        4, 5, "differs from the anchored head"
    )


def test_a_missing_head_file_with_events_present_fails(chain_of_five: Path) -> None:
    head_path_for(chain_of_five).unlink()

    assert verify_file(chain_of_five) == Verdict(
        0, 1, "the audit head file is missing; the tail cannot be proven"
    )


def test_an_empty_log_without_a_head_file_verifies(database: Database) -> None:
    head_path_for(database.path).unlink()

    assert verify_file(database.path) == Verdict(verified=0)


def test_verifying_a_path_without_a_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database here"):
        verify_file(tmp_path / "absent.db")


def test_a_chain_appended_across_open_close_cycles_verifies(db_path: Path) -> None:
    for cycle in range(4):
        database = Database.open(db_path)
        try:
            for step in range(3):
                with database.write() as tx:
                    append_event(
                        tx,
                        Scope.organization("acme") if step % 2 else Scope.platform(),
                        kind="cycle",
                        actor="test",
                        at=AT,
                        data={"cycle": cycle, "step": step},
                    )
        finally:
            database.close()

    assert verify_file(db_path) == Verdict(verified=12)


def test_events_read_back_as_written(database: Database) -> None:
    with database.write() as tx:
        written = append_event(
            tx, Scope.organization("acme"), kind="note", actor="ops", at=AT, data={"b": 1, "a": 2}
        )

    assert list_events(database, Scope.platform()) == [written]
    assert (written.seq, written.organization_id, written.prev_hash) == (1, "acme", GENESIS)
    assert written.hash == event_hash(
        GENESIS, 1, "2024-05-01T12:00:00.000000+00:00", None, "acme", "note", "ops", '{"a":2,"b":1}'
    )
