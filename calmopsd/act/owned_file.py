"""The nginx files calmopsd owns: read without following a symlink, replaced atomically,
and put in force by ``nginx -t`` and a verified reload.

``rate_limit_uploads`` writes two such files, the host-wide include file and the
per-organization map file, and both go through the same checks: the directory
exists, the file (if present) is a regular file and not a symlink, it is at most
:data:`FILE_LIMIT` bytes (a larger one is not calmopsd's to replace), and it is
written whole to a temp file beside it, fsynced and renamed over it, keeping its
mode (and its owner where calmopsd may set it).

:func:`apply` is a limit's one path: write, ``nginx -t``, reload verified by effect
(:func:`calmopsd.act.nginx.reload_verified`), and the old bytes put back if any step
fails; :func:`test_and_reload` ends a revert.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from calmopsd.act import nginx
from calmopsd.act.action import Result
from calmopsd.act.sandbox import Sandbox

FILE_LIMIT = 64 << 10  # bytes: a larger file is not one calmopsd wrote or may replace
DEFAULT_MODE = 0o644


class Unusable(Exception):
    """The file (or an undo record) is not one calmopsd may touch; the message says why."""


@dataclass(frozen=True)
class Previous:
    """What an owned file held before a change: its bytes and mode, or None (absent)."""

    path: Path
    data: bytes | None
    mode: int

    @classmethod
    def read(cls, path: Path) -> Previous:
        """The file as it is now; :class:`Unusable` if calmopsd may not replace it."""
        if not path.parent.is_dir():
            raise Unusable(f"{path.parent} is not a directory")
        try:
            info = path.lstat()
        except FileNotFoundError:
            return cls(path, None, DEFAULT_MODE)
        if not stat.S_ISREG(info.st_mode):
            raise Unusable(f"{path} is not a regular file (a symlink or a special file)")
        return cls(path, read_file(path), stat.S_IMODE(info.st_mode))

    @classmethod
    def from_undo(
        cls, undo: dict[str, Any], configured: Path | None, setting: str, *, vouched: bool
    ) -> Previous:
        """Read an undo record back, for the file configured now (``setting`` names it in the
        refusal) and no other — unless the record is ``vouched`` for (the executor matched it
        against the digest in the hash-chained ``action.in_force`` event): then the file it
        names is restored even after the config changed or unset it, so no limit is stranded."""
        path, existed, encoded, mode = (undo.get(k) for k in ("path", "existed", "content", "mode"))
        recorded_path(path, configured, setting, vouched=vouched)
        if not isinstance(existed, bool) or not isinstance(encoded, str):
            raise Unusable("the undo record is malformed")
        if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
            raise Unusable("the undo record's mode is malformed")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Unusable("the undo record's content is not base64") from None
        if len(data) > FILE_LIMIT:
            raise Unusable("the undo record's content is too large")
        # Never restore write or exec bits for group and others, whatever the record says.
        return cls(Path(str(path)), data if existed else None, mode & 0o644)

    def undo(self) -> dict[str, Any]:
        """What :meth:`from_undo` reads back: JSON-able, the bytes in base64."""
        return {
            "path": str(self.path),
            "existed": self.data is not None,
            "content": base64.b64encode(self.data or b"").decode("ascii"),
            "mode": self.mode,
        }

    def restore(self) -> None:
        """Put the bytes back exactly, or remove the file if there was none."""
        if self.data is None:
            self.path.unlink(missing_ok=True)
        else:
            write(self.path, self.data, self.mode)


def recorded_path(path: object, configured: Path | None, setting: str, *, vouched: bool) -> Path:
    """The file an undo record names, if calmopsd may touch it: the one configured as
    ``setting`` now, or any absolute path when the record is vouched for."""
    if configured is not None and path == str(configured):
        return configured
    if vouched and isinstance(path, str) and Path(path).is_absolute():
        return Path(path)
    raise Unusable(f"the undo record's file is not the configured {setting}")


def read_file(path: Path) -> bytes:
    """All of ``path`` (at most FILE_LIMIT bytes, else :class:`Unusable`), never via a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(FILE_LIMIT + 1)
    if len(data) > FILE_LIMIT:
        raise Unusable(f"{path} is larger than {FILE_LIMIT} bytes: not calmopsd's file")
    return data


