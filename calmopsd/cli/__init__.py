"""The ``calmopsd`` command line.

Each command turns calmopsd's errors into a readable message and an exit
code, never a traceback: 0 done, 1 refused, not found, or failed (the audit
chain is bad, the daemon failed), 2 the command line or the configuration is
wrong.

    service.py    run                             the daemon (the only command that imports it)
    check.py      check-config
    verify.py     verify-audit
    sample.py     sample
    about.py      version
    init.py       init                            a starting config, from calmopsd.discover
    incidents.py  status, incidents, show        read-only, beside a running daemon
    decisions.py  approve, reject, resolve       through the daemon's API, or the store
    actions.py    actions pause|resume|active|revert
    messages.py   messages [show|edit|approve|discard]   customer messages
    review.py     review ID [--edit-field F=TEXT]  post-incident reviews
    tokens.py     token create
    privileged.py helper                          the root-owned helper (calmopsd.privsep)
    doctor.py     doctor                          checks a live install (calmopsd.doctor)
    backtest.py   backtest                        history replayed through rules (read-only)
    summary.py    summary [--week W | --since 7d]  the weekly stability summary (read-only)
    runbook.py    runbook [TYPE]                  the runbook shipped with calmopsd (no store)
    store.py, client.py   the two ways in: the store itself, the daemon's API
    screens.py    what status and show print
"""

from __future__ import annotations

import importlib
import sys

import click

from calmopsd import log as logsetup

COMMANDS: dict[str, str] = {
    "run": "service:run",
    "check-config": "check:check_config",
    "init": "init:init",
    "verify-audit": "verify:verify_audit",
    "sample": "sample:sample",
    "version": "about:version",
    "status": "incidents:status",
    "incidents": "incidents:incidents",
    "show": "incidents:show",
    "approve": "decisions:approve",
    "reject": "decisions:reject",
    "resolve": "decisions:resolve",
    "actions": "actions:actions",
    "messages": "messages:messages",
    "review": "review:review",
    "token": "tokens:token",
    "helper": "privileged:helper",
    "doctor": "doctor:doctor",
    "backtest": "backtest:backtest",
    "summary": "summary:summary",
    "runbook": "runbook:runbook",
}
"""Each command's module in this package and its click command there. A command's module
is imported only when that command runs (or ``--help`` lists them all): the daemon that
``calmopsd run`` becomes never holds ``backtest``, ``doctor`` or ``init`` and what they
import (about 2 MiB; docs/decisions.md, issue 16)."""


def command(name: str) -> click.Command:
    """The click command ``name`` (one of :data:`COMMANDS`), its module imported."""
    module, attribute = COMMANDS[name].split(":")
    found: click.Command = getattr(importlib.import_module(f"calmopsd.cli.{module}"), attribute)
    return found


class Commands(click.Group):
    """A group that loads each command from :data:`COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return command(cmd_name) if cmd_name in COMMANDS else None


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """calmopsd: a calm, safe on-host operations agent."""
    # stdout is the command's answer. What the store and the agent log on the way (an
    # approval refused, a bypass read) is in the audit log; only warnings reach stderr.
    # `run` and `sample` set up logging their own way.
    logsetup.configure("warning", "auto", stream=sys.stderr)


__all__ = ["COMMANDS", "command", "main"]
