"""A YAML document with comments, written from a small tree: keys, list items, notes.

PyYAML drops comments, so the config ``init`` writes is emitted here: block
style, two spaces per level, every string double-quoted (JSON's escapes, which
YAML reads alike; line and paragraph separators escaped too), comments wrapped
and stripped of anything that could end them. :func:`render` checks its own
output: the text must load back, with PyYAML, to exactly :func:`data` of the
tree, or it raises — a value that does not survive quoting is a bug, never a
config that says something else.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml

Scalar = str | int | bool
WIDTH = 92
# What PyYAML reads as printable, less the line breaks \x85, \u2028 and \u2029.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAKS = {"\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P"}


@dataclass(frozen=True)
class Item:
    """One list entry: a scalar (``notes`` trail it, joined) or a mapping (``notes`` above it)."""

    value: Scalar | tuple[Key, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Key:
    """``name: value``; a value of None writes only the comments (``notes``, then ``snippet``,
    YAML lines shown commented out)."""

    name: str
    value: Scalar | tuple[Item, ...] | tuple[Key, ...] | None
    notes: tuple[str, ...] = ()
    snippet: tuple[str, ...] = ()


def render(keys: tuple[Key, ...], header: tuple[str, ...] = ()) -> str:
    lines = [*_comment(header, 0), ""] if header else []
    for key in keys:
        lines += _key(key, 0)
        lines.append("")
    text = "\n".join(lines).rstrip("\n") + "\n"
    if yaml.safe_load(text) != data(keys):
        raise ValueError("the rendered document does not load back to its own values")
    return text


def data(keys: tuple[Key, ...]) -> dict[str, Any]:
    """The values the document holds, as YAML would load them."""
    return {k.name: _value(k.value) for k in keys if k.value is not None}


def lines_of(keys: tuple[Key, ...]) -> tuple[str, ...]:
    """``keys`` as YAML lines (no comments), to show commented out in a ``snippet``."""
    return tuple(line for key in keys for line in _key(Key(key.name, key.value), 0))


def item_lines(item: Item) -> tuple[str, ...]:
    """One list entry as YAML lines, for a ``snippet``."""
    return tuple(_item(Item(item.value), 0))


def _value(value: Scalar | tuple[Item, ...] | tuple[Key, ...] | None) -> Any:
    if not isinstance(value, tuple):
        return value
    if all(isinstance(v, Key) for v in value) and value:
        return data(value)  # type: ignore[arg-type]  # a tuple of Keys, checked just above
    return [_value(i.value) for i in value if isinstance(i, Item)]


def _key(key: Key, indent: int) -> list[str]:
    pad = " " * indent
    lines = _comment(key.notes, indent) + [f"{pad}# {line}" for line in key.snippet]
    value = key.value
    if value is None:
        return lines
    if not isinstance(value, tuple):
        return [*lines, f"{pad}{key.name}: {scalar(value)}"]
    if not value:
        return [*lines, f"{pad}{key.name}: []"]
    lines.append(f"{pad}{key.name}:")
    for child in value:
        lines += _key(child, indent + 2) if isinstance(child, Key) else _item(child, indent + 2)
    return lines


def _item(item: Item, indent: int) -> list[str]:
    pad = " " * indent
    if not isinstance(item.value, tuple):
        trailing = f"  # {_clean('; '.join(item.notes))}" if item.notes else ""
        return [f"{pad}- {scalar(item.value)}{trailing}"]
    lines = _comment(item.notes, indent)
    inner = [line for key in item.value for line in _key(key, indent + 2)]
    first = next(i for i, line in enumerate(inner) if not line.lstrip().startswith("#"))
    inner[first] = f"{pad}- {inner[first][indent + 2 :]}"
    return lines + inner


def scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    quoted = json.dumps(value, ensure_ascii=False)
    return _UNPRINTABLE.sub(_escape, quoted)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    return _LINE_BREAKS.get(char, f"\\u{ord(char):04x}")


def _comment(notes: tuple[str, ...], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for note in notes:
        wrapped = textwrap.wrap(
            _clean(note),
            max(40, WIDTH - indent - 2),
            subsequent_indent="  " if note.startswith("- ") else "",
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += [f"{pad}# {line}" for line in wrapped or [""]]
    return [line.rstrip() for line in lines]


def _clean(note: str) -> str:
    """One comment's text: no line breaks or control characters, runs of space as one."""
    return " ".join(_UNPRINTABLE.sub(" ", note).split())
