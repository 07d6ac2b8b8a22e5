"""Repeated names in a list: each said at the entry that repeats it, so at its own line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from calmopsd.typed import Problems

ItemsCheck = Callable[[list[tuple[int, Any]]], None]


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


def each_name_once(say: Callable[[str, int, int], str]) -> ItemsCheck:
    """A list's check that every item's ``name`` is its own; a repeat is said at its
    ``name`` as ``say(name, first index, index)``."""

    def check(items: list[tuple[int, Any]]) -> None:
        found = repeats((index, item.name) for index, item in items)
        if found:
            raise Problems(
                [((index, "name"), say(name, first, index)) for index, name, first in found]
            )

    return check
