"""The ``calmopsd`` command line.

Each command turns calmopsd's errors into a readable message and an exit
code, never a traceback: 0 success, 1 the thing checked is bad (audit chain)
or the daemon failed, 2 the configuration or the command line is wrong.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import structlog

from calmopsd import __version__
from calmopsd import log as logsetup
from calmopsd.act import control
from calmopsd.act.executor import SafeExecutor
from calmopsd.clock import SystemClock
from calmopsd.config import Config, resolve_config_path
from calmopsd.daemon import Daemon, Source
from calmopsd.errors import CalmopsError, ConfigError, StoreError
from calmopsd.model import Incident, Reading
from calmopsd.record.actions import read_active_file
from calmopsd.record.audit import verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.head import AuditHead
from calmopsd.record.incidents import read_incidents_file, resolution_counts
from calmopsd.sense import plan
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.sampler import SamplerRunner

EXIT_BAD = 1
EXIT_USAGE = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file. Default: $CALMOPS_CONFIG, else /etc/calmopsd/calmops.yaml, "
    "else the shipped default.",
)
state_dir_option = click.option(
    "--state-dir",
    envvar="CALMOPS_STATE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Override the config's state_dir (database and audit head). Env: CALMOPS_STATE_DIR.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """calmopsd: a calm, safe on-host operations agent."""


@main.command()
@config_option
@state_dir_option
def run(config_path: Path | None, state_dir: Path | None) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C; SIGHUP reloads the config."""
    source = Source(resolve_config_path(_as_str(config_path), os.environ), state_dir)
    config, digest = _load(source)
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


@main.command()
@config_option
def version(config_path: Path | None) -> None:
    """Print the calmopsd version."""
    click.echo(f"calmopsd {__version__}")


@main.command("check-config")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option
def check_config(path: Path | None, config_path: Path | None) -> None:
    """Validate a config file: print 'config OK' (exit 0) or every problem (exit 2)."""
    chosen = path or config_path
    _load(Source(resolve_config_path(_as_str(chosen), os.environ)))
    click.echo("config OK")


@main.command("verify-audit")
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
        config, _ = _load(Source(resolve_config_path(_as_str(config_path), os.environ)))
        state_dir = config.state_dir
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


@main.command()
@config_option
@state_dir_option
@click.option("--all", "all_of_them", is_flag=True, help="Resolved incidents too.")
@click.argument("incident_id", type=int, required=False)
def incidents(
    config_path: Path | None, state_dir: Path | None, all_of_them: bool, incident_id: int | None
) -> None:
    """List open incidents (newest first) with their first summary line, or show one whole.

    Read-only: safe while the daemon runs. Resolved incidents are counted by how
    they ended; stale_resolved is not proof of recovery and is counted apart.
    """
    if state_dir is None:
        config, _ = _load(Source(resolve_config_path(_as_str(config_path), os.environ)))
        state_dir = config.state_dir
    path = database_path(state_dir.resolve())
    if not path.exists():
        click.echo(f"incidents: no database at {path}", err=True)
        sys.exit(EXIT_BAD)
    found = read_incidents_file(path, all_of_them=all_of_them or incident_id is not None)
    if incident_id is not None:
        _show_incident(next((i for i in found if i.id == incident_id), None), incident_id)
        return
    for incident in found:
        first = incident.summary.splitlines()[0] if incident.summary else incident.title
        click.echo(
            f"#{incident.id:<5} {incident.status:<11} {incident.severity:<8} "
            f"{incident.organization_id or 'platform':<12} {first}"
        )
    if not found:
        click.echo("no incidents" if all_of_them else "no open incidents")
    counts = resolution_counts(found)
    if counts:
        click.echo("resolved: " + ", ".join(f"{n} {how}" for how, n in counts.items()))


def _show_incident(incident: Incident | None, incident_id: int) -> None:
    if incident is None:
        click.echo(f"incidents: no incident {incident_id}", err=True)
        sys.exit(EXIT_BAD)
    click.echo(
        f"#{incident.id} {incident.type} {incident.status} {incident.severity} "
        f"({incident.organization_id or 'platform'}; {incident.fingerprint})"
    )
    click.echo(incident.summary or incident.title)


