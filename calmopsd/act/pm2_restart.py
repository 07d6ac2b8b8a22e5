"""pm2_restart: restart (fork mode) or reload (cluster mode) one allowed PM2 app, verified.

One run, in order:

1. PM2's daemon must be running: ``$PM2_HOME/pm2.pid`` names a live process and
   ``rpc.sock`` accepts a connection. Almost any ``pm2`` command (``jlist``,
   even ``--version``) starts a daemon when it finds none — here one owned by
   the sandbox, under its limits, running no app — so without a daemon nothing
   runs. The check is repeated before every ``pm2`` command, polls included.
2. ``pm2 jlist``: the app's instances (pm_id, pid, exec_mode, status) before.
3. ``pm2 reload NAME`` when the app runs in cluster mode (instances replaced one
   by one, no downtime), else ``pm2 restart NAME``.
4. Verify by polling ``pm2 jlist`` for at most :data:`VERIFY_WITHIN` seconds:
   every instance ``online`` with a pid that is not one of the old ones, and
   still so :data:`SETTLE` seconds later — an app that dies right after it
   starts is briefly "online with a new pid" too.

:class:`Pm2Cli` (PM2 as the sandbox runs it) is shared with ``pause_jobs``.
What it reads of PM2's files (where PM2_HOME is, the pid file, the JSON in
``jlist`` output and each entry of it) is shared with the sampler through
:mod:`calmopsd.pm2files`.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.sandbox import Sandbox, last_line
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.units import Name, shown
from calmopsd.model import RefusalReason, SafeAction
from calmopsd.pm2files import Pm2Instance as Pm2Instance  # re-exported for pause_jobs
from calmopsd.pm2files import decode_jlist, home_of, live_pid, pm2_home, read_instance
from calmopsd.runner import Completed
from calmopsd.typed import TypeAdapter, ValidationError

VERIFY_WITHIN = 20.0  # seconds a verification may poll
SETTLE = 1.0  # seconds the verified state must hold (PM2's default min_uptime)
POLL_EVERY = 0.25
_NAME: TypeAdapter[str] = TypeAdapter(Name)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Pm2Unavailable(Exception):
    """PM2 cannot be asked (no daemon, ``jlist`` failed or unreadable); ``detail`` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def name_problem(value: Any) -> str | None:
    """Why ``value`` cannot be put in a ``pm2`` argv as an app name; None when it can.

    The pattern is the config's ``Name`` (ASCII, no leading ``-``, at most 64
    characters). PM2 itself reads ``all`` as every app and a number as a pm_id.
    """
    try:
        name = _NAME.validate_python(value, strict=True)
    except ValidationError:
        return f"{shown(value)} is not an app name (letters, digits, '_', '.', '-')"
    if name == "all" or name.isdigit():
        return f"{shown(name)} names more than one app, or an id, to PM2"
    return None


JLIST_LIMIT = 64 << 20  # `pm2 jlist` embeds every app's environment: megabytes on a busy host


class Pm2Cli:
    """PM2 as the sandbox runs it: the configured binary, PM2_HOME and user."""

    def __init__(self, sandbox: Sandbox, environ: Mapping[str, str] | None = None) -> None:
        """Raises :class:`Pm2Unavailable` when the configured user does not exist."""
        self.sandbox = sandbox
        self.config = sandbox.pm2
        environ = os.environ if environ is None else environ
        try:
            self.home = pm2_home(self.config, environ)
        except LookupError as exc:
            raise Pm2Unavailable(f"{exc} (sensing.pm2.user)") from None
        self.env = {"PM2_HOME": str(self.home)}
        if self.config.user:
            self.env["HOME"] = _home_of(self.config.user)

    def run(
        self, *args: str, timeout: float | None = None, output_limit: int = 1 << 16
    ) -> Completed:
        """``pm2 ARGS``, only while a daemon runs (else :class:`Pm2Unavailable`)."""
        self.check_running()
        return self.sandbox.command(
            [self.config.binary, *args],
            env=self.env,
            user=self.config.user,
            timeout=timeout,
            output_limit=output_limit,
        )

    def check_running(self) -> None:
        why = daemon_problem(self.home)
        if why is not None:
            raise Pm2Unavailable(f"PM2 is not running ({why})")

    def instances(self, name: str) -> list[Pm2Instance]:
        """The app's entries in ``pm2 jlist`` (empty: PM2 does not know it)."""
        done = self.run(
            "jlist", timeout=self.config.timeout.total_seconds(), output_limit=JLIST_LIMIT
        )
        if not done.succeeded:
            raise Pm2Unavailable(f"pm2 jlist {failure(done)}")
        if done.truncated:
            raise Pm2Unavailable("pm2 jlist printed more than the sandbox keeps of a command")
        listed = decode_jlist(done.stdout.decode("utf-8", "replace"))
        if listed is None:
            raise Pm2Unavailable(f"pm2 jlist printed no JSON process list ({len(done.stdout)} B)")
        found = (read_instance(entry) for entry in listed)
        return sorted((i for i in found if i is not None and i.name == name), key=_by_pm_id)

    def wait(
        self, name: str, check: Callable[[list[Pm2Instance]], bool], settle: float = SETTLE
    ) -> tuple[bool, list[Pm2Instance]]:
        """Poll until ``check`` holds for the app's instances with the same pids for
        ``settle`` seconds, at most :data:`VERIFY_WITHIN`; (held, the last instances)."""
        deadline = time.monotonic() + VERIFY_WITHIN
        held_since: tuple[float, list[int | None]] | None = None
        while True:
            found = self.instances(name)
            now = time.monotonic()
            if found and check(found):
                pids = [i.pid for i in found]
                if held_since is None or held_since[1] != pids:
                    held_since = (now, pids)
                if now - held_since[0] >= settle:
                    return True, found
            else:
                held_since = None
            if now >= deadline:
                return False, found
            time.sleep(POLL_EVERY)


