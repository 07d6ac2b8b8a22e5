"""Take a file out of the app's reach before deleting it (clear_temp's last step).

Linux cannot unlink by file handle: between clear_temp's age check and
``unlink(name)`` the app may rename a fresh upload onto that name, and the
fresh upload would be deleted. So the checked name is first renamed into a
private directory of ours (same filesystem: a rename is atomic), the file that
arrived there is checked again — same inode, still old, one link, regular —
and only then unlinked. Anything else that arrived is put back under its name.

The private directory sits in the configured temp dir (the only place known to
be on the same filesystem), is made mode 0700 with a random name, and is
removed when the run ends. When it cannot be made because the disk is full
(exactly when clear_temp is wanted), files are unlinked directly as before,
and the result says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass

PREFIX = ".calmopsd-clearing-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FULL = {errno.ENOSPC, errno.EDQUOT}


class QuarantineUnavailable(OSError):
    """The private directory could not be made for want of space: unlink directly."""


@dataclass
class Taken:
    """What a checked name held at the moment it was taken."""

    name: str  # its name inside the private directory
    seen: os.stat_result


class Quarantine:
    """A private directory inside one temp dir; opened on first use, removed by close()."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.name: str | None = None
        self.fd: int | None = None
        self.key: tuple[int, int] | None = None
        self.kept = 0  # files left inside because their name was taken meanwhile
        self._count = 0

    def _open(self) -> int:
        if self.fd is not None:
            return self.fd
        name = PREFIX + secrets.token_hex(8)
        try:
            os.mkdir(name, 0o700, dir_fd=self.root_fd)
        except OSError as error:
            if error.errno in _FULL:
                raise QuarantineUnavailable(error.errno, error.strerror) from error
            raise
        fd = os.open(name, _DIR_FLAGS, dir_fd=self.root_fd)
        seen = os.fstat(fd)
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

    def put_back(self, taken: Taken, dir_fd: int, name: str) -> bool:
        """Return a file that was not ours to delete to its name; False if the name is taken.

        A hard link never replaces an existing name, so a newer file there is safe;
        what cannot be hard-linked (a directory) is renamed back only onto a free name.
        """
        assert self.fd is not None  # noqa: S101
        try:
            os.link(taken.name, name, src_dir_fd=self.fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            self.kept += 1
            return False
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                self.kept += 1
                return False
            os.rename(taken.name, name, src_dir_fd=self.fd, dst_dir_fd=dir_fd)
            return True
        os.unlink(taken.name, dir_fd=self.fd)
        return True

    def close(self) -> None:
        """Remove the private directory if nothing had to be kept in it."""
        if self.fd is None or self.name is None:
            return
        os.close(self.fd)
        self.fd = None
        if not self.kept:
            with contextlib.suppress(OSError):
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
