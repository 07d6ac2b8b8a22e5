"""``calmopsd helper``: the root-owned helper that carries out the daemon's safe actions."""

from __future__ import annotations

import os
import pwd
import stat
import sys
from pathlib import Path

import click
import structlog

from calmopsd import early_signals
from calmopsd import log as logsetup
from calmopsd.cli.options import EXIT_BAD, EXIT_USAGE, as_str, config_option, fail
from calmopsd.config import Config, resolve_config_path
from calmopsd.config import load_config as load_config_file
from calmopsd.errors import ConfigError
from calmopsd.notify import notify
from calmopsd.privsep.dispatch import Dispatcher
from calmopsd.privsep.listener import Listener
from calmopsd.record.statedir import make_private_dir

log = structlog.get_logger("calmopsd.privsep")


@click.command()
@config_option
@click.option(
    "--socket",
    "socket_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The unix socket to listen on. Default: actions.helper.socket.",
)
def helper(config_path: Path | None, socket_path: Path | None) -> None:
    """Run the privileged helper in the foreground (as root) until SIGTERM.

    It carries out the daemon's safe actions, each re-checked against this config's
    allowlists, for the uid of actions.helper.allowed_user only.
    """
    path = resolve_config_path(as_str(config_path), os.environ)
    config = _load(path)
    logsetup.configure(config.log.level, config.log.format)
    settings = config.actions.helper
    try:
        user = pwd.getpwnam(settings.allowed_user)
    except KeyError:
        fail(
            "helper",
            f"no such user {settings.allowed_user!r} (actions.helper.allowed_user)",
            EXIT_USAGE,
        )
    where = socket_path or settings.socket
    workdir = where.parent / "act"
    try:
        # The socket's directory must let the daemon's user reach the socket (systemd's
        # RuntimeDirectory makes it so); the helper's workdir in it is root's alone.
        where.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        make_private_dir(workdir)
    except OSError as exc:
        fail("helper", f"cannot make {workdir}: {exc.strerror or exc}")
    dispatcher = Dispatcher(config, workdir)
    listener = Listener(where, user.pw_uid, user.pw_gid, dispatcher)
    wakeup, _sender = early_signals.listen()
    try:
        listener.open()
    except OSError as exc:
        log.error("helper.failed", socket=str(where), error=str(exc))
        sys.exit(EXIT_BAD)

    def reload() -> None:
        try:
            dispatcher.config = _checked(path)
        except ConfigError as exc:
            log.error("helper.reload_failed", config=str(path), problems=exc.problems[:10])
            return
        log.info("helper.reloaded", config=str(path))

    log.info(
        "helper.started", socket=str(where), config=str(path), pid=os.getpid(), uid=os.geteuid(),
        allowed_user=settings.allowed_user, allowed_uid=user.pw_uid,
    )  # fmt: skip
    notify("READY=1\nSTATUS=listening")
    stopped_by = listener.serve(wakeup, reload)
    log.info("helper.stopping", signal=stopped_by)
    notify("STOPPING=1")
    still = listener.close()
    log.info("helper.stopped", requests_left_running=still)
    sys.exit(0)


def _load(path: Path) -> Config:
    try:
        return _checked(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(EXIT_USAGE)


def _checked(path: Path) -> Config:
    """The config at ``path``, which must be root's alone to change when the helper is root:
    its allowlists are what stands between the daemon and root."""
    if os.geteuid() == 0:
        for where in (path, path.absolute().parent):
            problem = _unsafe(where)
            if problem is not None:
                raise ConfigError([f"{where}: {problem}; the helper trusts only root's files"])
    return load_config_file(path)


def _unsafe(path: Path) -> str | None:
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if info.st_uid != 0:
        return f"owned by uid {info.st_uid}, not root"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not (
        stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX and info.st_uid == 0
    ):
        return f"writable by others than root (mode {stat.S_IMODE(info.st_mode):04o})"
    return None