class Pm2Restart:
    """Restart or reload one PM2 app from ``actions.pm2_restart.apps``; see the module."""

    name = SafeAction.PM2_RESTART
    reversible = False

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        if not isinstance(params, dict) or set(params) != {"app"}:
            raise Refused(
                RefusalReason.BAD_PARAMETER, "pm2_restart takes exactly one parameter: app"
            )
        app = params["app"]
        problem = name_problem(app)
        if problem is not None:
            raise Refused(RefusalReason.BAD_PARAMETER, problem)
        if app not in config.pm2_restart.apps:
            raise Refused(RefusalReason.NOT_ALLOWED, f"{app!r} is not in actions.pm2_restart.apps")
        return {"app": app}

    def target(self, params: dict[str, Any]) -> str:
        return str(params["app"])

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        return None  # not reversible

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        try:
            app = self.validate(params, sandbox.config)["app"]  # again: it becomes argv
        except Refused as refused:
            return Result(False, f"refused: {refused.detail}")
        try:
            pm2 = Pm2Cli(sandbox)
            if sandbox.dry_run:
                return _dry_run(pm2, app)
            return _restart(pm2, app)
        except Pm2Unavailable as unavailable:
            return Result(False, unavailable.detail)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        return Result(False, "a restart cannot be undone")


PM2_RESTART = Pm2Restart()


def _restart(pm2: Pm2Cli, app: str) -> Result:
    before = pm2.instances(app)
    if not before:
        return Result(False, f"{app} is not known to PM2")
    command = "reload" if any(i.exec_mode == "cluster_mode" for i in before) else "restart"
    old = sorted(i.pid for i in before if i.pid is not None)
    data: dict[str, Any] = {"command": command, "old_pids": old, "new_pids": []}
    done = pm2.run(command, app)
    if not done.succeeded:
        return Result(False, f"pm2 {command} {app} {failure(done)}", data)
    held, after = pm2.wait(app, lambda found: replaced(found, set(old), len(before)))
    data["new_pids"] = sorted(i.pid for i in after if i.pid is not None)
    if not held:
        return Result(False, f"{app} not back online with new pids: {describe(after)}", data)
    return Result(True, f"pm2 {command} {app}: {describe(after)}, all new pids", data)


def _dry_run(pm2: Pm2Cli, app: str) -> Result:
    """Record what would run; the exec mode is unknown without reading jlist for real."""
    pm2.run("jlist")
    pm2.run("restart", app)
    return Result(
        True,
        f"dry run: would run pm2 restart {app} (pm2 reload if it runs in cluster mode)",
        {"command": "restart", "old_pids": [], "new_pids": []},
    )


def replaced(found: list[Pm2Instance], old: set[int], count: int) -> bool:
    """At least ``count`` instances, every one online with a pid not in ``old``."""
    return len(found) >= count and all(
        i.status == "online" and i.pid is not None and i.pid not in old for i in found
    )


def describe(found: list[Pm2Instance]) -> str:
    """``2 online`` or ``1 online, 1 errored``; ``not listed`` when PM2 lists none."""
    counts: dict[str, int] = {}
    for instance in found:
        counts[instance.status] = counts.get(instance.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "not listed"


def failure(done: Completed) -> str:
    """How a ``pm2`` command failed, in a few words for a Result detail."""
    if done.error is not None:
        return done.error
    return f"exited {done.returncode}: {_ANSI.sub('', last_line(done.stderr)) or '(no message)'}"


def daemon_problem(home: Path) -> str | None:
    """Why no PM2 daemon runs at ``home``; None when ``pm2.pid`` is live and rpc.sock answers."""
    found = live_pid(home)
    if found.pid is None:
        return found.problem
    # A stale pid file may name a live process that is not PM2 (the pid was reused).
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(str(home / "rpc.sock"))
        except PermissionError:
            pass  # the daemon's, and only its user may talk to it: pm2 runs as that user
        except OSError as exc:
            return f"no daemon answers on rpc.sock ({exc.strerror or exc})"
    return None


def _by_pm_id(instance: Pm2Instance) -> int:
    return instance.pm_id if instance.pm_id is not None else -1


def _home_of(user: str) -> str:
    try:
        return home_of(user)
    except LookupError as exc:
        raise Pm2Unavailable(f"{exc} (sensing.pm2.user)") from None
