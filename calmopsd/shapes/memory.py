"""The ``memory`` sampler's values (:mod:`calmopsd.sense.memory`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from calmopsd.shapes.fields import each, integer, mapping, number, optional_integer, text


@dataclass(frozen=True, slots=True)
class Process:
    """One of the processes holding the most resident memory."""

    name: str | None = None  # None when the process would not tell
    pid: int | None = None
    rss_bytes: int = 0

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(text(v.get("name")), optional_integer(v.get("pid")), integer(v.get("rss_bytes")))

    def to_values(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "rss_bytes": self.rss_bytes}


@dataclass(frozen=True, slots=True)
class MemoryValues:
    """Host memory: ``used_percent`` is ``(total - available) / total``, as ``free`` has it."""

    used_percent: float = 0.0
    total_bytes: int = 0
    available_bytes: int = 0
    swap_used_percent: float = 0.0
    swap_total_bytes: int = 0
    top_processes: tuple[Process, ...] = ()  # biggest first

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            used_percent=number(v.get("used_percent")),
            total_bytes=integer(v.get("total_bytes")),
            available_bytes=integer(v.get("available_bytes")),
            swap_used_percent=number(v.get("swap_used_percent")),
            swap_total_bytes=integer(v.get("swap_total_bytes")),
            top_processes=each(v.get("top_processes"), Process.parse),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "used_percent": self.used_percent,
            "total_bytes": self.total_bytes,
            "available_bytes": self.available_bytes,
            "swap_used_percent": self.swap_used_percent,
            "swap_total_bytes": self.swap_total_bytes,
            "top_processes": [p.to_values() for p in self.top_processes],
        }
