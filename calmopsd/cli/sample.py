"""``calmopsd sample``: every enabled sampler once, and what calmopsd sees."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from calmopsd import log as logsetup
from calmopsd.cli.options import config_option, load_config
from calmopsd.clock import SystemClock
from calmopsd.model import Reading
from calmopsd.sense import plan
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.sampler import SamplerRunner


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
