"""pause_jobs: pause background jobs for a while — stop PM2 worker apps, create a flag file.

The mechanisms are the config's (``actions.pause_jobs.apps`` and/or
``flag_file``); the only parameter is how long (``ttl``, at most
:data:`LONGEST_PAUSE`). One run, in order:

1. With apps configured: PM2 must be running and know at least one of them, or
   nothing is done (see :mod:`.pm2_restart` for why a missing daemon stops us).
   An app PM2 does not know is left out and named — in the detail, the
   outcome's ``apps_missing`` and the undo's ``missing`` — and the rest is
   paused: one worker renamed or deleted must not keep every other one running.
2. The flag file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` relative to its
   directory, opened one component at a time from ``/`` without following a
   symlink (:mod:`calmopsd.act.nofollow`): never through a symlink anywhere in its
   path, never over an existing file. A regular file already there was not ours —
   it is noted, kept, and left in place at revert; a symlink (dangling or not) or
   anything else there, or a symlink above it, fails the pause, saying which.
3. ``pm2 stop NAME`` for each app that has an instance running, verified by
   every instance being ``stopped``. Apps already stopped (or errored) were not
   running jobs: they are not ours to start again.

A run that fails part-way undoes its own steps before it returns, so a failed
pause leaves nothing behind that no one would revert. ``undo`` lists exactly
what this run changed; :meth:`PauseJobs.revert` starts those apps (verified
online with a pid) and removes the flag file only if it is still a regular file,
reached the same way.
"""

from __future__ import annotations

import errno
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.nofollow import kind, open_parent, why
from calmopsd.act.pm2_restart import Pm2Cli, Pm2Instance, Pm2Unavailable, describe, failure
from calmopsd.act.pm2_restart import name_problem as pm2_name_problem
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import ActionsConfig, PauseJobsConfig
from calmopsd.config.units import format_duration, parse_duration, shown
from calmopsd.model import RefusalReason, SafeAction

LONGEST_PAUSE = timedelta(hours=6)
NOT_RUNNING = frozenset({"stopped", "errored"})  # statuses of an instance that runs no job
_FLAG_OPEN = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class PauseJobs:
    """Stop the configured worker apps and/or create the flag file, for ``ttl``."""

    name = SafeAction.PAUSE_JOBS
    reversible = True

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        section = config.pause_jobs
        _check_configured(section)
        if not isinstance(params, dict) or not set(params) <= {"ttl"}:
            raise Refused(
                RefusalReason.BAD_PARAMETER, "pause_jobs takes one optional parameter: ttl"
            )
        ttl = _ttl(params["ttl"]) if "ttl" in params else section.ttl
        if ttl > LONGEST_PAUSE:
            raise Refused(
                RefusalReason.NOT_CONFIGURED
                if "ttl" not in params
                else RefusalReason.BAD_PARAMETER,
                f"a pause lasts at most {format_duration(LONGEST_PAUSE)} "
                f"(asked for {format_duration(ttl)})",
            )
        return {"ttl": format_duration(ttl)}

    def target(self, params: dict[str, Any]) -> str:
        return "jobs"  # one pause at a time: there is one set of jobs

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        """What undoes the pause: the configured apps running now (and, named only, those
        PM2 does not know), and the flag file if it does not exist yet (one that exists is
        not ours to remove)."""
        section = sandbox.config.pause_jobs
        try:
            ttl = parse_duration(self.validate(params, sandbox.config)["ttl"])
            running, missing = _survey(Pm2Cli(sandbox), section.apps) if section.apps else ([], [])
        except (Refused, Pm2Unavailable):
            return None  # run() fails on the same and says why
        flag = section.flag_file
        ours = flag is not None and _absent(flag)
        return Prepared(_undo(running, missing, flag if ours else None), ttl)

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        try:
            ttl = parse_duration(self.validate(params, sandbox.config)["ttl"])
        except Refused as refused:
            return Result(False, f"refused: {refused.detail}")
        section = sandbox.config.pause_jobs
        try:
            pm2 = Pm2Cli(sandbox) if section.apps else None
            if sandbox.dry_run:
                return _dry_run(pm2, section, ttl)
            return _pause(pm2, sandbox, section, ttl)
        except Pm2Unavailable as unavailable:
            return Result(False, unavailable.detail)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        apps, flag = undo.get("apps") or [], undo.get("flag_file")
        if not isinstance(apps, list) or any(map(pm2_name_problem, apps)):
            return Result(False, f"not an undo of pause_jobs: apps {shown(apps)}")
        if not isinstance(flag, str | None):
            return Result(False, f"not an undo of pause_jobs: flag_file {shown(flag)}")
        if sandbox.dry_run:
            return _dry_revert(sandbox, apps, flag)
        problems: list[str] = []
        started: dict[str, list[int]] = {}
        if apps:
            try:
                started = _start_all(Pm2Cli(sandbox), apps, problems)
            except Pm2Unavailable as unavailable:
                problems.append(unavailable.detail)
        removed = _remove_flag(Path(flag), problems) if flag else False
        data = {"apps_started": started, "flag_file_removed": removed}
        if problems:
            return Result(False, "; ".join(problems), data)
        return Result(True, _revert_detail(started, flag if removed else None), data)


