"""A config change as an edit of the YAML text itself, so comments and layout stay.

Re-dumping a loaded config would drop every comment of calmops.yaml (its
documentation). Instead :func:`set_key` finds the key in the composed node tree
(which keeps positions) and replaces only its value's characters, or inserts the
missing keys on new lines under their nearest written parent, indented like its
other keys. Flow style (``{for: 3}``), aliases and anything it cannot place are a
:class:`YamlEditError` naming the key, never a guess; the edited text is read back
and must hold the new value at the key. :func:`unified` is the diff an approver reads.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from calmopsd.config.lines import KeyPath, key_path

INDENT = 2


class YamlEditError(ValueError):
    """The key cannot be edited in place; the message says which and why."""


def set_key(text: str, path: KeyPath, value: str) -> str:
    """``text`` with the key at ``path`` set to the YAML scalar ``value``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise YamlEditError(f"the config is not YAML ({exc})") from None
    if not isinstance(root, MappingNode):
        raise YamlEditError("the config is not a mapping of keys")
    edited = _edit(text, root, path, value)
    if _value_at(yaml.safe_load(edited), path) != yaml.safe_load(value):
        raise YamlEditError(f"{key_path(path)}: the edit did not take; change it by hand")
    return edited


def _edit(text: str, root: MappingNode, path: KeyPath, value: str) -> str:
    node: Node = root
    parent_key: ScalarNode | None = None
    for depth, part in enumerate(path):
        where = key_path(path[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, SequenceNode) or node.flow_style or part >= len(node.value):
                raise YamlEditError(f"{where}: no such list item to edit")
            node, parent_key = node.value[part], None
            continue
        if _is_empty(node) and parent_key is not None:
            return _insert_under(text, parent_key, path[depth:], value)
        if not isinstance(node, MappingNode) or node.flow_style:
            raise YamlEditError(
                f"{key_path(path[:depth])}: not a mapping in block style; change it by hand"
            )
        found = next(((k, v) for k, v in node.value if k.value == part), None)
        if found is None:
            return _insert_into(text, node, parent_key, path[depth:], value)
        parent_key, node = found
    if not isinstance(node, ScalarNode):
        raise YamlEditError(f"{key_path(path)}: not a plain value; change it by hand")
    return _replace(text, node, value)


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag.endswith(":null") and node.value == ""


def _replace(text: str, node: ScalarNode, value: str) -> str:
    start, end = node.start_mark.index, node.end_mark.index
    if start == end:  # `key:` with nothing after it
        value = " " + value
    return text[:start] + value + text[end:]


def _insert_into(
    text: str, mapping: MappingNode, parent_key: ScalarNode | None, rest: KeyPath, value: str
) -> str:
    """The missing keys ``rest`` as the first lines of ``mapping`` (the top level: at the end)."""
    column = mapping.value[0][0].start_mark.column if mapping.value else 0
    if parent_key is None:
        tail = "" if text.endswith("\n") or not text else "\n"
        return text + tail + _lines(rest, value, column)
    return _after_line_of(text, parent_key, _lines(rest, value, column))


def _insert_under(text: str, parent_key: ScalarNode, rest: KeyPath, value: str) -> str:
    """``key:`` written with no value: the missing keys go on the lines after it."""
    return _after_line_of(
        text, parent_key, _lines(rest, value, parent_key.start_mark.column + INDENT)
    )


def _after_line_of(text: str, key: ScalarNode, lines: str) -> str:
    end = text.find("\n", key.start_mark.index)
    if end == -1:
        return text + "\n" + lines
    return text[: end + 1] + lines + text[end + 1 :]


def _lines(rest: KeyPath, value: str, column: int) -> str:
    if any(isinstance(part, int) for part in rest):
        raise YamlEditError(f"{key_path(rest)}: a list item that is not written cannot be added")
    out = []
    for depth, part in enumerate(rest):
        pad = " " * (column + depth * INDENT)
        out.append(f"{pad}{part}: {value}" if depth == len(rest) - 1 else f"{pad}{part}:")
    return "\n".join(out) + "\n"


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def unified(before: str, after: str, name: str) -> str:
    """The change as a unified diff of ``name`` (``a/`` before, ``b/`` after)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{name.lstrip('/')}",
            f"b/{name.lstrip('/')}",
        )
    )
