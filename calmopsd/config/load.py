"""Read calmops.yaml into a :class:`Config`, or say everything wrong with it at once.

Fixing a config one error per restart is miserable, so every problem the
file has is collected and raised together as one :class:`ConfigError`, each
as ``FILE:LINE: key.path: message`` in line order (borgmatic's habit, with
line numbers added). Only an unreadable file, broken YAML or an empty
document stops early, because nothing after them can be checked.

An empty document (an empty file, only comments, ``null`` or ``{}``) is refused
rather than taken as "all defaults": it is what a file truncated or replaced
while it was written looks like, and applying it on a reload would revoke
every API token and reset the rules. A config on the defaults names one key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from calmopsd.config.lines import KeyLines, KeyPath, key_path, map_lines
from calmopsd.config.messages import describe
from calmopsd.config.schema import DEFAULT_STATE_DIR, Config
from calmopsd.config.units import ConfigPath
from calmopsd.errors import ConfigError
from calmopsd.typed import ErrorDetails, TypeAdapter, ValidationError

# (line, text): sorted on the line alone so equal lines keep discovery order.
_Problem = tuple[int, str]


def load_config(path: Path) -> Config:
    """Load and validate the config at ``path``; raise :class:`ConfigError` listing every problem.

    An empty document is refused. A relative ``state_dir`` is resolved
    against the file's directory. Nothing is created or changed on disk.
    """
    return load_config_and_digest(path)[0]


def load_config_and_digest(path: Path) -> tuple[Config, str]:
    """:func:`load_config`, plus the SHA-256 of exactly the bytes that were validated.

    The audit log records which config was in force; hashing a second read of
    the file could name bytes that were never loaded.
    """
    file = str(path)
    text = _read(path)
    return _validate(path, file, text), hashlib.sha256(text.encode()).hexdigest()


def load_config_text(path: Path, text: str) -> Config:
    """:func:`load_config` of ``text`` as if it were the file at ``path``: a proposed edit
    of the config (the backtest's suggestions) is checked by the very same loader."""
    return _validate(path, str(path), text)


def _validate(path: Path, file: str, text: str) -> Config:
    lines, data = _parse(file, text)
    problems = _duplicate_problems(file, lines)
    try:
        config = Config.model_validate(data, context={"base_dir": config_dir(path)})
    except ValidationError as exc:
        problems += _validation_problems(file, exc, lines)
    if problems:
        raise ConfigError([text for _, text in sorted(problems, key=lambda p: p[0])])
    return config


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: cannot read config: not UTF-8 text ({exc.reason})"]) from None


def _parse(file: str, text: str) -> tuple[KeyLines, dict[str, Any]]:
    """The line map and the data; ``safe_load`` alone decides what the data is."""
    try:
        lines = map_lines(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(file, exc)]) from None
    except ValueError as exc:  # PyYAML's int() of a number of over 4,300 digits
        raise ConfigError([f"{file}: yaml: a value cannot be read ({exc})"]) from None
    if data is None or data == {}:
        raise ConfigError([empty_problem(file)])
    if not isinstance(data, dict):
        raise ConfigError([_problem(file, lines.root_line, (), "must be a mapping of keys")])
    return lines, data


def empty_problem(file: str) -> str:
    """The one problem of an empty document."""
    return (
        f"{file}: the config is empty (no keys: an empty file, only comments, or null): "
        "refused, because running on all defaults would revoke every API token and reset "
        "the rules; to run on the defaults, set one key, e.g. state_dir: /var/lib/calmopsd"
    )


# PyYAML's words, kept (they are what a search finds), with what they mostly mean in a
# hand-edited config file.
_YAML_HINTS = (
    ("'\\t'", " (indent with spaces: YAML does not allow tabs)"),
    ("expected <block end>", " (this line is indented differently from the keys beside it)"),
    ("mapping values are not allowed here",
     " (a line indented under a key that already has a value, or a value with ': ' in it "
     "that needs quotes)"),
    ("could not find expected ':'",
     " (a line that is not 'key: value', or a quote left open above it)"),
)  # fmt: skip


def _yaml_problem(file: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):
        # "but found another document" only makes sense after its context.
        problem = f"{context}, {problem}"
    problem += next((hint for words, hint in _YAML_HINTS if words in problem), "")
    where = f"{file}:{mark.line + 1}" if mark is not None else file
    return f"{where}: yaml: {problem}"


def _duplicate_problems(file: str, lines: KeyLines) -> list[_Problem]:
    # safe_load keeps the last value silently; which one the operator meant is unknowable.
    return [
        (
            dup.line,
            _problem(file, dup.line, dup.path, f"duplicate key (first at line {dup.first_line})"),
        )
        for dup in lines.duplicates
    ]


def _validation_problems(file: str, exc: ValidationError, lines: KeyLines) -> list[_Problem]:
    problems: list[_Problem] = []
    for error in exc.errors(include_url=False):
        at = _bad_key_at(error)
        if at is not None:  # a mapping's key that is no text, said as a model's is
            error = {**error, "type": "invalid_key", "input": error["loc"][at],
                     "loc": error["loc"][: at + 1]}  # fmt: skip
        loc = _key_loc(error["loc"], error["type"])
        line = lines.line_of(loc)
        problems.append((line, _problem(file, line, loc, describe(error, Config))))
    return problems


def _bad_key_at(error: ErrorDetails) -> int | None:
    """Where in ``error``'s path is the mapping key it is about, if it is about a key:
    typed says a key at ``(key, '[key]')``; a key written ``'[key]'`` is text, no such."""
    loc = error["loc"]
    for at in range(len(loc) - 1):
        if loc[at + 1] == "[key]" and not isinstance(loc[at], str) and error["input"] == loc[at]:
            return at
    return None


def _key_loc(loc: KeyPath, error_type: str) -> KeyPath:
    # For a non-text key the validator reports the key itself as the last element;
    # it is a key, not a list index, so it is spelt (and looked up) as YAML writes it.
    if error_type == "invalid_key" and loc:
        return (*loc[:-1], _yaml_spelling(loc[-1]))
    return loc


def _yaml_spelling(key: object) -> str:
    """``true``, ``null``, ``1``: a key that is no text, as the file most likely wrote it."""
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    return str(key)


def _problem(file: str, line: int, loc: KeyPath, message: str) -> str:
    return f"{file}:{line}: {key_path(loc)}: {message}"


def state_dir_despite(path: Path) -> Path | None:
    """The ``state_dir`` a config file names though other keys of it are wrong, or None
    when that is not known: the file is no YAML mapping, or its ``state_dir`` is wrong
    itself. A command that only reads the store (``status`` while someone is mid-edit of
    the config, which a running daemon keeps its old copy of) can still find it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if "state_dir" not in data:
        return DEFAULT_STATE_DIR
    try:
        found: Path = TypeAdapter(ConfigPath).validate_python(
            data["state_dir"], context={"base_dir": config_dir(path)}
        )
    except ValidationError:
        return None
    return found


def config_dir(path: Path) -> Path:
    """The directory relative paths in the file at ``path`` are taken against: its own,
    with ``..`` resolved as the kernel resolved it to read the file (``--config ../c.yaml``
    is not ``/here/../dirs``, which the temp-dir check refuses), the file's own symlink
    not followed (a linked /etc/calmopsd/calmops.yaml keeps /etc/calmopsd)."""
    return path.absolute().parent.resolve()
