"""``calmopsd init``: a starting config, written from what this host runs.

What it looks at is :mod:`calmopsd.discover`'s; here the result is written
where calmopsd will read it (``--output``, else ``--config``, else
``$CALMOPS_CONFIG``, else ``/etc/calmopsd/calmops.yaml``), or printed (``-o -``).

Writing, in order: the text goes to a temp file beside the target (0640, the
directory's group when run as root, as ``make install`` leaves the config;
with ``--force`` the replaced file's mode and owner), is fsynced, then loaded
with the config's own loader — a draft that would not pass ``check-config``
is a bug, reported and never written — and only then takes the target's
name: ``link()``, which fails if the name exists, so a file that appeared
meanwhile is kept too; with ``--force``, ``rename()`` over it. Never a file
half-written under the target's name.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

import click

from calmopsd.cli.options import EXIT_BAD, config_option, fail
from calmopsd.clock import SystemClock
from calmopsd.config import SHIPPED_CONFIG, SYSTEM_CONFIG, load_config
from calmopsd.config.location import CONFIG_ENV
from calmopsd.discover import Host, Survey, survey, this_host
from calmopsd.discover.draft import draft
from calmopsd.errors import ConfigError

NEW_FILE_MODE = 0o640


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Where to write the config ('-' prints it). Default: --config, else $CALMOPS_CONFIG, "
    "else /etc/calmopsd/calmops.yaml.",
)
@click.option("--force", is_flag=True, help="Replace an existing file (its mode and owner kept).")
@config_option
@click.option(
    "--pm2-home",
    "pm2_homes",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="PM2_HOME to read (repeatable). Default: the running PM2 daemons', $PM2_HOME, "
    "and ~/.pm2 of every user.",
)
@click.option("--nginx-binary", help="The nginx program. Default: nginx on PATH or in /usr/sbin.")
@click.option(
    "--nginx-conf",
    type=click.Path(dir_okay=False, path_type=Path),
    help="nginx -c FILE. Default: nginx's own.",
)
@click.option(
    "--nginx-prefix",
    type=click.Path(file_okay=False, path_type=Path),
    help="nginx -p PREFIX. Default: nginx's own.",
)
def init(
    output: Path | None, force: bool, config_path: Path | None, pm2_homes: tuple[Path, ...],
    nginx_binary: str | None, nginx_conf: Path | None, nginx_prefix: Path | None,
) -> None:  # fmt: skip
    """Write a starting config from what this host runs: PM2 apps, nginx logs, disks, health.

    Every value it fills is a guess, marked with where it came from; it never starts PM2,
    runs only `nginx -V` and `nginx -T`, and never replaces a file without --force.
    """
    target = output or config_path or Path(os.environ.get(CONFIG_ENV) or SYSTEM_CONFIG)
    printing = str(target) == "-"
    if not printing and not force and (target.exists() or target.is_symlink()):
        _kept(target)
    if not printing and target.is_symlink():
        # Replaced, the link would become a file of its own: whatever keeps the file it
        # points at (a config repository, a package) would no longer be read.
        fail("init", f"{target} is a symlink (to {target.readlink()}) and was kept; "
                     "write its target with --output, or remove the link")  # fmt: skip
    host = this_host(nginx_binary, nginx_conf, nginx_prefix, pm2_homes or None)
    initialize(host, None if printing else target, force)


def initialize(host: Host, target: Path | None, force: bool) -> Survey:
    """Survey ``host`` and write the draft to ``target`` (None: print it); what was found."""
    found = survey(host)
    text = draft(found, SystemClock().now(), SHIPPED_CONFIG)
    if target is None:
        with tempfile.TemporaryDirectory(prefix="calmopsd-init-") as scratch:
            _validated(Path(scratch), text).unlink()
        click.echo(text, nl=False)
        return found
    write(target, text, force)
    click.echo(f"wrote {target}: {summary(found)}")
    click.echo(f"Review each guess (marked in a comment), then: calmopsd check-config {target}")
    return found


def write(target: Path, text: str, force: bool) -> None:
    """``text`` at ``target``, atomically, only once it loads; an existing file only with force."""
    try:
        temp = _validated(target.parent, text)
    except OSError as exc:
        fail("init", f"cannot write in {target.parent}: {exc.strerror or exc}")
    try:
        _take_identity(temp, target if force else None)
        if force:
            os.replace(temp, target)
        else:
            os.link(temp, target)
        _sync_dir(target.parent)
    except FileExistsError:
        _kept(target)
    except OSError as exc:
        fail("init", f"cannot write {target}: {exc.strerror or exc}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _validated(directory: Path, text: str) -> Path:
    """A temp file in ``directory`` holding ``text``, fsynced, that the config loader accepts."""
    fd, name = tempfile.mkstemp(prefix=".calmopsd-init-", suffix=".yaml", dir=directory)
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        load_config(temp)
    except ConfigError as exc:
        temp.unlink()
        click.echo("init: the config it drafted does not load (a bug in calmopsd init):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_BAD)
    except BaseException:
        temp.unlink()
        raise
    return temp


def _take_identity(temp: Path, replaced: Path | None) -> None:
    """The replaced file's mode and owner; else 0640 and, as root, the directory's group."""
    if replaced is not None and replaced.exists():
        old = replaced.stat()
        temp.chmod(stat.S_IMODE(old.st_mode))
        with contextlib.suppress(PermissionError):  # only root may give a file away
            os.chown(temp, old.st_uid, old.st_gid)
        return
    temp.chmod(NEW_FILE_MODE)
    if os.geteuid() == 0:
        os.chown(temp, -1, temp.parent.stat().st_gid)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _kept(target: Path) -> None:
    fail("init", f"{target} exists and was kept; --force replaces it, --output - prints the draft")


def summary(found: Survey) -> str:
    """One line of what the draft holds."""
    chosen = found.pm2.chosen
    parts = [
        f"{len(chosen.apps)} PM2 apps ({chosen.home})" if chosen else "no PM2",
        _logs(found) if found.nginx.source else "no nginx",
        f"{len(found.mounts)} mounts",
        f"{sum(c.up for c in found.checks)} health checks",
    ]
    return ", ".join(parts)


def _logs(found: Survey) -> str:
    unreadable = sum(s.unreadable is not None for s in found.log_sources)
    shown = f"{len(found.log_sources) - unreadable} nginx log sources"
    return shown + (f" (and {unreadable} commented out: unreadable)" if unreadable else "")
