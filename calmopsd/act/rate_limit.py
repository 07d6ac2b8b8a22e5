"""rate_limit_uploads: fill calmopsd's nginx include file with a ``limit_req``, for a while.

The upload ``location``s include one file that calmopsd owns
(``actions.rate_limit_uploads.include_file``); empty (or absent) means no
limit. Running the action writes it from one fixed template, ``nginx -t``,
and reloads; reverting puts the previous bytes back exactly (or removes the
file if there was none), ``nginx -t`` and reloads again. Every reload is
verified by its effect (:func:`calmopsd.act.nginx.reload_verified`).

Parameters: only ``ttl`` (optional; a duration such as ``30m``, longer than
0s and at most 6h; default ``actions.rate_limit_uploads.ttl``). There is
deliberately no ``rate``: the rate lives in ``limit_req_zone`` in nginx's
``http`` block, which calmopsd does not own, and a ``limit_req`` line cannot
override it — a ``rate`` parameter would be recorded in the audit log while
another rate applied. Zone and burst come from the config, so a request only
chooses how long the limit lasts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from calmopsd.act import nginx
from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import ActionsConfig, RateLimitUploadsConfig
from calmopsd.config.units import format_duration, parse_duration, shown
from calmopsd.model import RefusalReason, SafeAction

TEMPLATE = "limit_req zone={zone}{burst} nodelay;\nlimit_req_status 429;\n"
LONGEST_TTL = timedelta(hours=6)
FILE_LIMIT = 64 << 10  # bytes: a larger include file is not one calmopsd wrote or may replace
DEFAULT_MODE = 0o644
# ASCII digits only (``\d`` would take ``١٠``), no spaces; unit order is parse_duration's check.
_TTL = re.compile(r"(?:[0-9]{1,5}(?:ms|[dhms]))+", re.ASCII)


def content(settings: RateLimitUploadsConfig) -> bytes:
    """The include file's bytes while the limit is in force: the one fixed template.

    nginx refuses ``burst=0`` ("invalid burst value"); no burst is its default,
    so a configured burst of 0 leaves the word out.
    """
    burst = f" burst={settings.burst}" if settings.burst else ""
    return TEMPLATE.format(zone=settings.zone, burst=burst).encode("ascii")


class RateLimitUploads:
    """The :class:`~calmopsd.act.action.Action` for :attr:`SafeAction.RATE_LIMIT_UPLOADS`."""

    name = SafeAction.RATE_LIMIT_UPLOADS
    reversible = True

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        settings = config.rate_limit_uploads
        if settings.include_file is None:
            raise Refused(
                RefusalReason.NOT_CONFIGURED, "actions.rate_limit_uploads.include_file is not set"
            )
        if not isinstance(params, dict):
            raise Refused(RefusalReason.BAD_PARAMETER, "parameters must be a mapping")
        unknown = [k for k in params if k != "ttl"]
        if "rate" in unknown:
            raise Refused(
                RefusalReason.BAD_PARAMETER,
                "rate is not a parameter: the rate is set by limit_req_zone in nginx's "
                "http block, which calmopsd does not own; only ttl may be given",
            )
        if unknown:
            named = ", ".join(_described(k) for k in unknown[:5])
            raise Refused(
                RefusalReason.BAD_PARAMETER, f"unknown parameter {named}: only ttl may be given"
            )
        ttl = _ttl(params["ttl"]) if "ttl" in params else settings.ttl
        return {"ttl": format_duration(ttl)}

    def target(self, params: dict[str, Any]) -> str:
        return "nginx"

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        """The include file as it is now: what the revert puts back."""
        settings = sandbox.config.rate_limit_uploads
        if settings.include_file is None:
            return None
        try:
            before = _Previous.read(settings.include_file)
        except (_Unusable, OSError):
            return None  # run() fails on the same and says why
        return Prepared(before.undo(), parse_duration(params["ttl"]))

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        """Write the template, ``nginx -t``, reload; on any failure put the old bytes back."""
        settings = sandbox.config.rate_limit_uploads
        if settings.include_file is None:
            return Result(False, "actions.rate_limit_uploads.include_file is not set")
        path, ttl = settings.include_file, parse_duration(params["ttl"])
        try:
            before = _Previous.read(path)
        except (_Unusable, OSError) as exc:
            return Result(False, f"cannot use {path}: {_reason(exc)}")
        if before.data == content(settings):  # stacked, its revert would leave the limit on
            return Result(False, f"{path} already holds the limit: one is in force")
        facts: dict[str, Any] = {
            "file": str(path),
            "zone": settings.zone,
            "burst": settings.burst,
            "ttl": format_duration(ttl),
        }
        if sandbox.dry_run:  # the commands are recorded; no file is written
            nginx.test(sandbox)
            nginx.reload_verified(sandbox)
            detail = f"dry run: {path} would hold the limit for {format_duration(ttl)}"
            return Result(True, detail, {**facts, "dry_run": True}, before.undo(), ttl)
        try:
            return _limit(sandbox, content(settings), before, ttl, facts)
        except OSError as exc:  # the disk said no; the undo record still holds the old bytes
            detail = f"{path}: {_reason(exc)}; it may hold the limit, see the undo record"
            return Result(False, detail, facts, before.undo(), ttl)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        """Put the file's previous bytes back exactly (or remove it), ``nginx -t``, reload."""
        try:
            previous = _Previous.from_undo(
                undo, sandbox.config.rate_limit_uploads, vouched=sandbox.undo_vouched
            )
        except _Unusable as exc:
            return Result(False, f"cannot revert: {exc}")
        path, data = previous.path, {"file": str(previous.path)}
        if sandbox.dry_run:
            nginx.test(sandbox)
            nginx.reload_verified(sandbox)
            return Result(True, f"dry run: {path} would be restored", {**data, "dry_run": True})
        try:
            previous.restore()
        except OSError as exc:
            return Result(False, f"cannot restore {path}: {_reason(exc)}", data)
        tested = nginx.test(sandbox)
        if not tested.ok:
            return Result(False, f"{path} restored, but nginx -t failed: {tested.detail}", data)
        reloaded = nginx.reload_verified(sandbox)
        data.update(reloaded.data)
        if not reloaded.ok:
            return Result(False, f"{path} restored, but {reloaded.detail}", data)
        if _current(path) != previous.data:
            return Result(False, f"nginx reloaded, but {path} changed again meanwhile", data)
        return Result(True, f"upload limit removed: {path} restored, nginx reloaded", data)


