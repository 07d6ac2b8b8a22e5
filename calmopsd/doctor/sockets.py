"""The two sockets the daemon talks over: PM2's ``rpc.sock`` and the privileged helper's.

Both are asked as the daemon's user, as the daemon asks them: PM2 through its pid file
and ``getVersion`` on its socket (never the ``pm2`` command, which spawns a daemon when
none runs), the helper with its ``ping`` op (which it answers only for
``actions.helper.allowed_user``'s uid).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from calmopsd import __version__
from calmopsd.doctor import access, probe
from calmopsd.doctor.finding import Finding, fail, ok, warn
from calmopsd.doctor.install import Install
from calmopsd.doctor.probe import Answer
from calmopsd.doctor.user import user_name
from calmopsd.pm2files import pm2_home

HELPER_PING_WITHIN = 5.0  # seconds: a helper that cannot pong in this is not well


def pm2(install: Install) -> list[Finding]:
    config = install.loaded
    settings = config.sensing.pm2
    if not settings.enabled:
        return [ok("pm2", "not read (sensing.pm2.enabled: false)")]
    quoted = shlex.quote(str(install.config_path))
    try:
        home = pm2_home(settings, install.environ)
    except LookupError as exc:
        return [fail("pm2", f"sensing.pm2.user: {exc}", f"fix sensing.pm2.user in {quoted}")]
    if not _may_exist(home):
        return [fail("pm2", f"no PM2 home at {home} (the daemon's PM2_HOME)",
                     f"set sensing.pm2.home in {quoted} to the PM2 user's ~/.pm2 (no PM2 on "
                     "this host: sensing.pm2.enabled: false)")]  # fmt: skip
    timeout = settings.timeout.total_seconds()
    (answer,) = install.ask([{"op": "pm2", "home": str(home), "timeout": timeout}]) or [
        Answer(probe.UNKNOWN, "no daemon user to ask as")
    ]
    if answer.ok:
        version, pid = answer.data.get("version"), answer.data.get("pid")
        return [ok("pm2", f"PM2 {version} (pid {pid}) answers {install.user_name} on "
                   f"{home / 'rpc.sock'}")]  # fmt: skip
    return [_pm2_problem(install, home, answer)]


def _pm2_problem(install: Install, home: Path, answer: Answer) -> Finding:
    user = install.known_user
    if answer.state == probe.DENIED and answer.where:
        where = Path(answer.where)
        what = f"{user.name} cannot reach PM2: {answer.detail}"
        if where.name != "rpc.sock":
            return fail("pm2", what, access.fix_for(where, user, "r"))
        fix = access.fix_for(where, user, "w")
        if _group_of(where) == 0:
            # PM2 makes its sockets anew at each start, so an ACL on one does not last.
            fix += (
                " (lost when PM2 restarts: PM2 runs with group root; run it as the apps' "
                f"own user and add {user.name} to that user's group)"
            )
        return fail("pm2", what, fix)
    if answer.state == probe.NOT_RUNNING:
        owner = _owner(home)
        start = f"sudo -u {shlex.quote(owner)} env PM2_HOME={shlex.quote(str(home))} pm2 resurrect"
        return fail("pm2", f"PM2 is not running: {answer.detail}",
                    f"start the apps' PM2 as {owner}: {start}")  # fmt: skip
    if answer.state == probe.UNKNOWN:
        return warn("pm2", f"not asked: {answer.detail}", f"sudo {_doctor_again(install)}")
    return fail("pm2", answer.detail)


def _group_of(path: Path) -> int | None:
    try:
        return path.stat().st_gid
    except OSError:
        return None


def _owner(home: Path) -> str:
    try:
        return user_name(home.stat().st_uid)
    except OSError:
        return "the PM2 user"


def _may_exist(home: Path) -> bool:
    """False only when ``home`` is surely not a directory (one this process may not see
    into may still be one)."""
    try:
        return home.is_dir()
    except PermissionError:
        return True


def helper(install: Install) -> list[Finding]:
    actions = install.loaded.actions
    if actions.backend != "helper":
        return [ok("helper", "not used (actions.backend: direct)")]
    socket = actions.helper.socket
    allowed = actions.helper.allowed_user
    quoted = shlex.quote(str(install.config_path))
    found: list[Finding] = []
    if allowed != install.user_name:
        found.append(
            fail("helper", f"actions.helper.allowed_user is {allowed!r}, but the daemon runs as "
                 f"{install.user_name!r}: the helper answers no one else",
                 f"set actions.helper.allowed_user: {install.user_name} in {quoted}, then: "
                 "systemctl restart calmopsd-helper")
        )  # fmt: skip
    task = {"op": "ping", "socket": str(socket), "timeout": HELPER_PING_WITHIN}
    (answer,) = install.ask([task]) or [Answer(probe.UNKNOWN, "no daemon user to ask as")]
    return [*found, _pong(install, socket, answer)]


def _pong(install: Install, socket: Path, answer: Answer) -> Finding:
    user = install.known_user
    if answer.ok:
        version = answer.data.get("version")
        what = f"the helper on {socket} answers {user.name}'s ping (calmopsd {version})"
        if version != __version__:
            return warn("helper", f"{what}, not this calmopsd's {__version__}",
                        "systemctl restart calmopsd-helper")  # fmt: skip
        return ok("helper", what)
    if answer.state == probe.MISSING:
        return fail("helper", f"no helper socket at {socket} (the helper is not running)",
                    "systemctl enable --now calmopsd-helper")  # fmt: skip
    if answer.state == probe.NOT_RUNNING:
        return fail("helper", f"{answer.detail}: the helper stopped",
                    "systemctl restart calmopsd-helper")  # fmt: skip
    if answer.state == probe.DENIED:
        return fail("helper", f"{user.name} may not connect: {answer.detail}",
                    access.fix_for(socket, user, "w"))  # fmt: skip
    if answer.state == probe.REFUSED:
        return fail("helper", f"the helper refused {user.name}'s ping: {answer.detail}",
                    "journalctl -u calmopsd-helper -n 20 says why")  # fmt: skip
    if answer.state == probe.UNKNOWN:
        return warn("helper", f"not pinged: {answer.detail}",
                    f"sudo {_doctor_again(install)}")  # fmt: skip
    return fail("helper", answer.detail, "journalctl -u calmopsd-helper -n 20")


def _doctor_again(install: Install) -> str:
    return f"calmopsd doctor --config {shlex.quote(str(install.config_path))}"
