"""The places the actions and the store use exist as they must.

- ``actions.clear_temp.dirs``: each a directory, reached without a symlink anywhere
  (opened one component at a time as the walk does, :mod:`calmopsd.act.nofollow`);
- ``actions.pause_jobs.flag_file``: its directory likewise, and the flag, if present,
  a regular file;
- ``actions.rate_limit_uploads``' include and map files: present (nginx includes them),
  regular, not symlinks, in a directory;
- ``state_dir``: a directory of the daemon's user's alone (0700).

Seen as this process sees them (root, usually): what the helper or the daemon may do
there is the ``enforce`` check's.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from calmopsd.act.nofollow import kind, open_dir, why
from calmopsd.act.owned_file import FILE_LIMIT
from calmopsd.doctor.finding import Finding, fail, ok, warn
from calmopsd.doctor.install import Install
from calmopsd.doctor.user import group_name, user_name


def temp_dirs(install: Install) -> list[Finding]:
    dirs = install.loaded.actions.clear_temp.dirs
    if not dirs:
        return [ok("temp_dirs", "none listed (actions.clear_temp.dirs): clear_temp never runs")]
    found: list[Finding] = []
    for index, directory in enumerate(dirs):
        key = f"actions.clear_temp.dirs[{index}]"
        problem = _unreachable(directory)
        if problem is None:
            found.append(ok("temp_dirs", f"{directory} is a directory, reached without symlinks"))
        else:
            found.append(fail("temp_dirs", f"{key}: {problem}", _dir_fix(install, directory, key)))
    return found


def pause_flag(install: Install) -> list[Finding]:
    flag = install.loaded.actions.pause_jobs.flag_file
    if flag is None:
        return [ok("pause_flag", "no flag file (actions.pause_jobs.flag_file)")]
    key = "actions.pause_jobs.flag_file"
    problem = _unreachable(flag.parent)
    if problem is not None:
        return [fail("pause_flag", f"{key}: {problem}", _dir_fix(install, flag.parent, key))]
    try:
        info = flag.lstat()
    except FileNotFoundError:
        return [ok("pause_flag", f"{flag.parent} is there for the flag {flag.name}")]
    if not stat.S_ISREG(info.st_mode):
        return [fail("pause_flag", f"{flag} is {kind(info.st_mode)}: a pause would fail",
                     f"rm {shlex.quote(str(flag))}")]  # fmt: skip
    return [warn("pause_flag", f"{flag} is there now: background jobs are paused",
                 "calmopsd actions active (shows the pause and when it ends)")]  # fmt: skip


def rate_limit_files(install: Install) -> list[Finding]:
    limit = install.loaded.actions.rate_limit_uploads
    files = [
        ("actions.rate_limit_uploads.include_file", limit.include_file),
        ("actions.rate_limit_uploads.organizations_map_file", limit.organizations_map_file),
    ]
    configured = [(key, path) for key, path in files if path is not None]
    if not configured:
        return [ok("rate_limit", "no include or map file: rate_limit_uploads never runs")]
    return [_owned_file(install, key, path) for key, path in configured]


def _owned_file(install: Install, key: str, path: Path) -> Finding:
    problem = _unreachable(path.parent)
    if problem is not None:
        return fail("rate_limit", f"{key}: {problem}", _dir_fix(install, path.parent, key))
    quoted = shlex.quote(str(path))
    try:
        info = path.lstat()
    except FileNotFoundError:
        return warn("rate_limit", f"{key}: {path} does not exist: nginx cannot include it",
                    f"install -m 0644 /dev/null {quoted} (empty: no limit), and include it in "
                    "nginx as config/calmops.yaml says")  # fmt: skip
    except OSError as exc:
        return fail("rate_limit", f"{key}: {path}: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return fail(
            "rate_limit",
            f"{key}: {path} is {kind(info.st_mode)}, not a file calmopsd may replace",
            f"rm {quoted} && install -m 0644 /dev/null {quoted}",
        )
    if info.st_size > FILE_LIMIT:
        return fail("rate_limit", f"{key}: {path} holds {info.st_size} bytes, more than "
                    f"calmopsd ever writes ({FILE_LIMIT}): not its file",
                    f"set {key} to a file of calmopsd's own")  # fmt: skip
    return ok("rate_limit", f"{path} is a regular file calmopsd may replace")


def state_dir(install: Install) -> list[Finding]:
    """The state dir is a directory, 0700, the daemon's user's."""
    user = install.known_user
    path = install.loaded.state_dir
    quoted = shlex.quote(str(path))
    owner = f"{user.name}:{group_name(user.gid)}"
    unit = install.daemon_unit
    try:
        info = path.lstat()
    except FileNotFoundError:
        made_by = [Path("/var/lib") / d for d in (unit.words("StateDirectory") if unit else [])]
        if path in made_by:
            return [ok("state_dir", f"{path} is made by systemd at the service's start "
                       f"(StateDirectory= of {unit.path if unit else ''}), 0700")]  # fmt: skip
        make = f"install -d -m 0700 -o {user.name} -g {group_name(user.gid)} {quoted}"
        return [warn("state_dir", f"{path} does not exist yet (the daemon makes it at its "
                     "start, where it may)", make)]  # fmt: skip
    except OSError as exc:
        return [fail("state_dir", f"{path}: {exc.strerror or exc}")]
    if not stat.S_ISDIR(info.st_mode):
        return [
            fail(
                "state_dir",
                f"{path} is {kind(info.st_mode)}, not a directory",
                f"set state_dir in {shlex.quote(str(install.config_path))} to a directory",
            )
        ]
    problems, fixes = [], []
    if info.st_uid != user.uid:
        problems.append(f"owned by {user_name(info.st_uid)}, not {user.name}")
        fixes.append(f"chown -R {owner} {quoted}")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        problems.append(f"mode {mode:04o}: others may read the store")
        fixes.append(f"chmod 0700 {quoted}")
    found = []
    if problems:
        found.append(fail("state_dir", f"{path}: {'; '.join(problems)}", " && ".join(fixes)))
    else:
        found.append(ok("state_dir", f"{path} is {user.name}'s alone (0700)"))
    if unit is not None and not unit.writable(path):
        found.append(
            fail("state_dir", f"{path} is read-only to the daemon under {unit.path} "
                 "(ProtectSystem=): it is neither its StateDirectory= nor in ReadWritePaths=",
                 f"set state_dir in {shlex.quote(str(install.config_path))} to /var/lib/"
                 f"{(unit.words('StateDirectory') or ['calmopsd'])[0]}")
        )  # fmt: skip
    return found


def _unreachable(directory: Path) -> str | None:
    """Why ``directory`` cannot be opened as the actions open it; None when it can."""
    try:
        os.close(open_dir(directory))
    except OSError as exc:
        return why(exc)
    return None


def _dir_fix(install: Install, directory: Path, key: str) -> str:
    real = os.path.realpath(directory)
    config = shlex.quote(str(install.config_path))
    if real != str(directory) and Path(real).is_dir():
        return f"set {key} in {config} to the real directory, {real}"
    return f"mkdir -p {shlex.quote(str(directory))} (or fix {key} in {config})"
