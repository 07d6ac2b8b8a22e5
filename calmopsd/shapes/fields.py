"""Readers for one field of stored JSON: the value if it has the right type, else a default.

Each takes whatever a snapshot holds (a reading from an older calmopsd, a
hand-edited row, ``None``) and never raises. ``bool`` is not a number here,
though Python counts it as an ``int``. A number is returned as it was stored
(an ``int`` stays an ``int`` where a ``float`` is expected), so a shape writes
back the JSON it was read from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def integer(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def optional_integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: object, default: float = 0.0) -> float:
    found = optional_number(value)
    return default if found is None else found


def optional_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def texts(value: object) -> tuple[str, ...]:
    """The strings of a list; anything else in it is dropped."""
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def counts(value: object) -> dict[str, int]:
    """A mapping of names to integers; other entries are dropped."""
    found: dict[str, int] = {}
    for name, count in mapping(value).items():
        kept = optional_integer(count)
        if isinstance(name, str) and kept is not None:
            found[name] = kept
    return found


def each(value: object, parse: Callable[[object], T]) -> tuple[T, ...]:
    """Every mapping in a list, parsed; anything else in it is dropped."""
    if not isinstance(value, list):
        return ()
    return tuple(parse(item) for item in value if isinstance(item, Mapping))


def by_name(value: object, parse: Callable[[object], T]) -> dict[str, T]:
    """Every mapping under a name, parsed; entries that are not mappings are dropped."""
    return {
        name: parse(item)
        for name, item in mapping(value).items()
        if isinstance(name, str) and isinstance(item, Mapping)
    }
