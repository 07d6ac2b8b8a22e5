"""The daemon and its set-up: run, check-config, verify-audit, sample, version."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import structlog

from calmopsd import __version__
from calmopsd import log as logsetup
from calmopsd.cli.options import (
    EXIT_BAD,
    as_str,
    config_option,
    load,
    load_config,
    source_of,
    state_dir_option,
)
from calmopsd.clock import SystemClock
from calmopsd.config import SHIPPED_CONFIG, Config, dropped, resolve_config_path
from calmopsd.config import load_config as load_config_file
from calmopsd.daemon import Daemon
from calmopsd.errors import CalmopsError
from calmopsd.model import Reading
from calmopsd.record.audit import verify_file
from calmopsd.record.database import database_path
from calmopsd.record.head import AuditHead
from calmopsd.sense import plan
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.sampler import SamplerRunner


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


@click.command()
@config_option
def version(config_path: Path | None) -> None:
    """Print the calmopsd version."""
    click.echo(f"calmopsd {__version__}")


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


@click.command("verify-audit")
@config_option
@state_dir_option
@click.option(
    "--expect-head",
    metavar="SEQ:HASH",
    help="Also check against a head seen elsewhere, e.g. an audit.head line in the journal.",
)
def verify_audit(config_path: Path | None, state_dir: Path | None, expect_head: str | None) -> None:
    """Walk the audit hash chain: exit 0 with the count verified, or 1 naming the first bad seq.

    With --state-dir (or $CALMOPS_STATE_DIR) the config is not read at all, so the
    chain can be checked even while the config file is broken.
    """
    if state_dir is None:
        state_dir = load_config(config_path).state_dir
    expected = _parse_head(expect_head) if expect_head else None
    path = database_path(state_dir.resolve())
    try:
        verdict = verify_file(path, expected_head=expected)
    except CalmopsError as exc:
        click.echo(f"audit: {exc}", err=True)
        sys.exit(EXIT_BAD)
    if verdict.ok:
        noun = "event" if verdict.verified == 1 else "events"
        click.echo(f"audit OK: {verdict.verified} {noun} verified ({path})")
        return
    click.echo(
        f"audit FAILED at seq {verdict.first_bad_seq}: {verdict.reason} "
        f"({verdict.verified} events verified before it; {path})",
        err=True,
    )
    sys.exit(EXIT_BAD)


def _parse_head(text: str) -> AuditHead:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:HASH, e.g. 42:9f86d0…", param_hint="--expect-head")
    return AuditHead(int(seq), digest)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the readings as JSON.")
def sample(config_path: Path | None, as_json: bool) -> None:
    """Run every enabled sampler once and show what calmopsd sees."""
    config = load_config(config_path)
    logsetup.configure(config.log.level, config.log.format, stream=sys.stderr)
    clock = SystemClock()
    readings = [
        SamplerRunner(p.sampler, clock, p.timeout_s).take() for p in plan(config.sensing, clock)
    ]
    if config.logs.enabled and (config.logs.nginx or config.logs.apps):
        # One round from the end of each file: shows which files each source matched.
        watcher = LogWatcher(config.logs, clock)
        readings.append(watcher.poll())
        watcher.close()
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in readings], indent=2))
        return
    for reading in readings:
        click.echo(describe(reading))


def _as_dict(reading: Reading) -> dict[str, object]:
    return {
        "sampler": reading.sampler,
        "taken_at": reading.taken_at.isoformat(),
        "ok": reading.ok,
        "duration_ms": round(reading.duration_ms, 2),
        "error": reading.error,
        "values": reading.values,
    }


def describe(reading: Reading) -> str:
    """A reading as a short, readable block: a header line, then one line per value."""
    # "sampled" says the sampler ran; whether what it saw is healthy is in the values.
    status = "sampled" if reading.ok else f"SAMPLER FAILED: {reading.error}"
    lines = [f"{reading.sampler:<14}{status}  ({reading.duration_ms:.1f} ms)"]
    rows = list(_flatten(reading.values))
    if reading.ok and not rows:
        lines.append("  (nothing configured)")
    lines += [f"  {key:<40} {value}" for key, value in rows]
    return "\n".join(lines)


def _flatten(value: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        shown = ", ".join(
            " ".join(_show(k, v) for k, v in item.items()) if isinstance(item, dict) else str(item)
            for item in value
        )
        yield prefix, shown or "-"
    else:
        yield prefix, _show(prefix, value)


def _show(key: str, value: object) -> str:
    if value is None:
        return "-"
    if key.endswith("bytes") and isinstance(value, int):
        size = float(value)
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if size < 1024 or unit == "TiB":
                return f"{size:.1f} {unit}" if unit != "B" else f"{value} B"
            size /= 1024
    return str(value)