@main.group()
def actions() -> None:
    """The safe-action executor: kill switch, actions in force, early revert."""


def _state_dir(config_path: Path | None, state_dir: Path | None) -> Path:
    if state_dir is None:
        config, _ = _load(Source(resolve_config_path(_as_str(config_path), os.environ)))
        state_dir = config.state_dir
    return state_dir.resolve()


def _who() -> str:
    """The account running the command — from the kernel, not from settable variables.

    Under sudo (root, with SUDO_UID set by sudo) it is the person who ran sudo.
    """
    uid = os.getuid()
    sudo_uid = os.environ.get("SUDO_UID", "")
    if uid == 0 and sudo_uid.isdigit():
        uid = int(sudo_uid)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


@actions.command("pause")
@config_option
@state_dir_option
def actions_pause(config_path: Path | None, state_dir: Path | None) -> None:
    """Refuse every action from now on (the running daemon reads it on each request)."""
    where = _state_dir(config_path, state_dir)
    done = control.pause(where, _who())
    click.echo("actions paused" if done else "actions were already paused")


@actions.command("resume")
@config_option
@state_dir_option
def actions_resume(config_path: Path | None, state_dir: Path | None) -> None:
    """Lift the pause set by `calmopsd actions pause`."""
    where = _state_dir(config_path, state_dir)
    click.echo("actions resumed" if control.resume(where) else "actions were not paused")


@actions.command("active")
@config_option
@state_dir_option
def actions_active(config_path: Path | None, state_dir: Path | None) -> None:
    """List reversible actions in force (a pause, an upload limit) and when they end."""
    path = database_path(_state_dir(config_path, state_dir))
    if not path.exists():
        click.echo(f"actions: no database at {path}", err=True)
        sys.exit(EXIT_BAD)
    found = read_active_file(path)
    for active in found:
        incident = f"incident #{active.incident_id}" if active.incident_id else "no incident"
        click.echo(
            f"#{active.id:<5} {active.action:<19} {active.target:<20} "
            f"until {active.expires_at:%Y-%m-%d %H:%M} UTC  ({incident})"
        )
    if not found:
        click.echo("no actions in force")


@actions.command("revert")
@config_option
@state_dir_option
@click.argument("active_id", type=int)
def actions_revert(config_path: Path | None, state_dir: Path | None, active_id: int) -> None:
    """End one action in force now: by the running daemon, or here if none runs."""
    where = _state_dir(config_path, state_dir)
    path = database_path(where)
    try:
        database = Database.open(path)
    except StoreError as exc:
        if "in use" not in str(exc):
            click.echo(f"actions: {exc}", err=True)
            sys.exit(EXIT_BAD)
        control.ask_revert(where, active_id, _who())
        click.echo(f"asked the running daemon to revert action #{active_id} (within 30 s)")
        return
    try:
        config, _ = _load(Source(resolve_config_path(_as_str(config_path), os.environ), where))
        executor = SafeExecutor(database, config.actions, config.sensing.pm2, where, SystemClock())
        done, why = executor.revert(active_id, SystemClock().now(), _who())
    finally:
        database.close()
    if not done:
        click.echo(f"actions: {why}", err=True)
        sys.exit(EXIT_BAD)
    click.echo(f"action #{active_id} reverted")


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the readings as JSON.")
def sample(config_path: Path | None, as_json: bool) -> None:
    """Run every enabled sampler once and show what calmopsd sees."""
    config, _ = _load(Source(resolve_config_path(_as_str(config_path), os.environ)))
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


def _load(source: Source) -> tuple[Config, str]:
    try:
        return source.load()
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(EXIT_USAGE)


def _parse_head(text: str) -> AuditHead:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:HASH, e.g. 42:9f86d0…", param_hint="--expect-head")
    return AuditHead(int(seq), digest)


def _as_str(path: Path | None) -> str | None:
    return str(path) if path is not None else None
