"""Sizes a config file is written in: ``512MiB``, ``1 GiB``.

Like durations, a size carries its unit, because a bare ``512`` (bytes? MiB?)
is a misreading waiting to happen; and only the binary units are taken, since
``MB`` is read as 10^6 by some people and 2^20 by others.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from calmopsd.config.units import shown
from calmopsd.typed import BeforeValidator, PlainSerializer

_UNITS = {"TiB": 2**40, "GiB": 2**30, "MiB": 2**20, "KiB": 2**10, "B": 1}
_SIZE = re.compile(r"([0-9]+)\s*(TiB|GiB|MiB|KiB|B)")
_HINT = "must be a size like 512MiB or 1GiB"


def parse_size(text: str) -> int:
    """Bytes in ``512MiB``, ``1 GiB``, ``64KiB`` or ``4096B``; ``ValueError`` fit to show."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{_HINT} (got {shown(text)})")
    return int(match[1]) * _UNITS[match[2]]


def format_size(size: int) -> str:
    """The largest unit that spells ``size`` exactly: ``536870912`` → ``512MiB``."""
    for unit, factor in _UNITS.items():
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def _to_size(value: Any) -> Any:
    if isinstance(value, str):
        return parse_size(value)
    raise ValueError(f"{_HINT} (got {shown(value)})")


Size = Annotated[
    int,
    BeforeValidator(_to_size),
    PlainSerializer(format_size, return_type=str, when_used="json"),
]
"""A number of bytes written with a binary unit (``512MiB``)."""
