"""The ``dependencies`` sampler's values (:mod:`calmopsd.sense.tcp`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from calmopsd.shapes.fields import by_name, flag, mapping, number, text


@dataclass(frozen=True, slots=True)
class Probe:
    """One TCP probe. ``failure``: ``timeout``, ``dns``, ``connection_refused``,
    ``unreachable`` or ``connection_error``. ``up`` None: the reading did not say."""

    up: bool | None = None
    latency_ms: float = 0.0
    failure: str | None = None
    detail: str | None = None

    @property
    def down(self) -> bool:
        """The probe said it failed (not merely: it did not say it passed)."""
        return self.up is False

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            up=flag(v.get("up")),
            latency_ms=number(v.get("latency_ms")),
            failure=text(v.get("failure")),
            detail=text(v.get("detail")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "up": self.up,
            "latency_ms": self.latency_ms,
            "failure": self.failure,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ProbeValues:
    """Every configured dependency probe, by name."""

    probes: Mapping[str, Probe] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: object) -> Self:
        return cls(by_name(mapping(values).get("probes"), Probe.parse))

    def to_values(self) -> dict[str, Any]:
        return {"probes": {name: p.to_values() for name, p in self.probes.items()}}
