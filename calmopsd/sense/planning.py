"""Which samplers run, how often and for how long at most: one table (:data:`SAMPLERS`) of
the name, how to build each sampler from ``sensing:`` config, and its section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from calmopsd.clock import Clock
from calmopsd.config.sensing import SensingConfig
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.http import HttpSampler
from calmopsd.sense.memory import MemorySampler
from calmopsd.sense.pm2 import Pm2Sampler
from calmopsd.sense.sampler import Sampler
from calmopsd.sense.tcp import DependencySampler


@dataclass(frozen=True)
class Planned:
    """A sampler and how often, and for how long at most, to run it."""

    sampler: Sampler
    interval_s: float
    timeout_s: float


def _memory(config: SensingConfig, clock: Clock) -> Planned:
    c = config.memory
    return Planned(MemorySampler(c), c.interval.total_seconds(), c.timeout.total_seconds())


def _disk(config: SensingConfig, clock: Clock) -> Planned:
    c = config.disk
    return Planned(DiskSampler(c, clock), c.interval.total_seconds(), c.timeout.total_seconds())


def _pm2(config: SensingConfig, clock: Clock) -> Planned:
    sampler = Pm2Sampler(config.pm2, clock)
    return Planned(sampler, config.pm2.interval.total_seconds(), sampler.timeout_s)


def _http(config: SensingConfig, clock: Clock) -> Planned:
    sampler = HttpSampler(config.http)
    return Planned(sampler, config.http.interval.total_seconds(), sampler.timeout_s)


def _dependencies(config: SensingConfig, clock: Clock) -> Planned:
    sampler = DependencySampler(config.dependencies)
    return Planned(sampler, config.dependencies.interval.total_seconds(), sampler.timeout_s)


SAMPLERS: dict[str, Callable[[SensingConfig, Clock], Planned]] = {
    "memory": _memory,
    "disk": _disk,
    "pm2": _pm2,
    "http": _http,
    "dependencies": _dependencies,
}


def plan(config: SensingConfig, clock: Clock) -> list[Planned]:
    """Every enabled sampler with something to look at, built from config, in table order."""
    return [
        build(config, clock)
        for name, build in SAMPLERS.items()
        if getattr(config, name).enabled and _has_targets(config, name)
    ]


def _has_targets(config: SensingConfig, name: str) -> bool:
    """Health checks and probes without a target would store empty snapshots forever."""
    if name == "http":
        return bool(config.http.checks)
    if name == "dependencies":
        return bool(config.dependencies.probes)
    return True
