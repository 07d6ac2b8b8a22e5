"""``calmopsd doctor``: check a live install, one line per finding, each problem with its fix."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from calmopsd import doctor as checks
from calmopsd.cli.options import (
    EXIT_BAD,
    as_str,
    config_option,
    json_option,
    print_json,
    state_dir_option,
)
from calmopsd.config import resolve_config_path
from calmopsd.doctor.finding import Status


@click.command()
@config_option
@click.option(
    "--as-user",
    "as_user",
    metavar="NAME",
    help="The daemon's user. Default: User= of the daemon's unit, else calmopsd.",
)
@click.option(
    "--units",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory of calmopsd.service and calmopsd-helper.service. Default: "
    "/etc/systemd/system if they are installed there, else this checkout's systemd/.",
)
@state_dir_option
@json_option
def doctor(
    config_path: Path | None,
    as_user: str | None,
    units: Path | None,
    state_dir: Path | None,
    as_json: bool,
) -> None:
    """Check a live install: config, log access, PM2, the helper, the actions' places,
    the state dir, what the units permit. Changes nothing.

    Run it as root to check as the daemon's user for real (a child process that is
    that user); exit 0 when nothing fails, 1 otherwise.
    """
    path = resolve_config_path(as_str(config_path), os.environ)
    install = checks.look(path, as_user=as_user, units=units, state_dir=state_dir)
    findings = checks.examine(install)
    counts = {status.value: sum(f.status is status for f in findings) for status in Status}
    if as_json:
        print_json({
            "ok": not checks.failed(findings), "config": str(path), "user": install.user_name,
            "checked": install.reach.how if install.reach else None,
            "units": str(install.units) if install.units else None,
            "counts": counts, "findings": [f.as_json() for f in findings],
        })  # fmt: skip
    else:
        for finding in findings:
            click.echo(finding.line())
        click.echo(
            f"doctor: {counts['fail']} FAIL, {counts['warn']} warn, {counts['ok']} ok "
            f"({path}, as {install.user_name})"
        )
    sys.exit(EXIT_BAD if checks.failed(findings) else 0)
