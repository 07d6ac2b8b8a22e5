"""shapes: each sampler's ``Reading.values`` as frozen, typed values, one module per sampler.

A sampler stores plain JSON (``Reading.values``, kept as is in snapshots and
served by the API); everything downstream reads it through these shapes
instead of string keys. ``parse`` never raises: a field that is missing or of
the wrong type (a snapshot from an older calmopsd, a hand-edited row,
``None``) gets the default the shape declares, so old snapshots still read.
``to_values`` writes back exactly the JSON the sampler wrote
(``tests/sense/test_sense_shapes.py`` holds each shape to its sampler's output).

Used by sense, detect, respond, serve and the daemon alike, so it imports
nothing of theirs: only :mod:`calmopsd.model`.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

from calmopsd.model import Reading
from calmopsd.shapes.disk import DiskValues, Mount
from calmopsd.shapes.http import CheckResult, HttpValues
from calmopsd.shapes.logs import LogsValues, Rates, SourceRates, Totals, Windows
from calmopsd.shapes.memory import MemoryValues, Process
from calmopsd.shapes.pm2 import AppInstance, AppVersion, Deploy, Pm2App, Pm2Values
from calmopsd.shapes.probes import Probe, ProbeValues


class Shape(Protocol):
    """What every sampler's shape offers."""

    @classmethod
    def parse(cls, values: object) -> Self:
        """The shape of stored values; defaults for whatever is missing or odd. Never raises."""
        ...

    def to_values(self) -> dict[str, Any]:
        """The JSON the sampler stores for this shape."""
        ...


SHAPES: dict[str, type[Shape]] = {
    "memory": MemoryValues,
    "disk": DiskValues,
    "pm2": Pm2Values,
    "http": HttpValues,
    "dependencies": ProbeValues,
    "logs": LogsValues,
}


def shape_of(reading: Reading) -> Shape | None:
    """The typed values of a reading that worked; None for a failed one or another sampler."""
    shape = SHAPES.get(reading.sampler)
    return shape.parse(reading.values) if shape is not None and reading.ok else None


__all__ = [
    "SHAPES",
    "AppInstance",
    "AppVersion",
    "CheckResult",
    "Deploy",
    "DiskValues",
    "HttpValues",
    "LogsValues",
    "MemoryValues",
    "Mount",
    "Pm2App",
    "Pm2Values",
    "Probe",
    "ProbeValues",
    "Process",
    "Rates",
    "Shape",
    "SourceRates",
    "Totals",
    "Windows",
    "shape_of",
]
