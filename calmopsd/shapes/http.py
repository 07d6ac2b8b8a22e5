"""The ``http`` sampler's values (:mod:`calmopsd.sense.http`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from calmopsd.shapes.fields import (
    by_name,
    flag,
    mapping,
    number,
    optional_integer,
    text,
    texts,
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One health check. ``failure`` is one of a closed set of kinds (``timeout``,
    ``connection_refused``, ``dns``, ``tls``, ``connection_error``, ``unexpected_status``,
    ``body_check_failed``); ``failed_dependencies`` names the keys a JSON body check
    found wrong. ``up`` None: the reading did not say."""

    up: bool | None = None
    status: int | None = None  # the HTTP status, when there was an answer
    latency_ms: float = 0.0
    failure: str | None = None
    detail: str | None = None
    failed_dependencies: tuple[str, ...] = ()
    via_nginx: bool | None = None  # the URL goes through nginx; None: a reading before it said

    @property
    def down(self) -> bool:
        """The check said it failed (not merely: it did not say it passed)."""
        return self.up is False

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            up=flag(v.get("up")),
            status=optional_integer(v.get("status")),
            latency_ms=number(v.get("latency_ms")),
            failure=text(v.get("failure")),
            detail=text(v.get("detail")),
            failed_dependencies=texts(v.get("failed_dependencies")),
            via_nginx=flag(v.get("via_nginx")),
        )

    def to_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "up": self.up,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "failure": self.failure,
            "detail": self.detail,
            "failed_dependencies": list(self.failed_dependencies),
        }
        if self.via_nginx is not None:  # a reading from before it was said has no such key
            values["via_nginx"] = self.via_nginx
        return values


@dataclass(frozen=True, slots=True)
class HttpValues:
    """Every configured health check, by name."""

    checks: Mapping[str, CheckResult] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: object) -> Self:
        return cls(by_name(mapping(values).get("checks"), CheckResult.parse))

    def to_values(self) -> dict[str, Any]:
        return {"checks": {name: c.to_values() for name, c in self.checks.items()}}
