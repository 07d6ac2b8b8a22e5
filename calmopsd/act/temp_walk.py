"""The clear_temp walk: delete old regular files under one directory, and nothing else.

The contract (issue 6): only regular files, only those older than
``actions.clear_temp.min_age``; never through a symlink, never onto another
filesystem or mount, never a directory, never the directory itself. It cannot
be undone, which is why it is held this tightly.

How the walk keeps it (no commands run; the host is touched with ``os`` calls):

1. The configured directory is opened one component at a time from ``/`` with
   ``O_NOFOLLOW | O_DIRECTORY`` (:func:`calmopsd.act.nofollow.open_dir`): if it, or
   any directory above it, is a symlink, that directory fails and nothing in it is
   touched.
2. From then on every call is relative to an open directory descriptor and
   takes a bare name read from that directory, never a path: a component
   swapped for a symlink between the check and the use is refused by
   ``O_NOFOLLOW`` (subdirectories) or removed as the link itself at worst,
   never followed out of the tree.
3. A directory whose device differs from the root's, or that is a mount point
   listed in ``/proc/self/mountinfo`` (a bind mount of the same filesystem keeps
   its device number), is not entered.
4. The walk is bounded (:data:`MAX_ENTRIES`, :data:`MAX_DEPTH`); a bound that
   was hit makes the result not ok and says which.
5. A file is deleted only after it was renamed into a private directory and
   checked again there (:mod:`calmopsd.act.quarantine`), so an upload renamed
   onto a checked name at the last moment is put back, not deleted.

In dry-run mode the same walk runs and deletes nothing; the data says what a
real run would have removed.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from calmopsd.act.nofollow import DIR_FLAGS, open_dir
from calmopsd.act.quarantine import (
    Quarantine,
    QuarantineUnavailable,
    is_ours,
    still_the_checked_file,
)

MAX_ENTRIES = 100_000  # directory entries looked at in one run, over all its dirs
MAX_DEPTH = 32  # subdirectory levels below a configured dir
LISTED = 20  # removed files named in the result
SHOWN_ERRORS = 10
MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass
class Walk:
    """What one run saw and did, over all its directories."""

    cutoff: float  # st_mtime below this is old enough
    dry_run: bool
    max_entries: int
    max_depth: int
    mountinfo: Path
    root_dev: int = 0
    mounts: set[tuple[int, int]] = field(default_factory=set)
    label: str = ""  # put before relative paths when a run covers several dirs
    entries: int = 0
    files: int = 0
    bytes: int = 0
    removed: list[str] = field(default_factory=list)
    skipped_symlinks: int = 0
    skipped_other_fs: int = 0
    skipped_hardlinks: int = 0
    young: int = 0
    changed: int = 0  # old when checked, but not the same old file when taken
    quarantine: Quarantine | None = None  # the current dir's (None in a dry run)
    unlinked_directly: int = 0  # files unlinked without the private dir (no room for it)
    left_aside: list[str] = field(default_factory=list)  # earlier runs' private dirs
    too_deep: int = 0
    stopped: bool = False
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first SHOWN_ERRORS of them

    def record(self, rel: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        if len(self.removed) < LISTED:
            self.removed.append(_shown(self.label + rel))

    def fail(self, where: str, problem: str) -> None:
        """Something in the tree could not be checked or removed: the run is not ok."""
        self.failed += 1
        if len(self.errors) < SHOWN_ERRORS:
            self.errors.append(f"{_shown(where)}: {problem}")

    def bounds(self) -> list[str]:
        hit = [f"stopped after {self.max_entries} entries"] if self.stopped else []
        if self.too_deep:
            hit.append(f"{self.too_deep} directories below {self.max_depth} levels not entered")
        return hit


def clear(directory: str, walk: Walk) -> None:
    """Delete the old regular files under ``directory`` (none in a dry run); tallies in ``walk``."""
    try:
        fd = open_dir(directory)
    except OSError as error:
        walk.fail(directory, _why(error))
        return
    walk.quarantine = None if walk.dry_run else Quarantine(fd)
    try:
        walk.root_dev = os.fstat(fd).st_dev
        walk.mounts = _mounts_under(directory, walk.mountinfo)
        _walk(fd, "", 0, walk)
    except OSError as error:
        walk.fail(directory, _why(error))
    finally:
        if walk.quarantine is not None:
            walk.quarantine.close()  # kept files are named in the errors already
        walk.quarantine = None
        os.close(fd)


def _mounts_under(path: str, mountinfo: Path) -> set[tuple[int, int]]:
    """(device, inode) of every mount point strictly below ``path``.

    Only ever used to skip more; when mountinfo cannot be read, the device
    check alone still keeps the walk off other filesystems.
    """
    try:
        lines = mountinfo.read_bytes().splitlines()
    except OSError:
        return set()
    prefix = path.rstrip("/") + "/"
    found: set[tuple[int, int]] = set()
    for line in lines:
        fields = line.split(b" ")
        point = os.fsdecode(_unescape(fields[4])) if len(fields) > 4 else ""
        if point.startswith(prefix):
            try:
                seen = Path(point).lstat()
            except OSError:
                continue
            found.add((seen.st_dev, seen.st_ino))
    return found


def _unescape(raw: bytes) -> bytes:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 …)
    return re.sub(rb"\\([0-7]{3})", lambda match: bytes([int(match[1], 8) & 0xFF]), raw)


def _walk(fd: int, rel: str, depth: int, walk: Walk) -> None:
    with os.scandir(fd) as entries:
        for entry in entries:
            if walk.entries >= walk.max_entries:
                walk.stopped = True
                return
            walk.entries += 1
            try:
                _visit(fd, entry.name, rel + entry.name, depth, walk)
            except OSError as error:
                walk.fail(walk.label + rel + entry.name, _why(error))
            if walk.stopped:
                return


def _visit(fd: int, name: str, rel: str, depth: int, walk: Walk) -> None:
    try:
        seen = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return  # removed meanwhile by someone else
    if walk.quarantine is not None and _key(seen) == walk.quarantine.key:
        return  # our own private directory, made during this walk
    if is_ours(name, seen):  # another run's, or one a crash or a kept file left
        if len(walk.left_aside) < LISTED:
            walk.left_aside.append(_shown(walk.label + rel))
        return
    if stat.S_ISLNK(seen.st_mode):
        walk.skipped_symlinks += 1
    elif seen.st_dev != walk.root_dev or _key(seen) in walk.mounts:
        walk.skipped_other_fs += 1
    elif stat.S_ISDIR(seen.st_mode):
        _descend(fd, name, rel, seen, depth + 1, walk)
    elif stat.S_ISREG(seen.st_mode):
        _consider(fd, name, rel, seen, walk)
    # sockets, fifos and device nodes are never temp uploads: left alone


def _descend(fd: int, name: str, rel: str, seen: os.stat_result, depth: int, walk: Walk) -> None:
    if depth > walk.max_depth:
        walk.too_deep += 1
        return
    try:
        sub = os.open(name, DIR_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        return
    try:
        if _key(os.fstat(sub)) != _key(seen):
            walk.fail(walk.label + rel, "replaced while being walked; not entered")
            return
        _walk(sub, rel + "/", depth, walk)
    finally:
        os.close(sub)


def _consider(fd: int, name: str, rel: str, seen: os.stat_result, walk: Walk) -> None:
    if seen.st_mtime >= walk.cutoff:
        walk.young += 1
    elif seen.st_nlink > 1:
        walk.skipped_hardlinks += 1  # another name keeps the data: deleting frees nothing
    elif walk.dry_run:
        walk.record(rel, seen.st_size)
    else:
        _remove(fd, name, rel, seen, walk)


def _remove(fd: int, name: str, rel: str, seen: os.stat_result, walk: Walk) -> None:
    """Delete the checked file, and only it: taken aside, checked again, then unlinked."""
    quarantine = walk.quarantine
    assert quarantine is not None  # noqa: S101  # a dry run removes nothing
    try:
        taken = quarantine.take(fd, name)
    except FileNotFoundError:
        return  # removed meanwhile by someone else
    except OSError as error:
        if not isinstance(error, QuarantineUnavailable) and error.errno != errno.EXDEV:
            raise
        walk.unlinked_directly += 1  # no room for the private dir, or a quota boundary
    else:
        if still_the_checked_file(taken, seen, walk.cutoff):
            quarantine.unlink(taken)
            walk.record(rel, seen.st_size)
            return
        why = quarantine.put_back(taken, fd, name)
        if why is None:
            walk.changed += 1
        else:
            kept = quarantine.where(taken)
            walk.fail(walk.label + rel, f"changed meanwhile, not put back ({why}): kept as {kept}")
        return
    os.unlink(name, dir_fd=fd)
    _verify_gone(fd, name, rel, seen, walk)


def _verify_gone(fd: int, name: str, rel: str, seen: os.stat_result, walk: Walk) -> None:
    """Count the file as removed only once its name no longer leads to it."""
    try:
        after = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        walk.record(rel, seen.st_size)
        return
    if _key(after) == _key(seen) and after.st_mtime_ns == seen.st_mtime_ns:
        walk.fail(walk.label + rel, "still there after it was unlinked")
    else:
        walk.record(rel, seen.st_size)  # a new file of the same name is the app's, not ours


def _key(seen: os.stat_result) -> tuple[int, int]:
    return (seen.st_dev, seen.st_ino)


def _why(error: OSError) -> str:
    if error.errno == errno.ELOOP or isinstance(error, NotADirectoryError):
        return "it, or a directory above it, is a symlink or not a directory"
    return error.strerror or type(error).__name__


def _shown(path: str, limit: int = 512) -> str:
    """A path safe to put in the audit log: undecodable bytes escaped, length capped."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[: limit - 1] + "…"