PAUSE_JOBS = PauseJobs()


def _check_configured(section: PauseJobsConfig) -> None:
    if not section.apps and section.flag_file is None:
        raise Refused(
            RefusalReason.NOT_CONFIGURED, "actions.pause_jobs names no apps and no flag_file"
        )
    for app in section.apps:
        problem = pm2_name_problem(app)
        if problem is not None:
            raise Refused(RefusalReason.NOT_CONFIGURED, f"actions.pause_jobs.apps: {problem}")


def _ttl(value: Any) -> timedelta:
    if not isinstance(value, str) or len(value) > 32 or not value.isascii():
        raise Refused(
            RefusalReason.BAD_PARAMETER, f"ttl must be a duration like 30m (got {shown(value)})"
        )
    try:
        ttl = parse_duration(value)
    except ValueError as exc:
        raise Refused(RefusalReason.BAD_PARAMETER, f"ttl {exc}") from None
    if ttl <= timedelta(0):
        raise Refused(RefusalReason.BAD_PARAMETER, "ttl must be longer than 0s")
    return ttl


def _pause(
    pm2: Pm2Cli | None, sandbox: Sandbox, section: PauseJobsConfig, ttl: timedelta
) -> Result:
    running, missing = _survey(pm2, section.apps) if pm2 is not None else ([], [])
    flag = section.flag_file
    stopped: list[str] = []
    ours = False
    if flag is not None:
        try:
            ours = _create_flag(flag, sandbox.clock.now())
        except OSError as exc:
            return Result(False, f"could not create {flag}: {why(exc)}")
    undo = _undo(stopped, missing, flag if ours else None)
    data = {
        "apps_stopped": stopped,
        "apps_missing": missing,
        "flag_file": str(flag) if flag is not None else None,
        "flag_file_existed": flag is not None and not ours,
    }
    try:
        problem = _stop_all(pm2, running, stopped) if pm2 is not None else None
    except Pm2Unavailable as unavailable:  # the daemon went away part-way
        problem = unavailable.detail
    if problem is not None:
        return _roll_back(problem, undo, sandbox, data)
    detail = _pause_detail(stopped, missing, flag, ours, ttl)
    return Result(True, detail, data, undo=undo, lasts=ttl)


def _survey(pm2: Pm2Cli, apps: list[str]) -> tuple[list[str], list[str]]:
    """(the apps with an instance running a job, the apps PM2 does not know);
    :class:`Pm2Unavailable` when it knows none of them: then the config is wrong for this
    host, and a pause of nothing would be reported as one that worked."""
    running, missing = [], []
    for app in apps:
        found = pm2.instances(app)
        if not found:
            missing.append(app)
        elif any(i.status not in NOT_RUNNING for i in found):
            running.append(app)
    if len(missing) == len(apps):
        raise Pm2Unavailable(f"{_names(missing)} not known to PM2: nothing was paused")
    return running, missing


def _undo(apps: list[str], missing: list[str], flag: Path | None) -> dict[str, Any]:
    """The undo record: ``apps`` is what revert starts (the list is filled as each app is
    stopped); ``missing``, only when some were, names what could not be paused."""
    undo: dict[str, Any] = {"apps": apps, "flag_file": str(flag) if flag is not None else None}
    return {**undo, "missing": missing} if missing else undo


def _stop_all(pm2: Pm2Cli, apps: list[str], stopped: list[str]) -> str | None:
    """Stop each app, appending it to ``stopped`` once asked; what went wrong, or None."""
    for app in apps:
        done = pm2.run("stop", app)
        if not done.succeeded:
            return f"pm2 stop {app} {failure(done)}"
        stopped.append(app)
        held, found = pm2.wait(app, _all_stopped, settle=0.0)
        if not held:
            return f"{app} did not stop: {describe(found)}"
    return None


def _start_all(pm2: Pm2Cli, apps: list[str], problems: list[str]) -> dict[str, list[int]]:
    """``pm2 start`` each app not already online (``pm2 start`` restarts an online one)."""
    started: dict[str, list[int]] = {}
    for app in apps:
        found = pm2.instances(app)
        if not found:
            problems.append(f"{app} is not known to PM2 any more")
            continue
        if not _all_online(found):
            done = pm2.run("start", app)
            if not done.succeeded:
                problems.append(f"pm2 start {app} {failure(done)}")
                continue
        held, found = pm2.wait(app, _all_online)
        started[app] = sorted(i.pid for i in found if i.pid is not None)
        if not held:
            problems.append(f"{app} not back online: {describe(found)}")
    return started


def _roll_back(
    problem: str, undo: dict[str, Any], sandbox: Sandbox, data: dict[str, Any]
) -> Result:
    undone = PAUSE_JOBS.revert(undo, sandbox)
    how = "undone" if undone.ok else f"undoing it failed too: {undone.detail}"
    return Result(False, f"{problem}; {how}", {**data, "rolled_back": undone.data})


