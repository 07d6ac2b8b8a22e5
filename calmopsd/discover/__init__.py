"""What ``calmopsd init`` learns about the host, to write a starting config.

    nginx.py        nginx -V / nginx -T (or its files): access logs, log_format, error log,
                    pid file, health locations          (nginx_conf.py reads the config text)
    log_formats.py  those logs as logs.nginx sources calmopsd can read, or why not
    pm2.py          PM2_HOME, its owner, the apps: a live daemon's socket and dump.pm2,
                    never the pm2 command (which would start a daemon)
    mounts.py       filesystems worth the disk sampler
    health.py       a likely health URL, tried once with the http sampler's own code
    draft.py        all of it as the commented YAML config (document.py writes YAML)

Every discoverer reads only; the one thing run is nginx (``-V`` and ``-T``), through
:mod:`calmopsd.runner` with a timeout. What is looked at comes in a :class:`Host`, so
a test hands in a host of its own.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from calmopsd import runner
from calmopsd.discover import health, log_formats, mounts, nginx, pm2
from calmopsd.discover.findings import HealthCheck, Mount, NginxFound, Pm2Search
from calmopsd.discover.log_formats import LogSource

DEFAULT_ACCESS_LOG = Path("/var/log/nginx/access.log")


@dataclass(frozen=True)
class Host:
    """What to look at. ``pm2_homes`` None: look for PM2 around the host."""

    nginx_binary: str | None
    nginx_conf: Path | None = None
    nginx_prefix: Path | None = None
    pm2_homes: tuple[Path, ...] | None = None
    default_access_log: Path = DEFAULT_ACCESS_LOG
    environ: dict[str, str] = field(default_factory=dict)
    partitions: mounts.Partitions = psutil.disk_partitions
    timeout_s: float = 10.0
    probe_timeout_s: float = 2.0


@dataclass(frozen=True)
class Survey:
    nginx: NginxFound
    log_sources: tuple[LogSource, ...]
    pm2: Pm2Search
    mounts: tuple[Mount, ...]
    checks: tuple[HealthCheck, ...]
    nginx_on_path: bool  # the nginx found is the one `nginx` names on the daemon's PATH


def this_host(
    nginx_binary: str | None, nginx_conf: Path | None, nginx_prefix: Path | None,
    pm2_homes: tuple[Path, ...] | None,
) -> Host:  # fmt: skip
    """The real host: nginx on PATH (or /usr/sbin) unless given, its own environment."""
    binary = shutil.which(nginx_binary) if nginx_binary else _on_path("nginx")
    return Host(binary, nginx_conf, nginx_prefix, pm2_homes, environ=dict(os.environ))


def survey(host: Host) -> Survey:
    found = nginx.discover(
        nginx.NginxHost(
            host.nginx_binary,
            host.nginx_conf,
            host.nginx_prefix,
            host.default_access_log,
            host.timeout_s,
        )
    )
    search = pm2.discover(
        pm2.Pm2Host(host.pm2_homes, host.environ, pm2_daemons, user_homes, host.timeout_s)
    )
    apps = search.chosen.apps if search.chosen else ()
    groups = health.candidates(found.health, apps)
    return Survey(
        nginx=found,
        log_sources=tuple(log_formats.sources(found.access_logs, found.log_formats)),
        pm2=search,
        mounts=tuple(mounts.discover(host.partitions)),
        checks=tuple(health.probe(groups, host.probe_timeout_s)),
        nginx_on_path=host.nginx_binary is not None
        and _same_file(host.nginx_binary, _on_path("nginx")),
    )


def nginx_log_sources(host: Host | None = None, timeout_s: float = 5.0) -> list[LogSource]:
    """The log sources this host's nginx writes (``nginx -T``, or its files when that fails),
    as ``calmopsd init`` finds them: for the daemon, to read each log in its real format."""
    found = _nginx(host, timeout_s)
    return log_formats.sources(found.access_logs, found.log_formats)


def nginx_server_names(host: Host | None = None, timeout_s: float = 5.0) -> tuple[str, ...]:
    """Every ``server_name`` this host's nginx serves, read as :func:`nginx_log_sources` reads
    its logs: for the leak check of customer messages (an internal virtual host's name)."""
    return _nginx(host, timeout_s).server_names


def _nginx(host: Host | None, timeout_s: float) -> NginxFound:
    host = host or this_host(None, None, None, ())
    return nginx.discover(
        nginx.NginxHost(
            host.nginx_binary,
            host.nginx_conf,
            host.nginx_prefix,
            host.default_access_log,
            min(timeout_s, host.timeout_s),
        )
    )


def _on_path(name: str) -> str | None:
    return shutil.which(name, path=runner.MINIMAL_PATH)


def _same_file(a: str, b: str | None) -> bool:
    try:
        return b is not None and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def pm2_daemons() -> Iterator[Path]:
    """The PM2_HOME of every PM2 daemon in the process table."""
    for proc in psutil.process_iter(["cmdline"]):
        title = " ".join(proc.info.get("cmdline") or [])
        if not title.startswith("PM2 v"):
            continue
        try:
            environ = proc.environ()
        except (psutil.Error, OSError):  # another user's, or gone
            environ = {}
        home = pm2.daemon_home(title, environ)
        if home is not None:
            yield home


def user_homes() -> Iterator[Path]:
    """Every user's home directory."""
    for entry in pwd.getpwall():
        if entry.pw_dir.startswith("/") and entry.pw_dir != "/":
            yield Path(entry.pw_dir)
