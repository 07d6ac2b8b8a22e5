"""nginx's configuration as a tree of directives, with its ``include`` files read in place.

The text comes from ``nginx -T`` (every file nginx read, each after a line
``# configuration file PATH:``) or, when nginx may not run, from the files
themselves (:class:`DiskFiles`). Either way an ``include`` is resolved the way
nginx resolves it — a relative pattern against the main file's directory, a
glob matched in sorted order — against that source, so a directive in a
site file is seen inside the ``http`` block that includes it.

The tokenizer follows nginx's own (``ngx_conf_read_token``): ``#`` starts a
comment only where a word could start, ``"…"`` and ``'…'`` are one word with
``\\`` escapes, ``{`` inside ``${…}`` belongs to the variable, and ``;``,
``{`` and ``}`` end a directive. Bad nesting is not an error here (``nginx -T``
refused it already, or the daemon's own nginx will): what parsed is kept.
"""

from __future__ import annotations

import fnmatch
import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

MAX_FILES = 500  # an include loop, or a glob over a huge tree, stops here
MAX_FILE_BYTES = 4 << 20
_DUMP_HEADER = re.compile(r"^# configuration file (.+):$", re.MULTILINE)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}


@dataclass(frozen=True)
class Directive:
    """One directive: its words, its block (None for a simple one), where it was written."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]


class Files(Protocol):
    """Where the text of nginx's files comes from."""

    def main(self) -> tuple[str, str] | None:
        """(path, text) of the main file, or None."""

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        """(path, text) of every file an absolute ``include`` pattern names, in nginx's order."""


@dataclass
class DumpFiles:
    """The files of one ``nginx -T`` output."""

    text: str
    files: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.files = {}
        headers = list(_DUMP_HEADER.finditer(self.text))
        for this, following in zip(headers, [*headers[1:], None], strict=True):
            end = following.start() if following else len(self.text)
            self.files.setdefault(this.group(1), self.text[this.end() + 1 : end])

    def main(self) -> tuple[str, str] | None:
        return next(iter(self.files.items()), None)

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        return [(p, t) for p, t in sorted(self.files.items()) if _glob_match(p, pattern)]


@dataclass
class DiskFiles:
    """The files on disk, from ``conf`` on; unreadable ones are listed in ``problems``."""

    conf: Path
    problems: list[str] = field(default_factory=list)

    def main(self) -> tuple[str, str] | None:
        text = self._read(str(self.conf))
        return None if text is None else (str(self.conf), text)

    def matching(self, pattern: str) -> list[tuple[str, str]]:
        found = []
        # Absolute patterns, which Path.glob does not take.
        for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:  # noqa: PTH207
            text = self._read(path)
            if text is not None:
                found.append((path, text))
        return found

    def _read(self, path: str) -> str | None:
        try:
            with Path(path).open("rb") as file:
                return file.read(MAX_FILE_BYTES).decode("utf-8", "replace")
        except OSError as exc:
            self.problems.append(f"{path}: {exc.strerror or exc}")
            return None


def parse(files: Files) -> tuple[Directive, ...]:
    """The main file's directives, includes read in place; () when there is no main file."""
    main = files.main()
    if main is None:
        return ()
    path, text = main
    reader = _Reader(files, PurePosixPath(path).parent)
    return tuple(reader.directives(path, text))


class _Reader:
    def __init__(self, files: Files, conf_dir: PurePosixPath):
        self.files = files
        self.conf_dir = conf_dir
        self.read = 0

    def directives(self, path: str, text: str) -> Iterator[Directive]:
        self.read += 1
        tokens = _tokens(text)
        yield from self._block(path, tokens, top=True)

    def _block(
        self, path: str, tokens: Iterator[tuple[str, int, bool]], top: bool
    ) -> Iterator[Directive]:
        words: list[tuple[str, int]] = []
        for word, line, special in tokens:
            if not special:
                words.append((word, line))
            elif word == "}":
                return
            elif words and word == ";":
                yield from self._simple(path, words)
                words = []
            elif words and word == "{":
                block = tuple(self._block(path, tokens, top=False))
                name, first = words[0]
                yield Directive(name, tuple(w for w, _ in words[1:]), path, first, block)
                words = []

    def _simple(self, path: str, words: list[tuple[str, int]]) -> Iterator[Directive]:
        name, line = words[0]
        args = tuple(w for w, _ in words[1:])
        if name != "include" or len(args) != 1:
            yield Directive(name, args, path, line)
            return
        pattern = args[0] if args[0].startswith("/") else str(self.conf_dir / args[0])
        for included, text in self.files.matching(pattern):
            if self.read >= MAX_FILES:
                return
            yield from self.directives(included, text)


def _tokens(text: str) -> Iterator[tuple[str, int, bool]]:
    """(word, line, is ``; { }``) in order; comments left out."""
    i, line, size = 0, 1, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
        elif char in ";{}":
            yield char, line, True
            i += 1
        elif char in "\"'":
            word, i, lines = _quoted(text, i)
            yield word, line, False
            line += lines
        else:
            start = i
            while i < size and not text[i].isspace() and text[i] not in ";{}\"'":
                if text[i] == "$" and text.startswith("{", i + 1):
                    close = text.find("}", i)
                    i = size if close < 0 else close
                i += 1
            yield text[start:i], line, False


def _quoted(text: str, start: int) -> tuple[str, int, int]:
    """The quoted word from ``start`` (a quote), the index after it, the newlines in it."""
    quote, i, out = text[start], start + 1, []
    while i < len(text) and text[i] != quote:
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
            escaped = text[i]
            out.append(_ESCAPES.get(escaped, escaped if escaped in "\"'\\" else "\\" + escaped))
        else:
            out.append(text[i])
        i += 1
    return "".join(out), i + 1, text.count("\n", start, i)


def _glob_match(path: str, pattern: str) -> bool:
    """Whether ``path`` is one of the files glob(3) would find for ``pattern`` (no ``/`` in a *)."""
    parts, wanted = PurePosixPath(path).parts, PurePosixPath(pattern).parts
    return len(parts) == len(wanted) and all(
        fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True)
    )
