"""The ``disk`` sampler's values (:mod:`calmopsd.sense.disk`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from calmopsd.shapes.fields import by_name, mapping, optional_integer, optional_number, text


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount point. A mount that could not be read has only ``error``; every figure is
    None then. ``fill_bytes_per_hour`` is None until the history spans enough time, and
    ``hours_until_full`` None while the disk is not growing."""

    used_percent: float | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    total_bytes: int | None = None
    inodes_used_percent: float | None = None
    fill_bytes_per_hour: int | None = None
    hours_until_full: float | None = None
    error: str | None = None

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            used_percent=optional_number(v.get("used_percent")),
            used_bytes=optional_integer(v.get("used_bytes")),
            free_bytes=optional_integer(v.get("free_bytes")),
            total_bytes=optional_integer(v.get("total_bytes")),
            inodes_used_percent=optional_number(v.get("inodes_used_percent")),
            fill_bytes_per_hour=optional_integer(v.get("fill_bytes_per_hour")),
            hours_until_full=optional_number(v.get("hours_until_full")),
            error=text(v.get("error")),
        )

    def to_values(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return {
            "used_percent": self.used_percent,
            "used_bytes": self.used_bytes,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
            "inodes_used_percent": self.inodes_used_percent,
            "fill_bytes_per_hour": self.fill_bytes_per_hour,
            "hours_until_full": self.hours_until_full,
        }


@dataclass(frozen=True, slots=True)
class DiskValues:
    """Every configured mount point, by path."""

    mounts: Mapping[str, Mount] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: object) -> Self:
        return cls(by_name(mapping(values).get("mounts"), Mount.parse))

    def to_values(self) -> dict[str, Any]:
        return {"mounts": {path: m.to_values() for path, m in self.mounts.items()}}
