"""What one log line counts for, and the interface every log format offers the block counter.

A format answers two kinds of question. Per line (for the few lines read one by
one): :meth:`LineFormat.parse` says what the line counts for, or None when it is
malformed. Per block (for the bulk): :meth:`LineFormat.patterns` gives the
needles and regexes the block counter counts with, spelt as the block's first
line spells them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from calmopsd.config.logs import UploadsConfig

# The store's rule for organization ids; anything else counts for the platform only.
_ORGANIZATION = re.compile(rb"[a-z0-9][a-z0-9_-]{0,62}")


class LineCounts(NamedTuple):
    """What one well-formed line adds to its minute (each 0 or 1)."""

    minute: int
    organization_id: str | None
    requests: int
    server_errors: int
    error_lines: int
    uploads: int
    upload_failures: int


OTHER = LineCounts(-1, None, 0, 0, 0, 0, 0)
"""What :meth:`LineFormat.parse` returns for a line of another kind that counts for nothing
and is no parse error (a plain-text banner, warning or stack trace among JSON lines)."""


class Probe(NamedTuple):
    """A line's minute and the needles every line of that minute holds (one of them, once)."""

    minute: int
    needles: tuple[bytes, ...]


class FindsAll(Protocol):
    """What finds the organizations of a block's request lines: a compiled regex, or a
    helper with the same ``findall``."""

    def findall(self, buf: bytes, start: int = ..., stop: int = ..., /) -> list[Any]: ...


Extras = tuple[int, int, int, int]
"""Server errors, error lines, uploads, upload failures."""


@dataclass(frozen=True)
class BlockPatterns:
    """How the bulk of a block is counted.

    ``candidates``: a match of any of them anywhere in a line means the line
    must be parsed on its own (server errors, uploads, error levels). They are
    kept apart because an alternation whose branches start differently defeats
    the regex engine's literal-prefix scan (ten times slower, measured). ``request_needle``: every
    occurrence is one request; None means every line is one. ``organizations``
    (MULTILINE): ``findall`` yields the raw organization of each request line
    that has one, at most one per line. ``extras``, when given, counts server
    errors, error lines, uploads and failures of ``buf[start:stop]`` directly
    (formats whose patterns provably match once per line, without organizations);
    the candidates then only cover what it does not. ``line_end``: the text every
    well-formed line ends with (``"`` in combined, ``}`` in JSON), so a line cut
    short is found as cheaply as a line of another minute. ``once``: text every line
    the bulk may count holds exactly once (``{`` in JSON: a line with a nested object,
    where a key needle might not be the top-level key, is parsed on its own); ``times``:
    how many times (``"`` six times in a combined line: a line with more quotes, or with
    text after its last field, is parsed on its own).
    """

    candidates: tuple[re.Pattern[bytes], ...]
    request_needle: bytes | None
    organizations: FindsAll | None
    extras: Callable[[bytes, int, int], Extras] | None = None
    line_end: bytes = b""
    once: bytes = b""
    times: int = 1
    one_by_one: bool = False  # every line parsed in order (lines that depend on others)


class LineFormat(Protocol):
    """A log format the block counter can count."""

    def probe(self, line: bytes) -> Probe | None:
        """The line's minute and needles, or None if the line has no readable time."""
        ...

    def minute(self, line: bytes) -> int | None:
        """Just the line's minute (cheaper than :meth:`probe`), or None."""
        ...

    def parse(self, line: bytes) -> LineCounts | None:
        """What the line counts for, or None when it is malformed."""
        ...

    def patterns(self, line: bytes) -> BlockPatterns:
        """The bulk patterns, spelt the way ``line`` (a well-formed line) spells keys."""
        ...


def organization(raw: bytes | None) -> str | None:
    """A raw organization value as stored, or None when absent or not a valid id."""
    if raw and _ORGANIZATION.fullmatch(raw):
        return raw.decode("ascii")
    return None


class Uploads:
    """Classifies requests as uploads and upload failures, from the ``uploads:`` config."""

    def __init__(self, config: UploadsConfig):
        self.methods = frozenset(m.encode() for m in config.methods)
        self.failures = frozenset(config.failure_statuses)
        self._routes = tuple(config.routes)
        routes = [fnmatch.translate(r).replace("(?s:", "(?:", 1) for r in config.routes]
        self._route = re.compile("|".join(routes).encode() if routes else b"(?!)")
        # Text before a route's first wildcard: every upload's path starts with one of them.
        self.prefixes = tuple(
            sorted({re.split(r"[*?\[]", r, maxsplit=1)[0].encode() for r in config.routes})
        )

    def classify(self, method: bytes, path: bytes, status: int | None) -> tuple[int, int]:
        """(upload, failed upload), each 0 or 1."""
        if method not in self.methods:
            return 0, 0
        if not self._route.fullmatch(path.split(b"?", 1)[0]):
            return 0, 0
        failed = status is not None and (status >= 500 or status in self.failures)
        return 1, int(failed)

    def failed(self, status: int) -> bool:
        return status >= 500 or status in self.failures

    def request_regex(self) -> bytes:
        """Method, space and a matching path (query allowed) as they appear in ``$request``."""
        methods = b"|".join(re.escape(m) for m in sorted(self.methods)) or b"(?!)"
        routes = b"|".join(
            b'[^ "?\n]*'.join(re.escape(part.encode()) for part in route.split("*"))
            for route in self._routes
        )
        return b"(?:" + methods + b") (?:" + (routes or b"(?!)") + rb')(?:\?[^ "\n]*)?'

    def candidate(self, before_method: bytes | None, before_path: bytes) -> bytes:
        """A regex that matches in every upload line: method (if in the same field) then path."""
        paths = b"|".join(re.escape(p) for p in self.prefixes) or b"(?!)"
        if before_method is None:
            return re.escape(before_path) + b"(?:" + paths + b")"
        methods = b"|".join(re.escape(m) for m in sorted(self.methods)) or b"(?!)"
        return re.escape(before_method) + b"(?:" + methods + b") (?:" + paths + b")"
