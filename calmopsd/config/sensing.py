"""Config of the samplers (``sensing:``) and of snapshot retention (``retention:``).

Check and probe names key the readings (``checks.<name>``), so two entries with
one name would silently overwrite each other: a list with a repeated name is
refused. A health URL may carry a token or credentials, so messages about it
show only ``scheme://host:port`` (:func:`url_origin`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from calmopsd.config.section import NullIsEmpty, Section
from calmopsd.config.sizes import Size, format_size
from calmopsd.config.unique import each_name_once
from calmopsd.config.units import ConfigPath, Name, OptionalPath, PositiveDuration, shown
from calmopsd.typed import AfterValidator, Field, across_items, field_validator

_15S = timedelta(seconds=15)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A conventional Unix user name (useradd's default rule, without the trailing $ of
# machine accounts): pm2 runs as this user and its home is looked up by it.
_UNIX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


_unique_names = each_name_once(
    lambda name, first, index: f"duplicate name {name!r} (entries [{first}] and [{index}])"
)


def url_origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: all of a URL that is safe to show.

    Path, query, fragment and userinfo may hold tokens or passwords and are
    never part of it. Meant for URLs the config already accepted.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(unparsable URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


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
    home: OptionalPath = Field(
        default=None,
        description="PM2_HOME of the PM2 daemon to read; empty means $PM2_HOME, "
        "else ~/.pm2 of the user below (or of calmopsd's user).",
    )
    user: str | None = Field(
        default=None,
        description="Run pm2 as this user, a Unix user name (needs calmopsd to run as root); "
        "no value means calmopsd's own user.",
    )

    @field_validator("binary")
    @classmethod
    def _a_command(cls, value: str) -> str:
        # It becomes argv[0]: blank finds nothing on PATH, and NUL cannot be passed at all.
        if not value.strip():
            raise ValueError("must not be empty")
        if "\0" in value:
            raise ValueError("must not contain a NUL character")
        return value

    @field_validator("user")
    @classmethod
    def _a_unix_user(cls, value: str | None) -> str | None:
        if value is not None and not _UNIX_USER.fullmatch(value):
            raise ValueError(
                "must be a Unix user name: up to 32 lowercase letters, digits, _ and -, "
                f"starting with a letter or _ (got {shown(value)})"
            )
        return value


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
    through_nginx: bool | None = Field(
        default=None,
        description="Whether the URL is served through nginx, so that reloading nginx can "
        "help when nginx answers 502 or 504 for it. Unset: yes when the URL uses its "
        "scheme's default port (80, 443), no when it names another (an app's own port).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # Never quote the URL back: its path, query or userinfo may be a secret.
        try:
            parts = urlsplit(value)
        except ValueError:
            raise ValueError(
                "must be an http:// or https:// URL (this one cannot be parsed)"
            ) from None
        if parts.scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        if not parts.hostname:
            raise ValueError(f"must name a host after {parts.scheme}://")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(
                f"must have a port from 1 to 65535 (got {parts.scheme}://{parts.hostname}:…)"
            )
        return value

    @property
    def via_nginx(self) -> bool:
        """``through_nginx``, or what the URL's port suggests when it is unset."""
        if self.through_nginx is not None:
            return self.through_nginx
        parts = urlsplit(self.url)
        return parts.port is None or parts.port == {"http": 80, "https": 443}[parts.scheme]

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the URL, the only part of it readings and logs show."""
        return url_origin(self.url)


class HttpSamplerConfig(Section):
    """The app's health-check URLs."""

    enabled: bool = Field(default=True, description="Run the health checks.")
    interval: PositiveDuration = Field(default=_15S, description="Time between rounds.")
    checks: Annotated[list[HttpCheckConfig], across_items(_unique_names)] = Field(
        default_factory=list,
        description="The URLs to check (none by default); each name once.",
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
    probes: Annotated[list[DependencyProbeConfig], across_items(_unique_names)] = Field(
        default_factory=list,
        description="The host:port targets to probe (none by default); each name once.",
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


_LEAST_STORE = 16 * 2**20


def _room_for_a_day(size: int) -> int:
    """The cap's floor, said in the file's own unit (16MiB, not 16777216)."""
    if size < _LEAST_STORE:
        raise ValueError(f"must be at least {format_size(_LEAST_STORE)} (got {format_size(size)})")
    return size


StoreSize = Annotated[Size, AfterValidator(_room_for_a_day)]


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
    max_store_size: StoreSize = Field(
        default=512 * 2**20,
        description="The most the database may hold. Checked hourly; when over, raw snapshots "
        "are rolled up early (the last hour stays raw), then the oldest roll-ups are deleted, "
        "until it is under again, with one retention.cap_reached warning. Incidents and the "
        "audit log are never deleted.",
    )
