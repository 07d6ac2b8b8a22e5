"""``calmopsd backtest``: the stored history replayed through the rules in force or a
candidate's, read-only beside a running daemon.

Exit codes as everywhere: 0 done, 1 no store or nothing stored to replay, 2 a bad
``--since`` or a config (the one in force, or the candidate) that does not load — every
problem as ``FILE:LINE: key.path: message``, from the real loader.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from calmopsd.backtest.noise import QUICK
from calmopsd.backtest.render import as_json as report_json
from calmopsd.backtest.render import text
from calmopsd.backtest.run import backtest as replay_config
from calmopsd.backtest.run import load_history, window_back
from calmopsd.backtest.suggest import suggest
from calmopsd.cli.client import DaemonApi
from calmopsd.cli.decisions import Request, carry_out
from calmopsd.cli.options import (
    EXIT_USAGE,
    as_str,
    fail,
    json_option,
    print_json,
    state_dir_option,
)
from calmopsd.cli.store import reading
from calmopsd.cli.tuning_text import proposals_text
from calmopsd.config import Config, load_config, resolve_config_path
from calmopsd.config.units import LONGEST, format_duration, parse_duration
from calmopsd.errors import ConfigError
from calmopsd.serve.answers import ConfigInForce, Hooks
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Caller
from calmopsd.serve.tuning import Tuning, tuned_view

COMMAND = "backtest"
PROPOSE_TIMEOUT_S = 300.0  # a month of history replayed a few times over


@click.command()
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="How far back from the newest stored snapshot to replay (30d, 12h).",
)
@click.option(
    "--config",
    "candidate",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A candidate config whose rules to replay instead of the ones in force.",
)
@click.option(
    "--current",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The config in force. Default: $CALMOPS_CONFIG, else "
    "/etc/calmopsd/calmops.yaml, else the shipped default.",
)
@click.option(
    "--suggest",
    "suggesting",
    is_flag=True,
    help="Try a few variants of each noisy rule, each backtested, with its YAML diff.",
)
@click.option(
    "--propose",
    is_flag=True,
    help="Propose the best change of each noisy rule for a person to approve (an "
    "alert_tuning recommendation on its newest noisy incident); the rules in force only.",
)
@click.option(
    "--noise-within",
    default=format_duration(QUICK),
    show_default=True,
    help="A real incident that recovered by itself this soon after opening is noise.",
)
@state_dir_option
@json_option
def backtest(
    since: str,
    candidate: Path | None,
    current: Path | None,
    suggesting: bool,
    propose: bool,
    noise_within: str,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Replay stored snapshots through the rules and compare with the real incidents.

    Per rule: the incidents that would have opened, how much earlier or later than the
    real ones, the real incidents missed, and the noise removed. Time comes from the
    snapshots; periods kept only as 5-minute roll-ups are replayed approximately, and
    the report says which periods those were and how.
    """
    back, quick = _duration("--since", since), _duration("--noise-within", noise_within)
    in_force_path = resolve_config_path(as_str(current), os.environ)
    if propose:
        if candidate is not None:
            fail(COMMAND, "--propose tunes the rules in force: drop --config (a candidate "
                 "is not running, so changes of it are not proposed)", EXIT_USAGE)  # fmt: skip
        _propose(in_force_path.absolute(), state_dir, as_json, (since, back),
                 (noise_within, quick))  # fmt: skip
        return
    in_force = _load(in_force_path, "the config in force")
    tried_path = candidate or in_force_path
    tried = _load(candidate, "the candidate config") if candidate else in_force
    with reading((state_dir or in_force.state_dir).resolve(), COMMAND) as ops:
        window = window_back(ops.database, back)
        if window is None:
            fail(COMMAND, "the store holds no snapshots or roll-ups: nothing to replay")
        history = load_history(ops.database, window)
    report = replay_config(history, tried, quick=quick)
    suggestions = None
    if suggesting:
        try:
            source = tried_path.read_text(encoding="utf-8")
        except OSError as exc:
            fail(COMMAND, f"{tried_path}: cannot read it again ({exc.strerror or exc})")
        suggestions = suggest(
            tried, source, tried_path, report, lambda c: replay_config(history, c, quick=quick)
        )
    if as_json:
        print_json(report_json(report, suggestions))
    else:
        click.echo(text(report, suggestions), nl=False)


def _propose(
    in_force: Path,
    state_dir: Path | None,
    as_json: bool,
    since: tuple[str, timedelta],
    quick: tuple[str, timedelta],
) -> None:
    """Through the running daemon's API (it checks the file is what it loaded), else on
    the store directly; either way the same :class:`~calmopsd.serve.tuning.Tuning`."""
    hooks = Hooks(config_file=lambda: ConfigInForce(in_force, None))

    def local(ops: Operations, caller: Caller) -> dict[str, Any]:
        tuning = Tuning(ops.database, ops.clock, hooks)
        return tuned_view(tuning.propose(caller, since[1], quick[1]))

    def remote(api: DaemonApi) -> dict[str, Any]:
        body = {"since": since[0], "noise_within": quick[0]}
        return api.call("POST", "/tuning/proposals", body, timeout_s=PROPOSE_TIMEOUT_S)

    carry_out(in_force, state_dir, as_json, Request(COMMAND, local, remote, proposals_text))


def _duration(option: str, value: str) -> timedelta:
    try:
        found = parse_duration(value)
    except ValueError as exc:
        fail(COMMAND, f"{option}: {exc}", EXIT_USAGE)
    if found <= timedelta(0):
        fail(COMMAND, f"{option}: must be longer than 0s", EXIT_USAGE)
    if found > LONGEST:  # as the API's tuning route: longer runs past what a date holds
        fail(COMMAND, f"{option}: must be at most {format_duration(LONGEST)}", EXIT_USAGE)
    return found


def _load(path: Path, what: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        click.echo(f"{COMMAND}: {what} does not load:", err=True)
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(EXIT_USAGE) from None
