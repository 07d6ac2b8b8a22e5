"""``calmopsd version``: reads neither the config nor the store."""

from __future__ import annotations

from pathlib import Path

import click

from calmopsd import __version__
from calmopsd.cli.options import config_option


@click.command()
@config_option
def version(config_path: Path | None) -> None:
    """Print the calmopsd version."""
    click.echo(f"calmopsd {__version__}")
