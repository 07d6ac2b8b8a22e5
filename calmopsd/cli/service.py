"""``calmopsd run``: the daemon in the foreground.

The only command that imports the daemon and every stage it wires; the others that
read the config or the store (``check.py``, ``verify.py``, ``sample.py``, ``about.py``)
start without them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import structlog

from calmopsd import log as logsetup
from calmopsd.cli.options import EXIT_BAD, config_option, load, source_of, state_dir_option
from calmopsd.daemon.lifecycle import Daemon
from calmopsd.errors import CalmopsError


@click.command()
@config_option
@state_dir_option
def run(config_path: Path | None, state_dir: Path | None) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C; SIGHUP reloads the config."""
    source = source_of(config_path, state_dir)
    config, digest = load(source)
    logsetup.configure(config.log.level, config.log.format)
    structlog.get_logger("calmopsd.cli").info("config.loaded", path=str(source.path))
    try:
        code = Daemon(source, config, config_digest=digest).run()
    except CalmopsError as exc:
        structlog.get_logger("calmopsd.cli").error("daemon.failed", error=str(exc))
        sys.exit(EXIT_BAD)
    except Exception:  # a bug: one structured event with the traceback, for the journal
        structlog.get_logger("calmopsd.cli").exception("daemon.crashed")
        sys.exit(EXIT_BAD)
    sys.exit(code)
