"""``calmopsd check-config``: a config file validated, and compared with the one in force."""

from __future__ import annotations

import os
from pathlib import Path

import click

from calmopsd.cli.options import as_str, config_option, load_config
from calmopsd.config import SHIPPED_CONFIG, Config, dropped, resolve_config_path
from calmopsd.config import load_config as load_config_file
from calmopsd.errors import CalmopsError


@click.command("check-config")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option(
    "--against",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Compare with this config (e.g. a copy of the one in force) and warn about what "
    "PATH drops. Default: the config calmopsd reads, when PATH is another file.",
)
def check_config(path: Path | None, config_path: Path | None, against: Path | None) -> None:
    """Validate a config file: print 'config OK' (exit 0) or every problem (exit 2).

    Warns when it drops every API token, every rule or a whole section of the config
    it is compared with, as a reload onto it would (the daemon logs config.reload_drops).
    """
    config = load_config(path or config_path)
    for warning in config.logs.overlaps():
        click.echo(f"warning: {warning}", err=True)
    reference = against or _in_force(path, config_path)
    if reference is not None:
        for warning in _drops(reference, config):
            click.echo(f"warning: {warning}", err=True)
    click.echo("config OK")


def _in_force(path: Path | None, config_path: Path | None) -> Path | None:
    """The config calmopsd reads, if it is a file of the operator's other than ``path``."""
    if path is None:
        return None  # the checked file is that config
    current = resolve_config_path(as_str(config_path), os.environ)
    if current == SHIPPED_CONFIG or not current.is_file():
        return None
    return None if current.resolve() == path.resolve() else current


def _drops(reference: Path, config: Config) -> list[str]:
    try:
        before = load_config_file(reference)
    except CalmopsError as exc:
        first = str(exc).splitlines()[0]
        return [f"not compared with {reference}, which does not load itself: {first}"]
    return [f"compared with {reference}, this drops {what}" for what in dropped(before, config)]
