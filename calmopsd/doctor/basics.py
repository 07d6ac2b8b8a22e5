"""The config file and the daemon's user: what every other check stands on."""

from __future__ import annotations

import shlex

from calmopsd.config import SHIPPED_CONFIG, SYSTEM_CONFIG
from calmopsd.doctor import access, probe
from calmopsd.doctor.finding import Finding, fail, ok, warn
from calmopsd.doctor.install import Install

SHOWN_PROBLEMS = 20  # config problems listed one by one; check-config lists them all


def config(install: Install) -> list[Finding]:
    """The config loads with the daemon's own loader (every problem as ``file:line:
    key.path: message``, an empty file refused), is not the shipped default by accident,
    and the daemon's user can read it."""
    path = install.config_path
    quoted = shlex.quote(str(path))
    if install.problems:
        found = [
            fail("config", problem, f"edit {quoted}, then: calmopsd check-config {quoted}")
            for problem in install.problems[:SHOWN_PROBLEMS]
        ]
        if len(install.problems) > SHOWN_PROBLEMS:
            more = len(install.problems) - SHOWN_PROBLEMS
            found.append(fail("config", f"… and {more} more", f"calmopsd check-config {quoted}"))
        return found + _readable(install)
    found = [ok("config", f"{path} loads")]
    if path.resolve() == SHIPPED_CONFIG.resolve():
        found.append(
            warn(
                "config",
                f"this is the shipped default ({path}): no {SYSTEM_CONFIG} and no --config",
                f"make install (it writes {SYSTEM_CONFIG}), or pass --config PATH",
            )
        )
    return found + _readable(install)


def _readable(install: Install) -> list[Finding]:
    user = install.user
    answers = install.ask([{"op": "read", "path": str(install.config_path)}])
    if user is None or answers is None:
        return []
    (answer,) = answers
    if answer.ok:
        return [ok("config", f"{user.name} can read {install.config_path}")]
    what = f"{user.name} cannot read {install.config_path}: {answer.detail}"
    if answer.state == probe.DENIED:
        return [fail("config", what, access.fix_for(install.config_path, user, "r"))]
    if answer.state == probe.UNKNOWN:
        return [warn("config", what)]
    return [fail("config", what)]


def user(install: Install) -> list[Finding]:
    """The daemon's user exists; says which it is, its groups and how it is asked as."""
    found = install.user
    if found is None:
        name = shlex.quote(install.user_name)
        return [
            fail(
                "user",
                f"no user {install.user_name!r} ({install.user_from}): the daemon runs as it",
                f"useradd --system --no-create-home --shell /usr/sbin/nologin {name}"
                " (make install makes it)",
            )
        ]
    how = install.reach.how if install.reach else "judged by modes: run as root to ask for real"
    groups = ", ".join(found.group_names())
    what = f"daemon user {found.name} (uid {found.uid}; groups {groups}; {install.user_from})"
    return [ok("user", f"{what}; checked {how}")]
