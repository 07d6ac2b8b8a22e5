"""The daemon and its set-up: run, check-config, verify-audit, sample, version."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import structlog

from calmopsd import __version__
from calmopsd import log as logsetup
from calmopsd.cli.options import (
    EXIT_BAD,
    config_option,
    load,
    load_config,
    source_of,
    state_dir_option,
)
from calmopsd.clock import SystemClock
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
def check_config(path: Path | None, config_path: Path | None) -> None:
    """Validate a config file: print 'config OK' (exit 0) or every problem (exit 2)."""
    config = load_config(path or config_path)
    for warning in config.logs.overlaps():
        click.echo(f"warning: {warning}", err=True)
    click.echo("config OK")


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