def current(path: Path) -> bytes | None:
    """What ``path`` holds now (None: absent, unreadable or too large)."""
    try:
        return read_file(path)
    except (OSError, Unusable):
        return None


def write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` atomically: a temp file in the same directory, fsync, rename.

    The temp name ends in ``.tmp`` so an ``include *.conf`` never picks it up;
    the owner of the file it replaces is kept where calmopsd may set it.
    """
    temp = path.with_name(f".{path.name}.calmopsd-{secrets.token_hex(4)}.tmp")
    try:
        info = path.lstat()
        owner: tuple[int, int] | None = (info.st_uid, info.st_gid)
    except FileNotFoundError:
        owner = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fchmod(stream.fileno(), mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):  # unprivileged: it stays ours
                    os.fchown(stream.fileno(), *owner)
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent)


def reason(exc: Exception) -> str:
    """An OSError's own words (``Permission denied``), else the exception's message."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def apply(
    sandbox: Sandbox,
    new: bytes,
    before: Previous,
    ttl: timedelta,
    facts: dict[str, Any],
    undo: dict[str, Any],
    done: str,
) -> Result:
    """Write ``new`` over ``before``; ``nginx -t`` and reload, restoring ``before`` if either
    fails. Dry: the commands are recorded and no file is written."""
    path = before.path
    if sandbox.dry_run:
        nginx.test(sandbox)
        nginx.reload_verified(sandbox)
        detail = f"dry run: {path} would hold the limit for {facts['ttl']}"
        return Result(True, detail, {**facts, "dry_run": True}, undo, ttl)
    try:
        write(path, new, before.mode)
        tested = nginx.test(sandbox)
        if not tested.ok:
            before.restore()
            detail = f"nginx -t failed with the limit: {tested.detail}; {path} restored, no reload"
            return Result(False, detail, facts)
        reloaded = nginx.reload_verified(sandbox)
        if not reloaded.ok:
            return _undo_failed_reload(sandbox, before, reloaded, facts)
    except OSError as exc:  # the disk said no; the undo record still holds the old bytes
        detail = f"{path}: {reason(exc)}; it may hold the limit, see the undo record"
        return Result(False, detail, facts, undo, ttl)
    data = {**facts, **reloaded.data}
    if current(path) != new:
        detail = f"nginx reloaded, but {path} no longer holds the limit as written"
        return Result(False, detail, data, undo, ttl)
    return Result(True, done, data, undo, ttl)


def _undo_failed_reload(
    sandbox: Sandbox, before: Previous, reloaded: Result, facts: dict[str, Any]
) -> Result:
    """The reload did not verify: put the old bytes back, so the file matches what nginx runs.

    Without new workers nginx still runs the old config, so restoring the file is
    enough. If new workers did start, they may carry the limit: reload once more
    with the old file, so no limit stays in force that nothing will revert.
    """
    before.restore()
    detail = f"{reloaded.detail}; {before.path} restored"
    if reloaded.data.get("new_workers"):
        again = nginx.reload_verified(sandbox)
        detail += f"; reloaded again: {again.detail}"
    return Result(False, detail, {**facts, **reloaded.data})


def test_and_reload(sandbox: Sandbox, changed: str, data: dict[str, Any]) -> Result:
    """A revert's last steps: ``nginx -t``, a verified reload (its facts added to ``data``)."""
    tested = nginx.test(sandbox)
    if not tested.ok:
        return Result(False, f"{changed}, but nginx -t failed: {tested.detail}", data)
    reloaded = nginx.reload_verified(sandbox)
    data.update(reloaded.data)
    if not reloaded.ok:
        return Result(False, f"{changed}, but {reloaded.detail}", data)
    return Result(True, changed, data)


def dry_revert(sandbox: Sandbox, detail: str, data: dict[str, Any]) -> Result:
    """A dry revert: the commands are recorded, nothing is written."""
    nginx.test(sandbox)
    nginx.reload_verified(sandbox)
    return Result(True, detail, {**data, "dry_run": True})


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
