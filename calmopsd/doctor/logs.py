"""Every configured log path matches a regular file the daemon's user can read.

The paths are expanded as the log reader expands them (globs every round, compressed
rotations left out); each file is then opened by the daemon's user (:mod:`.reach`), and
a glob's directory listed by it, since a directory it cannot list hides every file in
it. A path in /tmp under a unit with ``PrivateTmp=yes`` is never seen by the daemon.
"""

from __future__ import annotations

import glob
import shlex
from pathlib import Path, PurePosixPath

from calmopsd.config.logs import AppSourceConfig, NginxSourceConfig
from calmopsd.doctor import access, probe
from calmopsd.doctor.finding import Finding, Status, fail, ok, warn
from calmopsd.doctor.install import Install
from calmopsd.doctor.probe import Answer
from calmopsd.doctor.reach import Task
from calmopsd.sense.logs.tailer import COMPRESSED, MAX_FILES

Source = NginxSourceConfig | AppSourceConfig


def check(install: Install) -> list[Finding]:
    logs = install.loaded.logs
    if not logs.enabled:
        return [ok("logs", "not read (logs.enabled: false)")]
    sources: list[tuple[str, Source]] = [
        *((f"logs.nginx[{i}]", s) for i, s in enumerate(logs.nginx)),
        *((f"logs.apps[{i}]", s) for i, s in enumerate(logs.apps)),
    ]
    if not sources:
        return [ok("logs", "no log sources configured (logs.nginx, logs.apps)")]
    found: list[Finding] = []
    for key, source in sources:
        found += _source(install, key, source)
    return found


def _source(install: Install, key: str, source: Source) -> list[Finding]:
    config = shlex.quote(str(install.config_path))
    label = f"{key} {source.name}"
    found: list[Finding] = []
    files: list[str] = []
    tasks: list[Task] = []
    for pattern in (str(path) for path in source.paths):
        matched = _expand(pattern)
        if not matched:
            writer = "nginx" if isinstance(source, NginxSourceConfig) else "the app"
            found.append(
                warn("logs", f"{label}: {pattern} matches no file (yet)",
                     f"set {key}.paths in {config} to the files {writer} writes")
            )  # fmt: skip
        if _magic(pattern):
            tasks.append({"op": "list", "path": str(_fixed_part(pattern))})
        files += matched
    files = sorted(set(files))[:MAX_FILES]
    tasks += [{"op": "read", "path": path} for path in files]
    answers = install.ask(tasks) or []
    readable = 0
    for task, answer in zip(tasks, answers, strict=True):
        path = Path(str(task["path"]))
        if answer.ok:
            readable += task["op"] == "read"
        else:
            found.append(_problem(install, label, key, path, task["op"] == "list", answer))
    unit = install.daemon_unit
    if unit is not None:
        for pattern in (str(path) for path in source.paths):
            if unit.in_private_tmp(Path(pattern)):
                found.append(
                    fail("logs", f"{label}: {pattern} is in /tmp, and {unit.path} gives the "
                         "daemon a /tmp of its own (PrivateTmp=yes): it never sees this file",
                         f"log outside /tmp (e.g. /var/log/APP/) and set {key}.paths in {config}")
                )  # fmt: skip
    if readable and all(f.status is Status.OK for f in found):
        user = install.user_name
        found.append(ok("logs", f"{label}: {readable} file(s), each readable by {user}"))
    return found


def _problem(
    install: Install, label: str, key: str, path: Path, listing: bool, answer: Answer
) -> Finding:
    user = install.known_user
    if answer.state == probe.DENIED:
        if listing:
            what = f"{label}: {user.name} cannot list {path}: {answer.detail}"
            return fail("logs", what, access.fix_for(path, user, "rx"))
        what = f"{label}: {user.name} cannot read {path}: {answer.detail}"
        return fail("logs", what, access.fix_for(path, user, "r", rotated=True))
    if answer.state == probe.NOT_REGULAR:
        config = shlex.quote(str(install.config_path))
        return fail("logs", f"{label}: {answer.detail}",
                    f"point {key}.paths in {config} at the log files themselves")  # fmt: skip
    if answer.state in (probe.MISSING, probe.UNKNOWN):
        return warn("logs", f"{label}: {answer.detail}")
    return fail("logs", f"{label}: {answer.detail}")


def _expand(pattern: str) -> list[str]:
    """The files the log reader would follow for ``pattern`` now (as this process sees)."""
    found = glob.glob(pattern) if _magic(pattern) else [pattern]  # noqa: PTH207
    return [p for p in found if not p.endswith(COMPRESSED) and Path(p).exists()]


def _magic(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def _fixed_part(pattern: str) -> PurePosixPath:
    """The directory a glob lists: its longest leading part without a wildcard."""
    fixed = PurePosixPath("/")
    for part in PurePosixPath(pattern).parts[1:]:
        if _magic(part):
            break
        fixed /= part
    return fixed