def _dry_run(pm2: Pm2Cli | None, section: PauseJobsConfig, ttl: timedelta) -> Result:
    if pm2 is not None:
        pm2.run("jlist")
        for app in section.apps:
            pm2.run("stop", app)
    would = [f"stop {', '.join(section.apps)}"] if section.apps else []
    would += [f"create {section.flag_file}"] if section.flag_file else []
    detail = f"dry run: would {' and '.join(would)} for {format_duration(ttl)}"
    return Result(True, detail, {"apps_stopped": [], "flag_file": None}, lasts=ttl)


def _dry_revert(sandbox: Sandbox, apps: list[str], flag: str | None) -> Result:
    try:
        if apps:
            pm2 = Pm2Cli(sandbox)
            for app in apps:
                pm2.run("start", app)
    except Pm2Unavailable as unavailable:
        return Result(False, unavailable.detail)
    would = [f"start {', '.join(apps)}"] if apps else []
    would += [f"remove {flag}"] if flag else []
    return Result(True, f"dry run: would {' and '.join(would) or 'do nothing'}")


def _absent(path: Path) -> bool:
    """Whether nothing is at ``path``, reached without a symlink; False when that cannot be
    told (``run`` then fails on the same and says why)."""
    try:
        parent, name = open_parent(path)
    except OSError:
        return False
    try:
        os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    finally:
        os.close(parent)
    return False


def _create_flag(path: Path, now: datetime) -> bool:
    """Create the flag file; False when a regular file is there already (not ours).

    Anything else there — a symlink, dangling or not, a directory, a FIFO — is an
    OSError: the app would not see the flag calmopsd vouches for, or would see one
    calmopsd did not make.
    """
    parent, name = open_parent(path)
    try:
        try:
            fd = os.open(name, _FLAG_OPEN, 0o644, dir_fd=parent)
        except FileExistsError:
            found = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
            if stat.S_ISREG(found):
                return False
            raise _not_a_flag(found) from None
        except OSError as exc:  # said for the whole path, not the bare name
            raise OSError(exc.errno, exc.strerror) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as flag:
                flag.write(f"jobs paused by calmopsd at {now:%Y-%m-%dT%H:%M:%S%z}\n")
        except OSError:
            os.unlink(name, dir_fd=parent)  # ours, just created: a half-written flag would
            raise  # outlive the failure
        return True
    finally:
        os.close(parent)


def _not_a_flag(mode: int) -> OSError:
    if stat.S_ISLNK(mode):
        return OSError(errno.EEXIST, "a symlink is there (never followed)")
    return OSError(errno.EEXIST, f"{kind(mode)} is there, not a regular file")


def _remove_flag(path: Path, problems: list[str]) -> bool:
    """Remove our flag file if it is still a regular file, reached without a symlink
    anywhere in its path (never a symlink's target)."""
    try:
        parent, name = open_parent(path)
    except FileNotFoundError:
        return False  # its directory is gone, and the flag with it
    except OSError as exc:
        problems.append(f"{path} not removed: {why(exc)}")
        return False
    try:
        return _remove_in(parent, name, path, problems)
    finally:
        os.close(parent)


def _remove_in(parent: int, name: str, path: Path, problems: list[str]) -> bool:
    try:
        found = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False  # removed by someone already: the pause is over either way
    except OSError as exc:
        problems.append(f"{path}: {exc.strerror or exc}")
        return False
    if not stat.S_ISREG(found):
        problems.append(f"{path} is no longer a regular file: left in place")
        return False
    try:
        os.unlink(name, dir_fd=parent)
    except OSError as exc:
        problems.append(f"could not remove {path}: {exc.strerror or exc}")
        return False
    return True


def _all_stopped(found: list[Pm2Instance]) -> bool:
    return all(i.status == "stopped" for i in found)


def _all_online(found: list[Pm2Instance]) -> bool:
    return all(i.status == "online" and i.pid is not None for i in found)


def _pause_detail(
    stopped: list[str], missing: list[str], flag: Path | None, ours: bool, ttl: timedelta
) -> str:
    parts = [f"stopped {', '.join(stopped)}"] if stopped else []
    if flag is not None:
        parts.append(f"created {flag}" if ours else f"{flag} already existed (kept)")
    done = "; ".join(parts) or "nothing was running"
    if missing:
        done += f"; {_names(missing)} not known to PM2 (not paused)"
    return f"jobs paused for {format_duration(ttl)}: {done}"


def _names(apps: list[str]) -> str:
    return f"{apps[0]} is" if len(apps) == 1 else f"{', '.join(apps)} are"


def _revert_detail(started: dict[str, list[int]], removed: str | None) -> str:
    parts = [f"started {', '.join(started)}"] if started else []
    parts += [f"removed {removed}"] if removed else []
    return "jobs resumed: " + ("; ".join(parts) or "nothing to undo")
