"""Config of the samplers (``sensing:``) and of snapshot retention (``retention:``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from calmopsd.config.section import NullIsEmpty, Section
from calmopsd.config.units import ConfigPath, Name, PositiveDuration

_15S = timedelta(seconds=15)


class MemorySamplerConfig(Section):
    """Memory and swap in use, and the processes holding the most."""

    enabled: bool = Field(default=True, description="Take memory readings.")
    interval: PositiveDuration = Field(default=_15S, description="Time between readings.")
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=10), description="A reading taking longer counts as failed."
    )
    top_processes: int = Field(
        default=5, ge=0, le=50, description="How many of the largest processes (by RSS) to list."
    )


class DiskSamplerConfig(Section):
    """Space and inodes in use per mount point, and how fast space is filling."""

    enabled: bool = Field(default=True, description="Take disk readings.")
    interval: PositiveDuration = Field(default=_15S, description="Time between readings.")
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=10), description="A reading taking longer counts as failed."
    )
    mounts: list[ConfigPath] = Field(
        default_factory=lambda: [Path("/")], description="Mount points to watch."
    )
    fill_rate_window: PositiveDuration = Field(
        default=timedelta(hours=1),
        description="How far back the fill rate (and so the time until full) is measured.",
    )


class Pm2SamplerConfig(Section):
    """The PM2 process list: status, restarts, memory, CPU and deployed version per app."""

    enabled: bool = Field(default=True, description="Take PM2 readings.")
    interval: PositiveDuration = Field(
        default=timedelta(seconds=30), description="Time between readings."
    )
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=10),
        description="How long asking PM2 (its socket, or `pm2 jlist`) may take.",
    )
    binary: str = Field(default="pm2", description="The pm2 command (a name on PATH or a path).")
    home: ConfigPath | None = Field(
        default=None,
        description="PM2_HOME of the PM2 daemon to read; empty means $PM2_HOME, "
        "else ~/.pm2 of the user below (or of calmopsd's user).",
    )
    user: str | None = Field(
        default=None,
        description="Run pm2 as this user (needs calmopsd to run as root); empty means "
        "calmopsd's own user.",
    )


class HttpCheckConfig(Section):
    """One health-check URL."""

    name: Name = Field(description="Short name used in readings and incidents.")
    url: str = Field(description="http:// or https:// URL to GET.")
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=5), description="Longer than this counts as a timeout."
    )
    expected_status: int = Field(
        default=200, ge=100, le=599, description="The HTTP status a healthy answer has."
    )
    body: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description='Keys the JSON body must have with these values, e.g. {"db": "ok"}; '
        "a mismatch reports a failing dependency.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL (got {value!r})")
        return value


class HttpSamplerConfig(Section):
    """The app's health-check URLs."""

    enabled: bool = Field(default=True, description="Run the health checks.")
    interval: PositiveDuration = Field(default=_15S, description="Time between rounds.")
    checks: list[HttpCheckConfig] = Field(
        default_factory=list, description="The URLs to check (none by default)."
    )


class DependencyProbeConfig(Section):
    """One TCP dependency (database, cache, object store)."""

    name: Name = Field(description="Short name used in readings and incidents.")
    host: str = Field(min_length=1, max_length=253, description="Host name or IP address.")
    port: int = Field(ge=1, le=65535, description="TCP port.")
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=3), description="Connecting longer than this counts as down."
    )


class DependenciesSamplerConfig(Section):
    """TCP connect probes to the app's dependencies."""

    enabled: bool = Field(default=True, description="Run the dependency probes.")
    interval: PositiveDuration = Field(default=_15S, description="Time between rounds.")
    probes: list[DependencyProbeConfig] = Field(
        default_factory=list, description="The host:port targets to probe (none by default)."
    )


class SensingConfig(Section):
    """What calmopsd samples, and how often."""

    memory: Annotated[MemorySamplerConfig, NullIsEmpty] = Field(
        default_factory=MemorySamplerConfig, description="Memory sampler."
    )
    disk: Annotated[DiskSamplerConfig, NullIsEmpty] = Field(
        default_factory=DiskSamplerConfig, description="Disk sampler."
    )
    pm2: Annotated[Pm2SamplerConfig, NullIsEmpty] = Field(
        default_factory=Pm2SamplerConfig, description="PM2 sampler."
    )
    http: Annotated[HttpSamplerConfig, NullIsEmpty] = Field(
        default_factory=HttpSamplerConfig, description="HTTP health checks."
    )
    dependencies: Annotated[DependenciesSamplerConfig, NullIsEmpty] = Field(
        default_factory=DependenciesSamplerConfig, description="Dependency probes."
    )


class RetentionConfig(Section):
    """How long health snapshots are kept."""

    raw_snapshots: PositiveDuration = Field(
        default=timedelta(days=14),
        description="Raw snapshots older than this are rolled up into 5-minute aggregates "
        "and deleted.",
    )
    rollups: PositiveDuration = Field(
        default=timedelta(days=400), description="5-minute aggregates older than this are deleted."
    )
