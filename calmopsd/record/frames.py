"""A snapshot's readings as the changes since its keyframe: how raw snapshots stay small.

A sampler's readings differ little from one round to the next: the same keys,
a few numbers moved. So a stored snapshot is either a *keyframe* (the whole
readings, canonical JSON) or the *changes* since one: the readings flattened
into their leaves (scalars, and empty objects or lists) in a fixed order — object
keys sorted, as canonical JSON writes them — and only the leaves whose value
differs, as ``[index, value, index, value, …]``. A snapshot whose structure (the
paths of its leaves) differs from the keyframe's cannot be written as changes;
it becomes a keyframe itself.

Decoding rebuilds the very value that was encoded, key order included: ``1`` and
``1.0``, ``True`` and ``1``, ``0.0`` and ``-0.0`` are different values here, as
they are in JSON text. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Frame:
    """A keyframe's readings, flattened: the leaves' paths and their values, in order."""

    paths: tuple[Path, ...]
    values: tuple[Any, ...]

    @classmethod
    def of(cls, readings: Any) -> Frame:
        pairs = list(_leaves(readings, ()))
        return cls(tuple(p for p, _ in pairs), tuple(v for _, v in pairs))


def changes(frame: Frame, readings: Any) -> list[Any] | None:
    """``readings`` as ``[index, value, …]`` against ``frame``; None if its structure differs."""
    pairs = list(_leaves(readings, ()))
    if len(pairs) != len(frame.paths):
        return None
    found: list[Any] = []
    for index, ((path, value), (kept_path, kept)) in enumerate(
        zip(pairs, zip(frame.paths, frame.values, strict=True), strict=True)
    ):
        if path != kept_path:
            return None
        if not _same(value, kept):
            found += [index, value]
    return found


def apply(frame: Frame, changed: list[Any]) -> Any:
    """The readings that ``changed`` (from :func:`changes`) describes against ``frame``."""
    values = list(frame.values)
    for at in range(0, len(changed), 2):
        values[changed[at]] = changed[at + 1]
    return _rebuild(frame.paths, values)


def _leaves(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or a != b:
        return False
    # -0.0 == 0.0, but JSON writes them differently.
    return not isinstance(a, float) or math.copysign(1.0, a) == math.copysign(1.0, b)


def _rebuild(paths: tuple[Path, ...], values: list[Any]) -> Any:
    """The nested value whose leaves are ``values`` at ``paths`` (in :func:`_leaves` order)."""
    if len(paths) == 1 and paths[0] == ():
        return values[0]
    root: Any = {} if isinstance(paths[0][0], str) else []
    for path, leaf in zip(paths, values, strict=True):
        # An empty object or list leaf is made anew: a decoded value shares nothing.
        value = type(leaf)() if isinstance(leaf, dict | list) else leaf
        node = root
        for key, following in pairwise(path):
            if isinstance(node, dict):
                node = node.setdefault(key, {} if isinstance(following, str) else [])
            else:
                if key == len(node):
                    node.append({} if isinstance(following, str) else [])
                node = node[key]
        if isinstance(node, dict):
            node[path[-1]] = value
        else:
            node.append(value)
    return root
