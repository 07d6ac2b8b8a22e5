"""The audit head file's bytes: two checksummed slots, overwritten in place.

Why not a temp file, fsync, rename and fsync of the directory for every write (as
before issue 16)? That is two flushes and a journal commit for a new inode, and the
head is written twice per commit group. Overwriting blocks the file already has needs
only its data flushed (``fdatasync``: no size or block changes to log). A write in
place can be torn by a power cut, so the file holds two slots, each in a 4 KiB block of
its own with a generation number and a checksum. A write goes to the slot not holding
the newest generation, so the newest intact slot is always one whole write, and a
reader takes it. Each write is flushed before the COMMIT it announces, so whichever
slot survives describes a state the database can be in.

The file is created whole once per process (temp file and rename, as before): a file
left by an older calmopsd, put back by hand or replaced under a running daemon is never
half overwritten. This module knows bytes and records (plain dicts), not the chain.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

SLOT = 4096  # one filesystem block and page each: a torn write touches one slot only
SIZE = 2 * SLOT


def encode(record: dict[str, Any], gen: int) -> bytes:
    """One slot: the record and its generation as a JSON line with a checksum, padded."""
    text = json.dumps({**record, "gen": gen})
    line = f'{text[:-1]}, "sum": "{_sum(text)}"}}'.encode()
    if len(line) >= SLOT:
        raise ValueError(f"a head record of {len(line)} bytes does not fit a slot")
    return line + _PADDING[len(line) :]


_PADDING = b" " * (SLOT - 1) + b"\n"


def decode(raw: bytes) -> tuple[dict[str, Any], bool] | None:
    """The newest intact slot's record, and whether the other slot is damaged (a write
    torn by a crash, or an edit); None when ``raw`` is not a slotted file (a single JSON
    document, as older calmopsd wrote). ValueError when no slot is intact."""
    if len(raw) != SIZE:
        return None
    intact = [slot for slot in (_slot(raw[:SLOT]), _slot(raw[SLOT:])) if slot is not None]
    if not intact:
        raise ValueError("neither slot is intact")
    newest = max(intact, key=lambda slot: int(slot["gen"]))
    del newest["gen"]
    return newest, len(intact) == 1


def _slot(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw.decode("utf-8"))
        claimed = data.pop("sum")
        intact = isinstance(data.get("gen"), int) and claimed == _sum(json.dumps(data))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return data if intact else None


def _sum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class HeadFile:
    """Writes records durably to one head file: whole the first time, then in place.

    The file made is kept open (one ``stat`` of the path per write checks it is still
    that file, instead of an open, an ``fstat`` and a close): call :meth:`close`.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None  # the file this object created, while it is still there
        self._identity: tuple[int, int] | None = None  # its (st_dev, st_ino)
        self._gen = 0

    def write(self, record: dict[str, Any]) -> None:
        """Make ``record`` the file's newest slot and flush it; OSError if that fails."""
        if not self._overwrite(record):
            self.create(record)

    def _overwrite(self, record: dict[str, Any]) -> bool:
        """Overwrite the older slot of our own file in place; False if it is not ours now."""
        if self._fd is None:
            return False
        try:
            found = self.path.lstat()
        except FileNotFoundError:
            return False
        if (found.st_dev, found.st_ino) != self._identity or found.st_size != SIZE:
            return False  # replaced or cut since: write a whole new file instead
        gen = self._gen + 1
        payload = encode(record, gen)
        if os.pwrite(self._fd, payload, (gen % 2) * SLOT) != len(payload):
            raise OSError(f"short write to {self.path}")
        os.fdatasync(self._fd)
        self._gen = gen
        return True

    def create(self, record: dict[str, Any]) -> None:
        """A whole new file holding ``record`` in both slots: temp file, fsync, rename,
        fsync of the directory."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        gen = self._gen + 1
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a temp file left by a crash keeps its own mode through O_TRUNC
            os.write(fd, encode(record, gen) * 2)
            os.fsync(fd)
            made = os.fstat(fd)
            os.replace(tmp, self.path)
            dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            os.close(fd)
            raise
        self.close()
        self._fd, self._identity, self._gen = fd, (made.st_dev, made.st_ino), gen

    def close(self) -> None:
        """Let go of the file (a later write makes it whole again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._identity = None
