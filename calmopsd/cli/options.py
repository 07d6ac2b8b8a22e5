"""What every command shares: the options, the exit codes, the config, the person running it.

Exit codes mean the same in every command: 0 done, 1 refused, not found or
failed, 2 the command line or the config is wrong (click's own usage errors
are 2 as well).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from calmopsd.config.location import resolve_config_path
from calmopsd.errors import ConfigError

if TYPE_CHECKING:
    from calmopsd.config import Config
    from calmopsd.daemon import Source

EXIT_BAD = 1
EXIT_USAGE = 2

# What the API accepts in X-Calmops-Actor (calmopsd/serve/tokens.py); other names go by uid.
_PLAIN_USER = re.compile(r"[A-Za-z0-9_.-]{1,32}")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file. Default: $CALMOPS_CONFIG, else /etc/calmopsd/calmops.yaml, "
    "else the shipped default.",
)
state_dir_option = click.option(
    "--state-dir",
    envvar="CALMOPS_STATE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Override the config's state_dir (database and audit head). Env: CALMOPS_STATE_DIR.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
ID = click.IntRange(1, 2**63 - 1)  # an incident's or a recommendation's id: what SQLite holds


def fail(command: str, message: str, code: int = EXIT_BAD) -> NoReturn:
    """One calm line on stderr, ``command: message``, and the exit code."""
    click.echo(f"{command}: {message}", err=True)
    sys.exit(code)


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def source_of(config_path: Path | None, state_dir: Path | None = None) -> Source:
    # Imported here: the schema's models are built only by a command that reads the config.
    from calmopsd.daemon.source import Source

    return Source(resolve_config_path(as_str(config_path), os.environ), state_dir)


def load(source: Source) -> tuple[Config, str]:
    """The config and its digest; every problem on stderr and exit 2 if it is invalid."""
    try:
        return source.load()
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(EXIT_USAGE)


def load_config(config_path: Path | None, state_dir: Path | None = None) -> Config:
    return load(source_of(config_path, state_dir))[0]


def state_dir_of(config_path: Path | None, state_dir: Path | None) -> Path:
    """``--state-dir`` if given (the config is not read at all), else the config's; of a
    config with problems, the ``state_dir`` it names if that key is right (said on
    stderr), since the store is what this command reads."""
    if state_dir is not None:
        return state_dir.resolve()
    source = source_of(config_path)
    try:
        return source.load()[0].state_dir.resolve()
    except ConfigError as exc:
        from calmopsd.config.load import state_dir_despite

        named = state_dir_despite(source.path)
        if named is None:
            load(source)  # every problem on stderr, exit 2
            raise
        count = len(exc.problems)
        click.echo(
            f"calmopsd: {source.path} has {count} problem{'s' if count != 1 else ''} "
            f"(calmopsd check-config lists them); reading the store in {named}",
            err=True,
        )
        return named.resolve()


def who() -> str:
    """The account running the command — from the kernel, not from settable variables.

    Under sudo (root, with SUDO_UID set by sudo) it is the person who ran sudo.
    """
    uid = _uid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def actor_name() -> str:
    """:func:`who`, as the API can carry it: a name the header cannot hold becomes ``uidN``,
    so the audit log names the same account whether or not the daemon runs."""
    name = who()
    return name if _PLAIN_USER.fullmatch(name) else f"uid{_uid()}"


def _uid() -> int:
    uid = os.getuid()
    sudo_uid = os.environ.get("SUDO_UID", "")
    if uid == 0 and sudo_uid.isdigit():
        uid = int(sudo_uid)
    return uid


def as_str(path: Path | None) -> str | None:
    return str(path) if path is not None else None
