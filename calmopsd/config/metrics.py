"""Every metric a rule may watch, per sampler, with its kind: one table.

A rule whose metric is not here could never fire, so it is refused with the
nearest known names rather than accepted and silently idle. The table mirrors
what the samplers put in ``Reading.values`` (``tests/config`` holds it to
the samplers' real output).
"""

from __future__ import annotations

import difflib
from typing import Literal

Kind = Literal["number", "bool", "text"]

_WINDOW: dict[str, Kind] = {
    name: "number"
    for name in (
        "requests_per_min", "server_errors_per_min", "error_lines_per_min", "requests",
        "server_errors", "error_lines", "uploads", "upload_failures", "upload_failure_rate",
        "server_error_rate", "parse_errors",
    )
}  # fmt: skip

METRICS: dict[str, dict[str, Kind]] = {
    "memory": {
        "used_percent": "number",
        "available_bytes": "number",
        "total_bytes": "number",
        "swap_used_percent": "number",
        "swap_total_bytes": "number",
    },
    "disk": {
        f"mounts.{{mount}}.{name}": "number"
        for name in (
            "used_percent",
            "used_bytes",
            "free_bytes",
            "total_bytes",
            "inodes_used_percent",
            "fill_bytes_per_hour",
            "hours_until_full",
        )
    },
    "pm2": {
        "state": "text",
        **{
            f"apps.{{app}}.{name}": "text"
            for name in ("status", "exec_mode", "version", "revision", "crash_loop")
        },
        **{
            f"apps.{{app}}.{name}": "number"
            for name in (
                "instances",
                "online",
                "restart_time",
                "unstable_restarts",
                "uptime_s",
                "memory_bytes",
                "cpu_percent",
                "restart_increase",
            )
        },
    },
    "http": {
        "checks.{check}.up": "bool",
        "checks.{check}.status": "number",
        "checks.{check}.latency_ms": "number",
        "checks.{check}.failure": "text",
    },
    "dependencies": {
        "probes.{probe}.up": "bool",
        "probes.{probe}.latency_ms": "number",
        "probes.{probe}.failure": "text",
    },
    "logs": {
        **{f"platform.{w}.{name}": kind for w in ("1m", "5m") for name, kind in _WINDOW.items()},
        **{
            f"organizations.{{organization}}.{w}.{name}": kind
            for w in ("1m", "5m")
            for name, kind in _WINDOW.items()
        },
    },
}
SAMPLERS = tuple(METRICS)
FRACTIONS = frozenset({"upload_failure_rate", "server_error_rate"})  # 0.1 means 10 %


def metric_kind(sampler: str, metric: str) -> Kind:
    """The kind of ``metric`` in ``sampler``'s readings; ValueError names the nearest ones."""
    known = METRICS.get(sampler)
    if known is None:
        raise ValueError(f"unknown sampler {sampler!r}")
    if metric in known:
        return known[metric]
    near = difflib.get_close_matches(metric, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}?" if near else (
        "known: " + ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
    )  # fmt: skip
    raise ValueError(f"{sampler} readings have no metric {metric!r}; {hint}")


def is_fraction(metric: str) -> bool:
    return metric.rsplit(".", 1)[-1] in FRACTIONS
