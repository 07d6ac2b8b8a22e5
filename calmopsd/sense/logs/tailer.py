"""Follow the files of one source across rotation, truncation and restarts.

A file is known by ``(device, inode)`` and a fingerprint of its first KiB, and
kept open between rounds, so:

- rename-and-create (logrotate's default): the renamed file is still open and
  its rest is read; the new file at the path is new, and read from its start;
- copytruncate: the file shrinks or its head changes, so it is read again from
  its start; the copy (a new inode whose head matches) is not read while the
  original is still there untruncated (its lines are read from the original),
  then read on from the offset the original had reached when truncated, so the
  lines written just before the truncation are not lost when the copy is in the
  glob (or is ``PATH.1``), and none is read twice;
- restart: positions come back from :class:`~calmopsd.model.LogFilePosition`
  and are matched by inode and fingerprint (an inode number reused by a
  different file does not match).

At most :data:`MAX_FILES` files of a source are followed (the first, by path,
of those matching); the rest are left alone and said so once.

Only regular files are read. A path that is something else — a FIFO (whose open
would wait for a writer), ``/dev/zero`` (endless), a directory — is never opened
(``stat`` first; a swap before the open is caught by ``fstat``, and the open is
non-blocking, so a FIFO cannot hang the round): it is a problem of the source,
``PATH is a FIFO, not a log file``, in :attr:`SourceTailer.problems` for the round
and logged once as ``logs.not_a_log_file``.

Only whole lines are handed on: a partial last line waits for its newline.
A line with no newline within ``max_line_length`` bytes is skipped to its end
and counted once as a parse error, so memory stays bounded; a file is read
:data:`CHUNK` bytes at a time (or two lines of ``max_line_length``, if more), so a
backlog of any size is too. Compressed rotated files are never opened.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from calmopsd.model import LogFilePosition

log = structlog.get_logger("calmopsd.sense.logs")

HEAD_SIZE = 1024
MAX_FILES = 64  # files followed (and held open) per source; a glob matching more is a mistake
# Bytes read at once, the most the reader holds of a file (issue 16): a backlog of any size
# is caught up in flat memory, since the counts of one chunk are folded into the round's
# tallies before the next is read. 8 MiB chunks held about 24 MiB more at the peak of a
# 1 GiB catch-up (glibc keeps freed chunks that size in the heap); 1 MiB is as fast.
CHUNK = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".zip", ".Z", ".br", ".7z")

Consume = Callable[[bytes, int], None]
"""Receives ``(buf, end)``: ``buf[:end]`` is whole lines."""


@dataclass
class TailedFile:
    """One open (or, just after a restart, to-be-opened) file of a source."""

    path: str
    device: int
    inode: int
    offset: int = 0
    head: str = ""
    head_size: int = 0
    in_long_line: bool = False
    fd: int | None = None
    present: bool = True
    stale_rounds: int = 0
    events: list[str] = field(default_factory=list)
    # copytruncate: the followed file this one is a copy of, until that one is truncated
    original: TailedFile | None = None
    # Where this file was (offset, in a long line) when last seen truncated; its copy reads on
    # from there.
    truncated_from: tuple[int, bool] | None = None


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _head_of(fd: int, size: int) -> tuple[str, int]:
    data = os.pread(fd, min(size, HEAD_SIZE), 0)
    return _hash(data), len(data)


class SourceTailer:
    """Reads new whole lines from every file of one source."""

    def __init__(
        self,
        name: str,
        patterns: Iterable[Path],
        *,
        max_line_length: int,
        max_read: int,
        start_at_end: bool,
        positions: Iterable[LogFilePosition] = (),
    ):
        self.name = name
        self.patterns = [str(p) for p in patterns]
        self.max_line_length = max_line_length
        self.max_read = max_read
        self.files: dict[tuple[int, int], TailedFile] = {}
        for p in positions:
            self.files[(p.device, p.inode)] = TailedFile(
                p.path, p.device, p.inode, p.offset, p.head, p.head_size, p.in_long_line
            )
        # A source never read before starts at the end of what is there now.
        self._first_round = start_at_end and not self.files
        self.chunk = max(CHUNK, 2 * max_line_length)
        self.long_lines = 0
        self.truncations = 0
        # Files just found replaced, kept for one round so their copy is recognised.
        self._ghosts: list[TailedFile] = []
        self._said_too_many = False
        self._unopenable: set[str] = set()  # paths whose open failure was logged
        self.problems: dict[str, str] = {}  # this round: path → why it is not read
        self._said_not_a_log: set[str] = set()  # paths logged as logs.not_a_log_file
        self._stopping: Callable[[], bool] = lambda: False

    # -- discovery -----------------------------------------------------------

    def _paths(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.patterns:
            magic = any(char in pattern for char in "*?[")
            # Absolute patterns with the glob anywhere: Path.glob cannot take those.
            found.update(glob.glob(pattern) if magic else [pattern])  # noqa: PTH207
        found.update(f"{f.path}.1" for f in self.files.values())
        return sorted(p for p in found if not p.endswith(COMPRESSED))

    def _discover(self) -> list[tuple[str, os.stat_result]]:
        seen: dict[tuple[int, int], tuple[str, os.stat_result]] = {}
        for path in self._paths():
            try:
                st = Path(path).stat()  # follows symlinks: a file is its target
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                seen.setdefault((st.st_dev, st.st_ino), (path, st))
            else:
                self._not_a_log_file(path, st.st_mode)
        return list(seen.values())

    def _not_a_log_file(self, path: str, mode: int) -> None:
        """A path that is not a regular file: the round's problem, logged once per path."""
        if len(self.problems) >= MAX_FILES:
            return
        kind = next((words for test, words in _KINDS if test(mode)), "not a regular file")
        self.problems[path] = f"{path} is {kind}, not a log file"
        if path not in self._said_not_a_log:
            if len(self._said_not_a_log) >= 4 * MAX_FILES:
                self._said_not_a_log.clear()
            self._said_not_a_log.add(path)
            log.warning("logs.not_a_log_file", source=self.name, path=path, kind=kind)

    def _open(self, path: str) -> int | None:
        """``path`` opened for reading if it is a regular file (never blocking on a FIFO)."""
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            if path not in self._unopenable:
                if len(self._unopenable) >= 4 * MAX_FILES:
                    self._unopenable.clear()
                self._unopenable.add(path)
                log.warning("logs.open_failed", source=self.name, path=path, error=str(exc))
            return None
        self._unopenable.discard(path)
        self._said_not_a_log.discard(path)  # said again if it stops being a log file again
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped in since it was looked at
            os.close(fd)
            self._not_a_log_file(path, mode)
            return None
        os.set_blocking(fd, True)
        return fd

    def _room(self, matching: int) -> bool:
        """Whether one more file may be followed; says once when a source matches too many."""
        if len(self.files) < MAX_FILES:
            return True
        if not self._said_too_many:
            self._said_too_many = True
            log.warning("logs.too_many_files", source=self.name, count=matching, limit=MAX_FILES)
        return False

    def _adopt(self, path: str, st: os.stat_result) -> None:
        """Start following a file not followed before."""
        fd = self._open(path)
        if fd is None:
            return
        head, head_size = _head_of(fd, st.st_size)
        tailed = TailedFile(path, st.st_dev, st.st_ino, 0, head, head_size, fd=fd)
        copy_of = self._original_of(fd, head_size)
        if copy_of is not None:
            tailed.offset = min(copy_of.offset, st.st_size)
            tailed.in_long_line = copy_of.in_long_line and copy_of.offset <= st.st_size
            if copy_of.fd is not None:  # still followed (ghosts are not)
                tailed.original = copy_of
        elif self._first_round:
            tailed.offset, tailed.in_long_line = self._last_line_end(fd, st.st_size)
        self.files[(st.st_dev, st.st_ino)] = tailed

    def _original_of(self, fd: int, head_size: int) -> TailedFile | None:
        """The followed file that the file open at ``fd`` is a copy of (copytruncate).

        Compared by heads as they were before this round, so an original that is
        being truncated is still recognised.
        """
        if head_size == 0:
            return None
        for known in [*self.files.values(), *self._ghosts]:
            if not known.head_size or known.head_size > head_size:
                continue
            if _hash(os.pread(fd, known.head_size, 0)) == known.head:
                return known
        return None

    def _last_line_end(self, fd: int, size: int) -> tuple[int, bool]:
        tail = os.pread(fd, min(size, self.max_line_length), max(size - self.max_line_length, 0))
        newline = tail.rfind(b"\n")
        if newline < 0:
            return size, size >= self.max_line_length
        return size - len(tail) + newline + 1, False

    def _reconnect(self, known: TailedFile, path: str) -> bool:
        """Open a file known from saved state; False if the inode now holds another file."""
        fd = self._open(path)
        if fd is None:
            return False
        if known.head_size and _hash(os.pread(fd, known.head_size, 0)) != known.head:
            os.close(fd)
            return False
        known.fd, known.path = fd, path
        return True

    # -- reading -------------------------------------------------------------

    def poll(self, consume: Consume, stopping: Callable[[], bool] = lambda: False) -> None:
        """Read every file's new whole lines into ``consume``; once ``stopping()`` says so,
        stop between chunks (what was read so far is kept: the offsets stop after it)."""
        self._stopping = stopping
        self.problems = {}
        discovered = self._discover()
        self._ghosts = []
        for tailed in self.files.values():
            tailed.present = False
            tailed.truncated_from = None  # a copy is always adopted before its truncation
        for path, st in discovered:
            known = self.files.get((st.st_dev, st.st_ino))
            if known is not None and known.fd is None and not self._reconnect(known, path):
                self._ghosts.append(self.files.pop((st.st_dev, st.st_ino)))
                known = None
            if known is None:
                if self._room(len(discovered)):
                    self._adopt(path, st)
                continue
            known.path, known.present = path, True
        self._first_round = False
        # Copies last: whether their original was truncated this round decides their reading.
        for key, tailed in sorted(
            self.files.items(), key=lambda item: item[1].original is not None
        ):
            if tailed.fd is None:  # saved state for a file that is gone
                del self.files[key]
                continue
            if tailed.present and self._holds_copy(tailed):
                continue
            grew = self._read(tailed, consume)
            tailed.stale_rounds = 0 if grew or tailed.present else tailed.stale_rounds + 1
            if not tailed.present and tailed.stale_rounds >= 2:
                self._forget(key)

    def _holds_copy(self, tailed: TailedFile) -> bool:
        """True while ``tailed`` is the copy of a file still followed and not yet truncated:
        those lines are read from the original. Once it is truncated, the copy is read on
        from where the original was."""
        original = tailed.original
        if original is None:
            return False
        if original.truncated_from is not None:
            tailed.offset, tailed.in_long_line = original.truncated_from
            tailed.original = None
            return False
        if original.fd is None or self.files.get((original.device, original.inode)) is not original:
            tailed.original = None  # the original went away untruncated: read the copy on
            return False
        assert tailed.fd is not None  # noqa: S101  # only open files are read
        size = os.fstat(tailed.fd).st_size
        tailed.offset = min(original.offset, size)
        tailed.in_long_line = original.in_long_line and original.offset <= size
        return True

    def _forget(self, key: tuple[int, int]) -> None:
        tailed = self.files.pop(key)
        if tailed.fd is not None:
            os.close(tailed.fd)

    def _read(self, tailed: TailedFile, consume: Consume) -> bool:
        assert tailed.fd is not None  # noqa: S101  # only open files are read
        size = os.fstat(tailed.fd).st_size
        self._check_replaced(tailed, size)
        began = tailed.offset
        budget = self.max_read
        while tailed.offset < size and budget > 0 and not self._stopping():
            chunk = os.pread(
                tailed.fd, min(self.chunk, size - tailed.offset, budget), tailed.offset
            )
            if not chunk:
                break
            budget -= len(chunk)
            if not self._take(tailed, chunk, consume):
                break
        return tailed.offset != began

    def _take(self, tailed: TailedFile, chunk: bytes, consume: Consume) -> bool:
        """Consume the chunk's whole lines; False when only a partial line is left."""
        start = 0
        if tailed.in_long_line:
            newline = chunk.find(b"\n")
            if newline < 0:
                tailed.offset += len(chunk)
                return True
            tailed.in_long_line = False
            start = newline + 1
        end = chunk.rfind(b"\n") + 1
        if end > start:
            consume(chunk[start:end] if start else chunk, end - start)
        tailed.offset += max(end, start)
        rest = len(chunk) - max(end, start)
        if rest >= self.max_line_length:
            # A line this long is not read into memory: skip to its end.
            self.long_lines += 1
            tailed.in_long_line = True
            tailed.offset += rest
            return True
        return end > start or start > 0

    def _check_replaced(self, tailed: TailedFile, size: int) -> None:
        """Truncated, or rewritten in place: read it again from the start."""
        assert tailed.fd is not None  # noqa: S101
        replaced = size < tailed.offset
        if not replaced and tailed.head_size:
            replaced = _hash(os.pread(tailed.fd, tailed.head_size, 0)) != tailed.head
        if replaced:
            self.truncations += 1
            tailed.truncated_from = (tailed.offset, tailed.in_long_line)
            tailed.offset, tailed.in_long_line = 0, False
        if replaced or (tailed.head_size < HEAD_SIZE and size > tailed.head_size):
            tailed.head, tailed.head_size = _head_of(tailed.fd, size)

    def behind(self) -> int:
        """Bytes written to the files followed that are not read yet (a catch-up capped by
        ``max_read_per_round``, or a round cut short by a stop)."""
        total = 0
        for tailed in self.files.values():
            if tailed.fd is None or not tailed.present or tailed.original is not None:
                continue
            try:
                total += max(os.fstat(tailed.fd).st_size - tailed.offset, 0)
            except OSError:
                continue
        return total

    def positions(self) -> list[LogFilePosition]:
        return [
            LogFilePosition(
                self.name,
                f.path,
                f.device,
                f.inode,
                f.offset,
                f.head,
                f.head_size,
                f.in_long_line,
            )
            for f in self.files.values()
        ]

    def close(self) -> None:
        for key in list(self.files):
            self._forget(key)
