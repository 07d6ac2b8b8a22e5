"""Repeated names in a list: each said at the entry that repeats it, so at its own line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def repeats(items: Iterable[tuple[int, Any]]) -> list[tuple[int, Any, int]]:
    """``(index, value, first index)`` of each value seen at an earlier index; a None
    value (one wrong itself, and said so) is never compared."""
    first: dict[Any, int] = {}
    found: list[tuple[int, Any, int]] = []
    for index, value in items:
        if value is None:
            continue
        if value in first:
            found.append((index, value, first[value]))
        else:
            first[value] = index
    return found
