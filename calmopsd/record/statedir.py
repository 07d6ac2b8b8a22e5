"""The state directory and calmopsd's files in it: private to the daemon's user, whatever
the umask.

Outside systemd (``make run``, a manual start under umask 0022) SQLite would create
``calmopsd.db`` 0644 in a directory made 0755, and any local user could read every
organization's incidents. So (see docs/decisions.md):

- a directory calmopsd makes (the state directory, a missing parent of it, a
  subdirectory such as ``act/``) is made 0700;
- a state directory that exists already and lets the group or others in is left as it
  is — it may be shared or managed by someone else (systemd's ``StateDirectoryMode=``
  sets it again at each start), and a chmod of a mistyped ``state_dir`` such as
  ``/var/lib`` would break other software — and ``state_dir.open_to_others`` says so,
  with the command that closes it;
- the database file is created 0600 before SQLite opens it: SQLite gives the ``-wal``
  and ``-shm`` files it creates the database file's own permission bits (its
  ``robust_open`` fchmods a new, empty one to them), so they follow it whatever the umask;
- a file of calmopsd's that already exists with group or other bits (left by an older
  calmopsd, or a crash's ``-wal``, which SQLite does not chmod once it holds data) is
  brought down to owner-only (``state.file_tightened``);
- every file calmopsd writes there itself is opened with :data:`PRIVATE_FILE`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

import structlog

log = structlog.get_logger("calmopsd.record")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
OPEN_TO_OTHERS = 0o077  # group and other bits
SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a database
_CHECK_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def make_private_dir(path: Path) -> bool:
    """Make ``path`` and each missing parent, each 0700; True if ``path`` was made now.

    A directory that exists already is not changed.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    made = False
    for directory in reversed(missing):
        try:
            directory.mkdir(PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to change
        directory.chmod(PRIVATE_DIR)  # exact, even under a umask that takes owner bits
        made = directory == path
    return made


def prepare(database: Path, beside: Iterable[Path] = ()) -> None:
    """Before SQLite opens ``database``: its directory exists (0700 if made now, said so
    if it lets others in), every file of calmopsd's there (the database, SQLite's files
    beside it, ``beside``) that exists is owner-only, and the database file exists, 0600.
    """
    directory = database.parent
    if not make_private_dir(directory):
        say_if_open(directory)
    sqlite_files = [database.with_name(database.name + s) for s in SQLITE_SUFFIXES]
    for path in [database, *sqlite_files, *beside]:
        tighten(path)
    create_private(database)


def say_if_open(directory: Path) -> None:
    """Log ``state_dir.open_to_others`` when ``directory`` lets its group or others in."""
    try:
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError:
        return  # the open that follows says what is wrong with it
    if mode & OPEN_TO_OTHERS:
        log.warning(
            "state_dir.open_to_others",
            path=str(directory),
            mode=f"{mode:04o}",
            kept="left as it is; the files calmopsd keeps in it are 0600",
            fix=f"chmod 0700 {directory}",
        )


def tighten(path: Path) -> None:
    """Take the group and other bits off ``path`` if it is a regular file that has any;
    never through a symlink. A missing file is fine; one that cannot be changed is said."""
    try:
        fd = os.open(path, _CHECK_FLAGS)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("state.file_unchecked", path=str(path), error=exc.strerror or str(exc))
        return
    try:
        info = os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISREG(info.st_mode) or not mode & OPEN_TO_OTHERS:
            return
        try:
            os.fchmod(fd, mode & ~OPEN_TO_OTHERS)
        except OSError as exc:
            log.warning(
                "state.file_open_to_others",
                path=str(path),
                mode=f"{mode:04o}",
                error=exc.strerror or str(exc),
            )
            return
        log.warning(
            "state.file_tightened",
            path=str(path),
            was=f"{mode:04o}",
            now=f"{mode & ~OPEN_TO_OTHERS:04o}",
        )
    finally:
        os.close(fd)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless something is there already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)  # exact, whatever the umask took
    finally:
        os.close(fd)
