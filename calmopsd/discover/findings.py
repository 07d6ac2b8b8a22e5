"""What ``calmopsd init`` found on the host, each value with where it came from.

Frozen values handed from the discoverers (``nginx.py``, ``pm2.py``,
``mounts.py``, ``health.py``) to ``draft.py``, which turns them into the
commented config. ``why`` is the comment the config carries for a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Seen:
    """A value and where it came from (``why``, the guess's comment)."""

    value: str
    why: str


@dataclass(frozen=True)
class AccessLog:
    """One ``access_log PATH [FORMAT]`` nginx writes (``path`` may be a glob)."""

    path: str
    format_name: str
    why: str


@dataclass(frozen=True)
class LogFormat:
    """One ``log_format NAME [escape=…] STRING…;`` (the strings joined)."""

    name: str
    escape: str
    text: str
    where: str


@dataclass(frozen=True)
class HealthCandidate:
    """A URL that may be the app's health check, and why it is thought so."""

    name: str
    url: str
    through_nginx: bool | None
    why: str


@dataclass(frozen=True)
class NginxFound:
    """What nginx's configuration says; ``source`` (for comments: ``nginx -T``…) None when
    none could be read; ``read`` what was read, or why not, for the config's header."""

    source: str | None
    read: str = ""
    binary: str | None = None
    prefix: str | None = None
    conf: str | None = None
    access_logs: tuple[AccessLog, ...] = ()
    log_formats: dict[str, LogFormat] = field(default_factory=dict)
    error_log: Seen | None = None
    pid_file: Seen | None = None
    health: tuple[HealthCandidate, ...] = ()
    notes: tuple[str, ...] = ()
    # Every name a ``server_name`` gives, as written (wildcards and regular expressions too).
    server_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pm2App:
    """One PM2 app (all its instances): how PM2 runs it, and what of its env calmopsd reads."""

    name: str
    exec_mode: str | None  # "fork_mode" / "cluster_mode"
    instances: int
    port: int | None  # PORT in its environment
    out_log: str | None
    running: bool  # in the live daemon's list (else only saved in dump.pm2)


@dataclass(frozen=True)
class Pm2Found:
    """One PM2_HOME: its owner, and its apps from the live daemon and/or ``dump.pm2``."""

    home: str
    owner: str | None
    source: str  # how the apps were read, for the comment
    apps: tuple[Pm2App, ...]
    live: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pm2Search:
    """Every PM2_HOME looked at: the one chosen (None: no PM2 found) and what else was seen."""

    chosen: Pm2Found | None
    others: tuple[Pm2Found, ...] = ()
    looked_at: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mount:
    mountpoint: str
    why: str


@dataclass(frozen=True)
class HealthCheck:
    """A candidate and what it answered when init tried it (``up``: it answered as healthy)."""

    candidate: HealthCandidate
    up: bool
    answer: str
