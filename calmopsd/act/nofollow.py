"""Paths opened without following a symlink anywhere in them.

A path from the config (a temp directory to clear, ``pause_jobs``' flag file) can sit
below a directory someone else may write; one symlink anywhere in it would send a
write, a delete or a walk somewhere else. So a path is opened one component at a time
from ``/``, each directory with ``O_NOFOLLOW | O_DIRECTORY`` relative to the descriptor
of the one before (``dir_fd``), and what is done at the end is done with a bare name
relative to the last descriptor — never with the path again, so a component swapped for
a symlink after the check is refused, not followed.

Used by :mod:`calmopsd.act.temp_walk` (the directory it walks) and
:mod:`calmopsd.act.pause_jobs` (the flag file's directory).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import PurePath, PurePosixPath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_KINDS = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind(mode: int) -> str:
    """What ``st_mode`` says the file is, in words: ``a symlink``, ``a FIFO``, …"""
    return next((words for test, words in _KINDS if test(mode)), "a special file")


def open_dir(path: str | PurePath) -> int:
    """A descriptor of the directory at the absolute ``path``, no component of which may be
    a symlink. Fails with the OSError of the step that failed, its ``filename`` that
    component's path (so :func:`why` can name it)."""
    fd = os.open("/", DIR_FLAGS)
    at = PurePosixPath("/")
    try:
        for part in PurePosixPath(path).parts[1:]:
            at = at / part
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(at)) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_parent(path: str | PurePath) -> tuple[int, str]:
    """(a descriptor of the directory holding the absolute ``path``, opened as
    :func:`open_dir` does, the last component's bare name)."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or pure.name in ("", ".", ".."):
        raise OSError(errno.EINVAL, "not an absolute path to a file", str(path))
    return open_dir(pure.parent), pure.name


def why(exc: OSError) -> str:
    """What stopped an open of :func:`open_dir`, naming the component:
    ``/srv/flags is a symlink (never followed)``, ``/srv/flags does not exist``."""
    where = exc.filename
    if where is None:
        return exc.strerror or str(exc)
    if exc.errno in (errno.ENOTDIR, errno.ELOOP):
        try:
            found = kind(os.lstat(where).st_mode)
        except OSError:
            return f"{where} is not a directory"
        if found == "a symlink":
            return f"{where} is a symlink (never followed)"
        return f"{where} is {found}, not a directory"
    if exc.errno == errno.ENOENT:
        return f"{where} does not exist"
    return f"{where}: {exc.strerror or exc}"
