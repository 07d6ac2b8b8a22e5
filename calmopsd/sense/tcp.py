"""Dependency probes: can we open a TCP connection to host:port, and how fast?"""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

from calmopsd.config.sensing import DependenciesSamplerConfig, DependencyProbeConfig
from calmopsd.sense.fanout import each_at_once, round_bound


class DependencySampler:
    name = "dependencies"

    def __init__(self, config: DependenciesSamplerConfig):
        self.probes = list(config.probes)

    @property
    def timeout_s(self) -> float:
        """The longest one round can take; the probes run at once."""
        return round_bound([p.timeout.total_seconds() for p in self.probes])

    def sample(self) -> dict[str, Any]:
        results = each_at_once(self.probes, probe_once)
        return {"probes": {p.name: r for p, r in zip(self.probes, results, strict=True)}}


def probe_once(probe: DependencyProbeConfig) -> dict[str, Any]:
    began = time.monotonic()
    try:
        with socket.create_connection((probe.host, probe.port), probe.timeout.total_seconds()):
            pass
    except OSError as exc:
        return {
            "up": False,
            "latency_ms": _ms(began),
            "failure": _kind(exc),
            "detail": str(exc)[:300],
        }
    return {"up": True, "latency_ms": _ms(began), "failure": None, "detail": None}


def _kind(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if exc.errno == errno.ECONNREFUSED:
        return "connection_refused"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "connection_error"


def _ms(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 2)
