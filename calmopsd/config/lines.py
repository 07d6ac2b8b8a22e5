"""Where each key of a YAML document sits: key path → 1-based line number.

``yaml.safe_load`` throws positions away, and silently keeps the last of two
duplicate keys. Composing the same text into a node tree keeps both, so this
module maps every key path (``("thresholds", "memory_percent")``, list items
as ints) to the line a person should look at, and lists the duplicates the
loader must refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

KeyPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Duplicate:
    """A key written twice in one mapping."""

    path: KeyPath
    line: int
    first_line: int


@dataclass
class KeyLines:
    """The line of every key path in one document, and its duplicate keys."""

    root_line: int = 1
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int:
        """The line of ``path``, or of its nearest written ancestor.

        A missing key has no line of its own; its parent mapping is where it
        belongs, so that is where the message points.
        """
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.root_line


def map_lines(text: str) -> KeyLines:
    """Compose ``text`` (SafeLoader) and record where each key is.

    Raises ``yaml.YAMLError`` for text that is not YAML.
    """
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return KeyLines()
    found = KeyLines(root_line=root.start_mark.line + 1)
    _walk(root, (), found, set())
    return found


def _walk(node: Node, path: KeyPath, found: KeyLines, visited: set[int]) -> None:
    # An alias reuses a node already walked; descending again could recurse
    # forever (self-reference) or explode (nested aliases), so walk each once.
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, MappingNode):
        _walk_mapping(node, path, found, visited)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            found.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), found, visited)


def _walk_mapping(node: MappingNode, path: KeyPath, found: KeyLines, visited: set[int]) -> None:
    first_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = key_node.value if isinstance(key_node, ScalarNode) else "?"
        line = key_node.start_mark.line + 1
        if key in first_lines:
            found.duplicates.append(Duplicate((*path, key), line, first_lines[key]))
        else:
            first_lines[key] = line
        # safe_load keeps the last value, so later lines win for what is validated.
        found.lines[(*path, key)] = line
        _walk(value_node, (*path, key), found, visited)


def key_path(loc: KeyPath) -> str:
    """Spell a key path as a user would: ``foo.bar[2].baz``; the empty path is ``(top level)``."""
    spelt = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return spelt.removeprefix(".") or "(top level)"
