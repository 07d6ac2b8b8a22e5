"""``calmopsd runbook [TYPE]``: the runbook shipped with calmopsd, or one type's section.

The summary's ``Next:`` line and the notices name this command, so it must work on any
installed host at any hour: it reads only the package's own text — no config, no store,
no daemon.
"""

from __future__ import annotations

from pathlib import Path

import click

from calmopsd import runbook as text
from calmopsd.cli.options import config_option


@click.command()
@config_option
@click.argument(
    "incident_type", metavar="[TYPE]", required=False,
    type=click.Choice(text.types(), case_sensitive=False),
)  # fmt: skip
def runbook(config_path: Path | None, incident_type: str | None) -> None:
    """Print the runbook, or the section of one incident TYPE: what calmopsd does on its
    own, what it asks a person, what to check first, how to roll back or escalate.
    The same for every config (--config is accepted and not read). An unknown TYPE
    exits 2 naming the known ones."""
    shown = text.document() if incident_type is None else text.section(incident_type)
    click.echo(shown.rstrip("\n"))
