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


def each_once(say: Callable[[Any, int, int], str], *, key: str | None = None) -> ItemsCheck:
    """A list's check that each item (or each item's ``key``) is there once; a repeat
    is said at its entry (at its ``key``) as ``say(value, first index, index)``."""

    def check(items: list[tuple[int, Any]]) -> None:
        found = repeats((index, getattr(item, key) if key else item) for index, item in items)
        if found:
            raise Problems(
                [((index, key) if key else (index,), say(value, first, index))
                 for index, value, first in found]
            )  # fmt: skip

    return check


def each_name_once(say: Callable[[str, int, int], str]) -> ItemsCheck:
    """:func:`each_once` of the items' ``name``."""
    return each_once(say, key="name")
