"""The state directory and every file calmopsd keeps in it are the daemon user's alone,
whatever the umask: real SQLite files, opened in a subprocess that sets its own umask."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from calmopsd.errors import StoreError
from calmopsd.record.database import Database, database_path
from calmopsd.record.statedir import make_private_dir, tighten

# Opens the store as the daemon does, appends (so the head file is written), opens a
# reader as the CLI does, and prints the mode of everything under the state dir while
# both are open (-wal and -shm exist only then).
OPEN_AND_LIST = """
import json, os, stat, sys
from datetime import UTC, datetime
from pathlib import Path
from calmopsd.record.audit import append_event
from calmopsd.record.database import Database, connect
from calmopsd.record.scope import Scope

root, path = Path(sys.argv[1]), Path(sys.argv[2])
database = Database.open(path)
with database.write() as tx:
    append_event(tx, Scope.platform(), kind="daemon.started", actor="test", at=datetime.now(UTC))
reader = connect(path, query_only=True)
reader.execute("SELECT count(*) FROM incident_events").fetchone()
modes = {}
for top, dirs, files in os.walk(root):
    for name in dirs + files:
        found = os.lstat(os.path.join(top, name))
        kind = "dir" if stat.S_ISDIR(found.st_mode) else "file"
        modes[os.path.relpath(os.path.join(top, name), root)] = [kind, oct(found.st_mode & 0o777)]
reader.close()
database.close()
print(json.dumps(modes))
"""


def open_under_umask(umask: int, root: Path, path: Path) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", OPEN_AND_LIST, str(root), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        umask=umask,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modes: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    return modes


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_new_store_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    state = tmp_path / "var" / "state"  # neither exists yet

    modes = open_under_umask(umask, tmp_path, database_path(state))

    assert modes == {
        "var": ["dir", "0o700"],
        "var/state": ["dir", "0o700"],
        "var/state/calmopsd.db": ["file", "0o600"],
        "var/state/calmopsd.db-wal": ["file", "0o600"],
        "var/state/calmopsd.db-shm": ["file", "0o600"],
        "var/state/calmopsd.db.lock": ["file", "0o600"],
        "var/state/calmopsd.db.audit-head": ["file", "0o600"],
    }


def left_by_an_older_calmopsd(state: Path) -> Path:
    """A store as calmopsd made it before, under umask 0022: 0755 directory, 0644 files, and
    a -wal still holding commits (a crash: SQLite does not chmod a -wal that has data)."""
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    path = database_path(state)
    database = Database.open(path)
    database.close()
    for file in state.iterdir():
        file.chmod(0o644)
    script = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "c.execute('CREATE TABLE left_by_crash (x)')\n"
        "c.execute('INSERT INTO left_by_crash VALUES (1)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60, umask=0o022)
    for name in ("calmopsd.db-wal", "calmopsd.db-shm"):
        (state / name).chmod(0o644)
    return path


def test_files_an_older_calmopsd_left_open_to_others_are_tightened_and_said(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    path = left_by_an_older_calmopsd(state)
    assert (state / "calmopsd.db-wal").stat().st_size > 0

    with structlog.testing.capture_logs() as logs:
        database = Database.open(path)
    try:
        with database.read() as db:
            rows = db.execute("SELECT x FROM left_by_crash").fetchall()
    finally:
        database.close()

    assert rows == [(1,)]  # the -wal's commits were kept, not lost to the chmod
    tightened = sorted(
        (Path(line["path"]).name, line["was"], line["now"])
        for line in logs
        if line["event"] == "state.file_tightened"
    )
    assert tightened == [
        ("calmopsd.db", "0644", "0600"),
        ("calmopsd.db-shm", "0644", "0600"),
        ("calmopsd.db-wal", "0644", "0600"),
        ("calmopsd.db.audit-head", "0644", "0600"),
        ("calmopsd.db.lock", "0644", "0600"),
    ]
    modes = {file.name: oct(stat.S_IMODE(file.lstat().st_mode)) for file in state.iterdir()}
    assert modes == dict.fromkeys(modes, "0o600")
    assert set(modes) >= {"calmopsd.db", "calmopsd.db.lock", "calmopsd.db.audit-head"}


def test_an_existing_state_dir_open_to_others_is_left_and_said_with_the_fix(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)

    with structlog.testing.capture_logs() as logs:
        Database.open(database_path(state)).close()

    [said] = [line for line in logs if line["event"] == "state_dir.open_to_others"]
    assert (said["path"], said["mode"], said["fix"]) == (str(state), "0755", f"chmod 0700 {state}")
    assert oct(stat.S_IMODE(state.stat().st_mode)) == "0o755"
    assert oct(stat.S_IMODE(database_path(state).stat().st_mode)) == "0o600"


def test_a_private_state_dir_is_not_remarked_on(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)

    with structlog.testing.capture_logs() as logs:
        Database.open(database_path(state)).close()

    assert [line["event"] for line in logs if "open_to_others" in line["event"]] == []


def test_tighten_never_changes_a_symlinks_target(tmp_path: Path) -> None:
    target, link = tmp_path / "elsewhere", tmp_path / "calmopsd.db-wal"
    target.write_text("")
    target.chmod(0o644)
    link.symlink_to(target)

    with structlog.testing.capture_logs() as logs:
        tighten(link)

    assert oct(stat.S_IMODE(target.stat().st_mode)) == "0o644"
    assert [line["event"] for line in logs] == ["state.file_unchecked"]


def test_a_file_that_is_no_database_is_still_a_store_error(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    path.write_text("not a database\n")
    path.chmod(0o644)

    with pytest.raises(StoreError, match="cannot open the database"):
        Database.open(path)
    assert oct(stat.S_IMODE(path.stat().st_mode)) == "0o600"


def test_make_private_dir_makes_every_missing_parent_private(tmp_path: Path) -> None:
    made = make_private_dir(tmp_path / "a" / "b" / "c")
    again = make_private_dir(tmp_path / "a" / "b" / "c")

    assert (made, again) == (True, False)
    assert [oct(stat.S_IMODE((tmp_path / p).stat().st_mode)) for p in ("a", "a/b", "a/b/c")] == [
        "0o700"
    ] * 3
