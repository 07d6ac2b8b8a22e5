"""clear_temp: delete old regular files under a configured temp upload directory.

Only regular files older than ``actions.clear_temp.min_age``; never a directory,
never through a symlink, never onto another filesystem. It cannot be undone.
This module is the action: its parameter (a dir from ``actions.clear_temp.dirs``)
and its result. The walk that keeps the contract, and its rules, are in
:mod:`calmopsd.act.temp_walk`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.sandbox import Sandbox
from calmopsd.act.temp_walk import MAX_DEPTH, MAX_ENTRIES, MOUNTINFO, Walk, clear
from calmopsd.config.actions import ActionsConfig
from calmopsd.model import RefusalReason, SafeAction

MAX_PATH = 4096  # characters in a requested dir, as PATH_MAX
ALL_DIRS = "all temp dirs"


class ClearTemp:
    """The clear_temp action: params ``{}`` (every configured dir) or ``{"dir": PATH}``."""

    name = SafeAction.CLEAR_TEMP
    reversible = False  # a deleted file cannot be brought back

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_depth: int = MAX_DEPTH,
        mountinfo: Path = MOUNTINFO,
    ) -> None:
        # Seams for tests: small bounds reach the limits with small trees, and an empty
        # mountinfo shows the device check holding on its own.
        self.max_entries = max_entries
        self.max_depth = max_depth
        self.mountinfo = mountinfo

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        """``{"dir": PATH}``, PATH exactly a configured dir (normalized as text); or ``{}``."""
        extra = sorted(str(key) for key in params if key != "dir")
        if extra:
            raise Refused(
                RefusalReason.BAD_PARAMETER, f"clear_temp takes only 'dir', not {', '.join(extra)}"
            )
        allowed = _configured(config)
        if not allowed:
            raise Refused(RefusalReason.NOT_CONFIGURED, "actions.clear_temp.dirs is empty")
        if "dir" not in params:
            return {}
        wanted = _normalized(params["dir"])
        if wanted not in allowed:
            raise Refused(
                RefusalReason.NOT_ALLOWED, f"{_quoted(wanted)} is not in actions.clear_temp.dirs"
            )
        return {"dir": wanted}

    def target(self, params: dict[str, Any]) -> str:
        return str(params.get("dir", ALL_DIRS))

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        return None  # not reversible

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        """Walk each dir and delete its old regular files; ok only if every walk completed."""
        try:
            checked = self.validate(params, sandbox.config)  # again: the config may have changed
        except Refused as refusal:
            return Result(False, refusal.detail, {"refused": refusal.reason})
        dirs = [checked["dir"]] if "dir" in checked else _configured(sandbox.config)
        cutoff = sandbox.clock.now() - sandbox.config.clear_temp.min_age
        walk = Walk(
            cutoff.timestamp(), sandbox.dry_run, self.max_entries, self.max_depth, self.mountinfo
        )
        for directory in dirs:
            walk.label = f"{directory}/" if len(dirs) > 1 else ""
            clear(directory, walk)
        return _result(dirs, walk)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        return Result(False, "clear_temp deletes files and cannot be undone")


CLEAR_TEMP = ClearTemp()


def _configured(config: ActionsConfig) -> list[str]:
    dirs = [str(directory) for directory in config.clear_temp.dirs]
    for directory in dirs:
        if ".." in directory.split("/"):
            raise Refused(
                RefusalReason.NOT_CONFIGURED, f"actions.clear_temp.dirs: {directory} has '..'"
            )
    return dirs


def _normalized(value: object) -> str:
    """The requested dir as text without '.', '//' or a trailing '/'; symlinks are not resolved."""
    if not isinstance(value, str):
        raise Refused(RefusalReason.BAD_PARAMETER, "dir must be a path, as a string")
    if len(value) > MAX_PATH:
        raise Refused(RefusalReason.BAD_PARAMETER, f"dir is longer than {MAX_PATH} characters")
    if "\0" in value:
        raise Refused(RefusalReason.BAD_PARAMETER, "dir must not contain a NUL character")
    if not value.startswith("/"):
        raise Refused(
            RefusalReason.BAD_PARAMETER, f"dir must be an absolute path, not {_quoted(value)}"
        )
    if ".." in value.split("/"):
        raise Refused(RefusalReason.BAD_PARAMETER, f"dir must not contain '..': {_quoted(value)}")
    return str(PurePosixPath(value))


def _result(dirs: list[str], walk: Walk) -> Result:
    data: dict[str, Any] = {
        "dirs": dirs,
        "files": walk.files,
        "bytes": walk.bytes,
        "removed": walk.removed,
        "skipped_symlinks": walk.skipped_symlinks,
        "skipped_other_fs": walk.skipped_other_fs,
        "skipped_hardlinks": walk.skipped_hardlinks,
        "young": walk.young,
        "changed": walk.changed,
        "unlinked_directly": walk.unlinked_directly,
        "left_aside": walk.left_aside,
        "dry_run": walk.dry_run,
        "bounds": walk.bounds(),
        "failed": walk.failed,
        "errors": walk.errors,
    }
    verb = "would remove" if walk.dry_run else "removed"
    files = f"{walk.files} file{'' if walk.files == 1 else 's'}"
    done = f"{verb} {files} ({walk.bytes} bytes) from {', '.join(dirs)}"
    if walk.dry_run:
        done = f"dry run: {done}"
    if walk.left_aside:
        done += f"; left for a person: {', '.join(walk.left_aside)} (kept by an earlier run)"
    if not walk.stopped and not walk.too_deep and not walk.failed:
        return Result(True, done, data)
    problems = walk.bounds() + walk.errors[:3]
    if walk.failed > 3:
        problems.append(f"{walk.failed - 3} more failures")
    return Result(False, f"incomplete: {'; '.join(problems)}; {done}", data)


def _quoted(value: str, limit: int = 80) -> str:
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "…"
