"""Take a file out of the app's reach before deleting it (clear_temp's last step).

Linux cannot unlink by file handle: between clear_temp's age check and
``unlink(name)`` the app may rename a fresh upload onto that name, and the
fresh upload would be deleted. So the checked name is first renamed into a
private directory of ours (same filesystem: a rename is atomic), the file that
arrived there is checked again — same inode, still old, one link, regular —
and only then unlinked. Anything else that arrived is put back under its name,
never over a name taken meanwhile; what cannot be put back stays in the private
directory, and the caller says where.

The private directory sits in the configured temp dir (the only place known to
be on the same filesystem), is made mode 0700 with a random name, checked to be
ours once opened (an app that owns the temp dir could swap in its own between
``mkdir`` and ``open``), and removed when the run ends if it is empty. Private
directories left by earlier runs (a crash, a file kept) are recognised by
:func:`is_ours` and left for a person. When the directory cannot be made for
want of space (a full disk: exactly when clear_temp is wanted) or links, the
file is unlinked directly and the result says so; the next file tries again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import stat
from dataclasses import dataclass

PREFIX = ".calmopsd-clearing-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# No room for one more directory: unlink directly rather than not free the disk.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EMLINK}
_RENAME_NOREPLACE = 1


class QuarantineUnavailable(OSError):
    """The private directory could not be made for want of room: unlink directly."""


@dataclass
class Taken:
    """What a checked name held at the moment it was taken."""

    name: str  # its name inside the private directory
    seen: os.stat_result


def is_ours(name: str, seen: os.stat_result) -> bool:
    """A private directory of some clear_temp run: its name, our owner, no access for others."""
    return (
        name.startswith(PREFIX)
        and stat.S_ISDIR(seen.st_mode)
        and seen.st_uid == os.geteuid()
        and stat.S_IMODE(seen.st_mode) & 0o077 == 0
    )


class Quarantine:
    """A private directory inside one temp dir; made on first use, removed by close()."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.name: str | None = None
        self.fd: int | None = None
        self.key: tuple[int, int] | None = None
        self.kept = 0  # things left inside because they could not be put back
        self._count = 0

    def _open(self) -> int:
        if self.fd is not None:
            return self.fd
        name = PREFIX + secrets.token_hex(8)
        try:
            os.mkdir(name, 0o700, dir_fd=self.root_fd)
        except OSError as error:
            if error.errno in _NO_ROOM:
                raise QuarantineUnavailable(error.errno, error.strerror) from error
            raise
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=self.root_fd)
        except OSError:
            with contextlib.suppress(OSError):  # whatever took its name is not ours to remove
                os.rmdir(name, dir_fd=self.root_fd)
            raise
        seen = os.fstat(fd)
        if not is_ours(name, seen) or seen.st_nlink != 2:
            os.close(fd)
            raise PermissionError(
                errno.EPERM, f"{name} was replaced between mkdir and open; not used"
            )
        self.name, self.fd, self.key = name, fd, (seen.st_dev, seen.st_ino)
        return fd

    def take(self, dir_fd: int, name: str) -> Taken:
        """Move whatever ``name`` in ``dir_fd`` holds now into the private directory."""
        fd = self._open()
        self._count += 1
        inside = str(self._count)
        os.rename(name, inside, src_dir_fd=dir_fd, dst_dir_fd=fd)
        return Taken(inside, os.stat(inside, dir_fd=fd, follow_symlinks=False))

    def unlink(self, taken: Taken) -> None:
        assert self.fd is not None  # noqa: S101  # only taken files are unlinked
        os.unlink(taken.name, dir_fd=self.fd)

    def put_back(self, taken: Taken, dir_fd: int, name: str) -> str | None:
        """Return what was not ours to delete to its name; else why it stays inside.

        Never over a name taken meanwhile: ``renameat2(RENAME_NOREPLACE)``, or where
        the filesystem lacks it, a hard link (which never replaces a name either).
        """
        assert self.fd is not None  # noqa: S101
        try:
            try:
                _rename_noreplace(self.fd, taken.name, dir_fd, name)
            except OSError as error:
                if error.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                os.link(
                    taken.name, name, src_dir_fd=self.fd, dst_dir_fd=dir_fd, follow_symlinks=False
                )
                os.unlink(taken.name, dir_fd=self.fd)
        except OSError as error:
            self.kept += 1
            if isinstance(error, FileExistsError):
                return "its name was taken again meanwhile"
            return error.strerror or type(error).__name__
        return None

    def where(self, taken: Taken) -> str:
        return f"{self.name}/{taken.name}"

    def close(self) -> None:
        """Remove the private directory if nothing had to be kept in it and it is still ours."""
        if self.fd is None or self.name is None:
            return
        os.close(self.fd)
        self.fd = None
        if self.kept:
            return
        with contextlib.suppress(OSError):
            now = os.stat(self.name, dir_fd=self.root_fd, follow_symlinks=False)
            if (now.st_dev, now.st_ino) == self.key:
                os.rmdir(self.name, dir_fd=self.root_fd)


def still_the_checked_file(taken: Taken, checked: os.stat_result, cutoff: float) -> bool:
    """Whether what was taken is the file clear_temp checked, and it is still old."""
    now = taken.seen
    return (
        stat.S_ISREG(now.st_mode)
        and (now.st_dev, now.st_ino) == (checked.st_dev, checked.st_ino)
        and now.st_mtime < cutoff
        and now.st_nlink == 1
    )


def _rename_noreplace(src_dir_fd: int, src: str, dst_dir_fd: int, dst: str) -> None:
    """``renameat2(..., RENAME_NOREPLACE)``: Python 3.11's os has no way to ask for it."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # a libc older than glibc 2.28
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    result = renameat2(
        ctypes.c_int(src_dir_fd),
        os.fsencode(src),
        ctypes.c_int(dst_dir_fd),
        os.fsencode(dst),
        ctypes.c_uint(_RENAME_NOREPLACE),
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
