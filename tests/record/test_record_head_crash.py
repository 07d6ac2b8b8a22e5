"""A calmopsd killed at any moment of its appends never leaves a log that verify-audit
calls broken, and tampering is still caught with the head file written in place and
shared by commit groups (issue 16).

The crash tests run a real child process that appends in a loop (one writer, or
several threads sharing commit groups) and SIGKILL it at moments picked at random
after it has reported a random number of returned appends.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from calmopsd.errors import AuditError
from calmopsd.record.audit import Verdict, append_event, event_hash, verify_file
from calmopsd.record.database import Database
from calmopsd.record.head import AuditHead, head_path_for, read_head
from calmopsd.record.scope import Scope

DEADLINE_S = 30
KILLS = 4  # per shape of writer: bounded, each run is a fresh child process

CHILD = """
import sys, threading
from datetime import UTC, datetime
from pathlib import Path
from calmopsd.record.audit import append_event, record_event
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

database = Database.open(Path(sys.argv[1]))
lock = threading.Lock()
alone = sys.argv[3] == "alone"  # a transaction of its own: queued for the next group

def append_for_ever(n):
    while True:
        fields = dict(kind="crash.test", actor=f"w{n}", at=datetime.now(UTC), data={"n": n})
        if alone:
            event = record_event(database, Scope.platform(), **fields)
        else:
            with database.write() as tx:
                event = append_event(tx, Scope.platform(), **fields)
        with lock:  # reported only once write() has returned: durable and anchored
            sys.stdout.write(f"{event.seq}\\n")
            sys.stdout.flush()

