"""Every sampler's latest reading as gauges, read through its typed shape (``calmopsd.shapes``).

One function per sampler in one table (:data:`READINGS`), like ``SHAPES``. Units
are Prometheus' base units where the reading has another (latency in seconds, not
ms; the disk's fill rate per second and time to full in seconds); percentages stay
percentages, as the config's thresholds are written. Labels are what the config
names (a mount, an app, a check, a probe, a log source) and the organizations the
log watcher counts (at most ``logs.max_organizations``): never a pid or an id.
A failed reading has no values here; ``calmopsd_sampler_success`` says it failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import Metric

from calmopsd.serve.metrics.scrape import Scrape, gauge, labelled, per
from calmopsd.shapes import (
    DiskValues,
    HttpValues,
    LogsValues,
    MemoryValues,
    Pm2Values,
    ProbeValues,
    Rates,
    Windows,
)

_MS = 1000.0
_HOUR = 3600.0


def samplers(scrape: Scrape) -> Iterator[Metric]:
    """Like node_exporter's ``node_scrape_collector_success``: whether each sampler's latest
    round worked, how old it is and how long it took; and how often each is scheduled."""
    readings = scrape.readings
    yield from per(
        "calmopsd_sampler_success",
        "1 if the sampler's latest reading worked.",
        "sampler",
        readings,
        lambda r: r.ok,
    )
    yield from per(
        "calmopsd_sampler_age_seconds",
        "Seconds since the sampler's latest reading.",
        "sampler",
        readings,
        lambda r: max(0.0, (scrape.now - r.taken_at).total_seconds()),
    )
    yield from per(
        "calmopsd_sampler_duration_seconds",
        "How long the latest reading took.",
        "sampler",
        readings,
        lambda r: r.duration_ms / _MS,
    )
    yield from per(
        "calmopsd_sampler_interval_seconds",
        "How often the sampler is scheduled.",
        "sampler",
        scrape.sampling,
        lambda c: c.interval_s,
    )


def memory(values: MemoryValues) -> Iterator[Metric]:
    yield from gauge(
        "calmopsd_memory_used_percent",
        "Host memory in use, (total - available) / total, as free has it.",
        values.used_percent,
    )
    yield from gauge("calmopsd_memory_total_bytes", "Host memory.", values.total_bytes)
    yield from gauge(
        "calmopsd_memory_available_bytes", "Host memory available.", values.available_bytes
    )
    yield from gauge("calmopsd_swap_used_percent", "Swap in use.", values.swap_used_percent)
    yield from gauge("calmopsd_swap_total_bytes", "Swap.", values.swap_total_bytes)


def disk(values: DiskValues) -> Iterator[Metric]:
    m = values.mounts
    yield from per(
        "calmopsd_disk_used_percent",
        "Space in use on the mount.",
        "mount",
        m,
        lambda x: x.used_percent,
    )
    yield from per(
        "calmopsd_disk_used_bytes", "Bytes in use on the mount.", "mount", m, lambda x: x.used_bytes
    )
    yield from per(
        "calmopsd_disk_free_bytes", "Bytes free on the mount.", "mount", m, lambda x: x.free_bytes
    )
    yield from per(
        "calmopsd_disk_total_bytes", "Size of the mount.", "mount", m, lambda x: x.total_bytes
    )
    yield from per(
        "calmopsd_disk_inodes_used_percent",
        "Inodes in use on the mount.",
        "mount",
        m,
        lambda x: x.inodes_used_percent,
    )
    yield from per(
        "calmopsd_disk_fill_bytes_per_second",
        "How fast the mount fills, over the fill window.",
        "mount",
        m,
        lambda x: None if x.fill_bytes_per_hour is None else x.fill_bytes_per_hour / _HOUR,
    )
    yield from per(
        "calmopsd_disk_full_in_seconds",
        "When the mount is full at its fill rate.",
        "mount",
        m,
        lambda x: None if x.hours_until_full is None else x.hours_until_full * _HOUR,
    )


def pm2(values: Pm2Values) -> Iterator[Metric]:
    yield from gauge("calmopsd_pm2_read", "1 if PM2's process list was read.", values.state == "ok")
    apps = values.apps
    yield from per(
        "calmopsd_pm2_app_up",
        "1 if every instance of the app is online.",
        "app",
        apps,
        lambda a: a.status == "online",
    )
    yield from per(
        "calmopsd_pm2_app_restarts",
        "Restarts PM2 counted for the app.",
        "app",
        apps,
        lambda a: a.restart_time,
        counter=True,
    )
    yield from per(
        "calmopsd_pm2_app_memory_bytes",
        "Resident memory of the app's instances.",
        "app",
        apps,
        lambda a: a.memory_bytes,
    )
    yield from per(
        "calmopsd_pm2_app_cpu_percent",
        "CPU of the app's instances.",
        "app",
        apps,
        lambda a: a.cpu_percent,
    )
    yield from per(
        "calmopsd_pm2_app_instances",
        "Instances PM2 runs for the app.",
        "app",
        apps,
        lambda a: a.instances,
    )
    yield from labelled(
        "calmopsd_pm2_app_instances_by_status",
        "The app's instances in each PM2 status.",
        ["app", "status"],
        (
            ([name, status], n)
            for name, app in sorted(apps.items())
            for status, n in sorted(app.statuses.items())
        ),
    )


def http(values: HttpValues) -> Iterator[Metric]:
    checks = values.checks
    yield from per(
        "calmopsd_http_check_up", "1 if the health check passed.", "check", checks, lambda c: c.up
    )
    yield from per(
        "calmopsd_http_check_latency_seconds",
        "How long the check took.",
        "check",
        checks,
        lambda c: c.latency_ms / _MS,
    )
    yield from per(
        "calmopsd_http_check_status_code",
        "The HTTP status the check got.",
        "check",
        checks,
        lambda c: c.status,
    )


def dependencies(values: ProbeValues) -> Iterator[Metric]:
    probes = values.probes
    yield from per(
        "calmopsd_dependency_up", "1 if the TCP probe connected.", "probe", probes, lambda p: p.up
    )
    yield from per(
        "calmopsd_dependency_latency_seconds",
        "How long the probe took.",
        "probe",
        probes,
        lambda p: p.latency_ms / _MS,
    )


# Windowed figures of the logs, as the rules read them: name, help, the Rates field.
_RATES: tuple[tuple[str, str, Callable[[Rates], float | None]], ...] = (
    ("requests_per_minute", "Requests a minute", lambda r: r.requests_per_min),
    ("server_errors_per_minute", "5xx answers a minute", lambda r: r.server_errors_per_min),
    ("error_lines_per_minute", "Error lines a minute", lambda r: r.error_lines_per_min),
    ("server_error_ratio", "Share of requests answered 5xx", lambda r: r.server_error_rate),
    ("upload_failure_ratio", "Share of uploads that failed", lambda r: r.upload_failure_rate),
)


_TOTALS = ("requests", "server_errors", "error_lines", "uploads", "upload_failures", "parse_errors")


def _windowed(prefix: str, whose: str, label: str, by: dict[str, Windows]) -> Iterator[Metric]:
    for suffix, doc, figure in _RATES:
        yield from labelled(
            f"{prefix}_{suffix}",
            f"{doc} {whose}, over the window (1m or 5m).",
            [label, "window"],
            (
                ([key, name], figure(rates))
                for key, windows in sorted(by.items())
                for name, rates in (("1m", windows.one_minute), ("5m", windows.five_minutes))
            ),
        )


def logs(values: LogsValues) -> Iterator[Metric]:
    sources = values.sources
    yield from _windowed(
        "calmopsd_log",
        "in the source's files",
        "source",
        {s: r.windows for s, r in sources.items()},
    )
    yield from _windowed(
        "calmopsd_log_organization",
        "naming the organization",
        "organization",
        dict(values.organizations),
    )
    for field in _TOTALS:
        yield from per(
            f"calmopsd_log_{field}",
            f"{field.replace('_', ' ').capitalize()} read from the source's files since "
            "calmopsd first read them.",
            "source",
            {s: getattr(r.totals, field) for s, r in sources.items()},
            lambda n: n,
            counter=True,
        )
    yield from per(
        "calmopsd_log_behind_bytes",
        "Written to the source's files, not read yet.",
        "source",
        sources,
        lambda r: r.behind_bytes,
    )
    yield from per(
        "calmopsd_log_behind_seconds",
        "How long the source has been behind.",
        "source",
        sources,
        lambda r: r.behind_seconds,
    )


READINGS: dict[str, Callable[[Any], Iterator[Metric]]] = {
    "memory": lambda v: memory(MemoryValues.parse(v)),
    "disk": lambda v: disk(DiskValues.parse(v)),
    "pm2": lambda v: pm2(Pm2Values.parse(v)),
    "http": lambda v: http(HttpValues.parse(v)),
    "dependencies": lambda v: dependencies(ProbeValues.parse(v)),
    "logs": lambda v: logs(LogsValues.parse(v)),
}


def values(scrape: Scrape) -> Iterator[Metric]:
    """Each working reading's values, by its sampler's function in :data:`READINGS`."""
    for name, reading in sorted(scrape.readings.items()):
        if reading.ok and name in READINGS:
            yield from READINGS[name](reading.values)
