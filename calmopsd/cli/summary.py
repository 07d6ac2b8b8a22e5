"""``calmopsd summary [--week 2026-W49 | --since 7d] [--organization ORG] [--json]``: the
weekly stability summary, read-only on the store (safe beside a running daemon).

The person at the terminal is the super-admin: the platform's summary, or one
organization's with ``--organization``. Exit 2 for a week or stretch that cannot be read,
1 for no store.
"""

from __future__ import annotations

from pathlib import Path

import click

from calmopsd.cli.options import (
    EXIT_USAGE,
    config_option,
    fail,
    json_option,
    print_json,
    state_dir_of,
    state_dir_option,
)
from calmopsd.cli.screens import on_terminal
from calmopsd.cli.store import cli_caller, reading
from calmopsd.errors import OperationError
from calmopsd.learn.weekly_report import as_json as summary_json
from calmopsd.learn.weekly_report import text
from calmopsd.serve.narrow import narrowed
from calmopsd.serve.summaries import Summaries

COMMAND = "summary"


@click.command()
@click.option("--week", help="An ISO week, in UTC: 2026-W49.")
@click.option("--since", "since_text", help="The stretch up to now (7d, 36h); the default: 7d.")
@click.option("--organization", metavar="ORG", help="One organization's summary only.")
@config_option
@state_dir_option
@json_option
def summary(
    week: str | None, since_text: str | None, organization: str | None,
    config_path: Path | None, state_dir: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """How stable the week was, against the week before: incidents, time to detect and to
    resolve, health checks, actions, budgets, approvals, flapping and recurring problems."""
    where = state_dir_of(config_path, state_dir)
    with reading(where, COMMAND) as ops:
        summaries = Summaries(ops.database, ops.clock, trace_reads=False)
        try:
            reader = narrowed(cli_caller(), organization)
            found = summaries.weekly(reader, week, since_text)
        except OperationError as exc:
            fail(COMMAND, exc.detail, EXIT_USAGE if exc.status == 400 else 1)
    if as_json:
        print_json(summary_json(found))
        return
    click.echo(on_terminal(text(found)))