threads = [threading.Thread(target=append_for_ever, args=(n,)) for n in range(int(sys.argv[2]))]
sys.stdout.write("ready\\n")
sys.stdout.flush()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def kill_while_appending(db_path: Path, writers: int, after: int, how: str) -> int:
    """Start the child, SIGKILL it once it has reported ``after`` appends; the highest
    seq it reported as returned."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), str(writers), how],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert child.stdout is not None
    returned, deadline = 0, time.monotonic() + DEADLINE_S
    try:
        assert child.stdout.readline() == "ready\n"
        reported = 0
        while reported < after:
            line = child.stdout.readline()
            assert line, "the child stopped appending"
            assert time.monotonic() < deadline, "the child appends too slowly"
            returned, reported = max(returned, int(line)), reported + 1
        child.send_signal(signal.SIGKILL)
        for line in child.stdout:  # reported before the kill landed
            returned = max(returned, int(line))
    finally:
        child.kill()
        child.wait(DEADLINE_S)
    assert child.returncode == -signal.SIGKILL
    return returned


@pytest.mark.parametrize(("writers", "how"), [(1, "write"), (4, "write"), (4, "alone")])
def test_a_writer_killed_at_random_moments_never_leaves_a_false_alarm(
    tmp_path: Path, writers: int, how: str
) -> None:
    seed = random.randrange(1 << 30)
    pick = random.Random(seed)
    db_path = tmp_path / "state" / "calmopsd.db"
    for kill in range(KILLS):
        returned = kill_while_appending(db_path, writers, pick.randint(1, 40), how)
        verdict = verify_file(db_path)
        context = f"seed {seed}, kill {kill}: {verdict} under {read_head(head_path_for(db_path))}"
        assert verdict.ok, context
        assert verdict.verified >= returned, context  # every returned append is there
        reopened = Database.open(db_path)  # catches a lagging head up, or freezes
        try:
            assert reopened.anchor.frozen_reason is None, context
            assert reopened.anchor.head == read_head(head_path_for(db_path)), context
        finally:
            reopened.close()
    assert verify_file(db_path).ok


# ---- torn head writes -------------------------------------------------------------


def append(database: Database, at: datetime) -> AuditHead:
    with database.write() as tx:
        event = append_event(tx, Scope.platform(), kind="note", actor="test", at=at)
    return AuditHead(event.seq, event.hash)


def tear(path: Path, slot: int) -> None:
    """What a power cut in the middle of overwriting one slot can leave: part old, part
    new, part garbage."""
    raw = bytearray(path.read_bytes())
    start = slot * 4096
    raw[start + 20 : start + 600] = os.urandom(580)
    path.write_bytes(bytes(raw))


def newest_slot(path: Path) -> int:
    gens = [json.loads(path.read_bytes()[s * 4096 : (s + 1) * 4096])["gen"] for s in (0, 1)]
    return gens.index(max(gens))


def test_a_torn_newest_slot_leaves_the_state_written_before_it(
    database: Database, at: datetime
) -> None:
    first = append(database, at)
    second = append(database, at)
    assert database.settle_head(DEADLINE_S)
    head_file = head_path_for(database.path)
    assert read_head(head_file) == second
    tear(head_file, newest_slot(head_file))
    # The slot before it: written ahead of the COMMIT, naming the second event pending.
    assert read_head(head_file) == AuditHead(first.seq, first.hash, pending=second, torn=True)
    assert verify_file(database.path) == Verdict(2)


def test_a_damaged_slot_does_not_excuse_a_log_cut_back_to_the_other_slots_head(
    database: Database, at: datetime
) -> None:
    """Found by a tester: damage the newest slot, delete the last event, and the other
    slot (the second event pending, the first as head) made the cut look like a crash
    before the COMMIT. But the damaged write came after that COMMIT: the event was there."""
    append(database, at)
    append(database, at)
    assert database.settle_head(DEADLINE_S)
    head_file = head_path_for(database.path)
    tear(head_file, newest_slot(head_file))
    database.close()
    conn = sqlite3.connect(database.path, isolation_level=None)
    conn.execute("DROP TRIGGER incident_events_no_delete")
    conn.execute("DELETE FROM incident_events WHERE seq = 2")
    conn.close()
    verdict = verify_file(database.path)
    assert not verdict.ok and verdict.first_bad_seq == 2
    assert "its other slot is damaged" in verdict.reason


def test_a_head_file_with_both_slots_torn_is_an_audit_error(
    database: Database, at: datetime
) -> None:
    append(database, at)
    assert database.settle_head(DEADLINE_S)  # the flusher's write is not to land on the tear
    head_file = head_path_for(database.path)
    tear(head_file, 0)
    tear(head_file, 1)
    with pytest.raises(AuditError, match="unreadable audit head file \\(neither slot is intact\\)"):
        read_head(head_file)


def test_a_head_file_replaced_under_a_running_daemon_is_written_whole_again(
    database: Database, at: datetime
) -> None:
    append(database, at)
    assert database.settle_head(DEADLINE_S)  # the next append is what meets the new file
    head_file = head_path_for(database.path)
    head_file.write_text('{"seq": 0, "hash": "' + "0" * 64 + '", "pending": null}\n')
    newest = append(database, at)
    assert database.settle_head(DEADLINE_S)
    assert len(head_file.read_bytes()) == 8192
    assert read_head(head_file) == newest


# ---- tampering after commit groups ------------------------------------------------


def grouped_chain(db_path: Path, at: datetime, threads: int = 4, each: int = 10) -> None:
    database = Database.open(db_path)
    try:
        pool = [
            threading.Thread(target=lambda: [append(database, at) for _ in range(each)])
            for _ in range(threads)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(DEADLINE_S)
    finally:
        database.close()


def raw_connection(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("DROP TRIGGER incident_events_no_delete")
    conn.execute("DROP TRIGGER incident_events_no_update")
    return conn


def test_a_cut_of_the_last_event_after_grouped_appends_is_caught(
    db_path: Path, at: datetime
) -> None:
    grouped_chain(db_path, at)
    conn = raw_connection(db_path)
    conn.execute("DELETE FROM incident_events WHERE seq = 40")
    conn.close()
    assert verify_file(db_path) == Verdict(39, 40, "log ends at 39 but the head anchors 40")


def test_forged_events_past_the_head_after_grouped_appends_are_caught(
    db_path: Path, at: datetime
) -> None:
    grouped_chain(db_path, at)
    conn = raw_connection(db_path)
    prev = conn.execute("SELECT hash FROM incident_events WHERE seq = 40").fetchone()[0]
    at_text, data = "2024-05-01T12:00:00.000000Z", "{}"
    digest = event_hash(prev, 41, at_text, None, None, "forged", "attacker", data)
    conn.execute(
        "INSERT INTO incident_events (seq, at, incident_id, organization_id, kind, actor,"
        " data, prev_hash, hash) VALUES (41, ?, NULL, NULL, 'forged', 'attacker', ?, ?, ?)",
        [at_text, data, prev, digest],
    )
    conn.close()
    verdict = verify_file(db_path)
    assert (verdict.ok, verdict.first_bad_seq, verdict.beyond_head) == (False, 41, True)


def test_an_edited_event_after_grouped_appends_is_caught(db_path: Path, at: datetime) -> None:
    grouped_chain(db_path, at)
    conn = raw_connection(db_path)
    conn.execute("UPDATE incident_events SET actor = 'someone else' WHERE seq = 17")
    conn.close()
    assert verify_file(db_path) == Verdict(16, 17, "content does not match its hash")


def test_reordered_events_after_grouped_appends_are_caught(db_path: Path, at: datetime) -> None:
    grouped_chain(db_path, at)
    conn = raw_connection(db_path)
    conn.execute("UPDATE incident_events SET seq = -1 WHERE seq = 5")
    conn.execute("UPDATE incident_events SET seq = 5 WHERE seq = 6")
    conn.execute("UPDATE incident_events SET seq = 6 WHERE seq = -1")
    conn.close()
    assert verify_file(db_path) == Verdict(4, 5, "does not link to the event before it")