RATE_LIMIT_UPLOADS = RateLimitUploads()


def _limit(
    sandbox: Sandbox, new: bytes, before: _Previous, ttl: timedelta, facts: dict[str, Any]
) -> Result:
    """Write ``new``; ``nginx -t`` and reload, restoring ``before`` if either fails."""
    path = before.path
    _write(path, new, before.mode)
    tested = nginx.test(sandbox)
    if not tested.ok:
        before.restore()
        detail = f"nginx -t failed with the limit: {tested.detail}; {path} restored, no reload"
        return Result(False, detail, facts)
    reloaded = nginx.reload_verified(sandbox)
    if not reloaded.ok:
        return _undo_failed_reload(sandbox, before, reloaded, facts)
    data = {**facts, **reloaded.data}
    if _current(path) != new:
        detail = f"nginx reloaded, but {path} no longer holds the limit's template"
        return Result(False, detail, data, before.undo(), ttl)
    detail = f"uploads limited for {facts['ttl']} ({new.decode().splitlines()[0]})"
    return Result(True, detail, data, before.undo(), ttl)


def _undo_failed_reload(
    sandbox: Sandbox, before: _Previous, reloaded: Result, facts: dict[str, Any]
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


def _ttl(value: object) -> timedelta:
    """A ttl parameter: a short ASCII duration string, longer than 0s and at most 6h."""
    if not isinstance(value, str) or len(value) > 16 or not _TTL.fullmatch(value):
        hint = f"ttl must be a duration like 30m or 2h (got {_described(value)})"
        raise Refused(RefusalReason.BAD_PARAMETER, hint)
    try:
        ttl = parse_duration(value)
    except ValueError as exc:
        raise Refused(RefusalReason.BAD_PARAMETER, f"ttl {exc}") from None
    if not timedelta(0) < ttl <= LONGEST_TTL:
        longest = format_duration(LONGEST_TTL)
        hint = f"ttl must be longer than 0s and at most {longest} (got {shown(value)})"
        raise Refused(RefusalReason.BAD_PARAMETER, hint)
    return ttl


def _described(value: object) -> str:
    """``shown`` for whatever a caller sent, without rendering a huge number."""
    if isinstance(value, str | bool | float) or value is None:
        return shown(value)
    if isinstance(value, int):
        return shown(value) if value.bit_length() < 64 else "a very large number"
    return type(value).__name__


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class _Unusable(Exception):
    """The include file (or an undo record) is not one calmopsd may touch; the message says why."""


@dataclass(frozen=True)
class _Previous:
    """What the include file held before the limit: its bytes and mode, or None (absent)."""

    path: Path
    data: bytes | None
    mode: int

    @classmethod
    def read(cls, path: Path) -> _Previous:
        if not path.parent.is_dir():
            raise _Unusable(f"{path.parent} is not a directory")
        try:
            info = path.lstat()
        except FileNotFoundError:
            return cls(path, None, DEFAULT_MODE)
        if not stat.S_ISREG(info.st_mode):
            raise _Unusable(f"{path} is not a regular file (a symlink or a special file)")
        return cls(path, _read(path), stat.S_IMODE(info.st_mode))

    @classmethod
    def from_undo(
        cls, undo: dict[str, Any], settings: RateLimitUploadsConfig, *, vouched: bool = False
    ) -> _Previous:
        """Read an undo record back, for the include file configured now and no other —
        unless the record is ``vouched`` for (the executor matched it against the digest in
        the hash-chained ``action.in_force`` event): then the file it names is restored
        even after the config changed or unset ``include_file``, so no limit is stranded."""
        path, existed, encoded, mode = (undo.get(k) for k in ("path", "existed", "content", "mode"))
        configured = settings.include_file is not None and path == str(settings.include_file)
        recorded = vouched and isinstance(path, str) and Path(path).is_absolute()
        if not (configured or recorded):
            raise _Unusable("the undo record's file is not the configured include_file")
        if not isinstance(existed, bool) or not isinstance(encoded, str):
            raise _Unusable("the undo record is malformed")
        if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
            raise _Unusable("the undo record's mode is malformed")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _Unusable("the undo record's content is not base64") from None
        if len(data) > FILE_LIMIT:
            raise _Unusable("the undo record's content is too large")
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
            _write(self.path, self.data, self.mode)


def _read(path: Path) -> bytes:
    """All of ``path`` (at most FILE_LIMIT bytes, else :class:`_Unusable`), never via a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(FILE_LIMIT + 1)
    if len(data) > FILE_LIMIT:
        raise _Unusable(f"{path} is larger than {FILE_LIMIT} bytes: not calmopsd's file")
    return data


def _current(path: Path) -> bytes | None:
    """What ``path`` holds now (None: absent, unreadable or too large)."""
    try:
        return _read(path)
    except (OSError, _Unusable):
        return None


def _write(path: Path, data: bytes, mode: int) -> None:
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


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
