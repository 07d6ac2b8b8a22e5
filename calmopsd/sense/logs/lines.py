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

OrganizationCounts = dict[bytes | None, list[int]]
"""Requests, server errors, error lines, uploads and upload failures by raw organization."""

ScanResult = tuple[dict[tuple[int, bytes | None], list[int]], list[int], list[int]]
"""What a compiled scan of a block found: requests, server errors, error lines, uploads and
upload failures by (minute, raw organization), for every line it was sure of; the starts of
the other lines, to be parsed on their own; and, for each of those, the minute of the last
line counted before it (-1: none)."""

BlockScan = Callable[[bytes, int], ScanResult]
"""Scans the whole lines of ``buf[:end]`` in one pass (the compiled scanner)."""

OrganizationExtras = dict[bytes | None, list[int]]
""":data:`Extras` (as a list) by the raw organization of the lines they were found in (None:
a line without one)."""


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
    the candidates then only cover what it does not. ``extras_by_organization``: the same
    with organizations, by the raw organization of each line they were found in, read with
    the very regex ``parse`` reads it with (so bulk and line by line always agree): a
    server error then costs a search of its own line, not a parse. ``counts``: everything
    the bulk counts of ``buf[start:stop]`` at once (requests and extras by raw organization),
    or None when the run is not of the shape it reads (then the other fields count it); when
    it counts a run, ``candidates`` are not searched in it. ``line_end``: the text every
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
    extras_by_organization: Callable[[bytes, int, int], OrganizationExtras] | None = None
    counts: Callable[[bytes, int, int], OrganizationCounts | None] | None = None
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

    def block_scan(self) -> BlockScan | None:
        """A one-pass scanner of whole blocks, or None (then blocks are counted by runs)."""
        ...


_KNOWN: dict[bytes, str | None] = {}  # raw value → organization(raw), bounded below


def organization(raw: bytes | None) -> str | None:
    """A raw organization value as stored, or None when absent or not a valid id.

    Asked for each organization of each minute's run and of each line found in bulk (tens
    of thousands of times a million lines, for a few dozen values): remembered."""
    if not raw:
        return None
    found = _KNOWN.get(raw, _KNOWN)
    if found is not _KNOWN:
        return found  # type: ignore[return-value]
    value = raw.decode("ascii") if _ORGANIZATION.fullmatch(raw) else None
    if len(_KNOWN) >= 4096:
        _KNOWN.clear()
    _KNOWN[raw] = value
    return value


class Uploads:
    """Classifies requests as uploads and upload failures, from the ``uploads:`` config."""

    def __init__(self, config: UploadsConfig):
        self.methods = frozenset(m.encode() for m in config.methods)
        self.failures = frozenset(config.failure_statuses)
        self.routes = tuple(config.routes)
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
            for route in self.routes
        )
        return b"(?:" + methods + b") (?:" + (routes or b"(?!)") + rb')(?:\?[^ "\n]*)?'

    def candidate(self, before_method: bytes | None, before_path: bytes) -> bytes:
        """A regex that matches in every upload line: method (if in the same field) then path."""
        paths = b"|".join(re.escape(p) for p in self.prefixes) or b"(?!)"
        if before_method is None:
            return re.escape(before_path) + b"(?:" + paths + b")"
        methods = b"|".join(re.escape(m) for m in sorted(self.methods)) or b"(?!)"
        return re.escape(before_method) + b"(?:" + methods + b") (?:" + paths + b")"


class LinesOf:
    """The line holding a position of ``buf[start:stop]`` and that line's organization
    (``find``'s first group within the line), each line searched once."""

    def __init__(self, buf: bytes, start: int, stop: int, find: re.Pattern[bytes]):
        self.buf, self.start, self.stop, self.find = buf, start, stop, find
        self._seen: dict[int, bytes | None] = {}

    def bounds(self, pos: int) -> tuple[int, int]:
        buf = self.buf
        line_start = buf.rfind(b"\n", self.start, pos) + 1 or self.start
        line_end = buf.find(b"\n", pos, self.stop)
        return line_start, self.stop if line_end < 0 else line_end

    def organization(self, line_start: int, line_end: int) -> bytes | None:
        seen = self._seen
        if line_start in seen:
            return seen[line_start]
        match = self.find.search(self.buf, line_start, line_end)
        raw = seen[line_start] = match.group(1) if match else None
        return raw

    def add(self, out: OrganizationExtras, pos: int, index: int, amount: int = 1) -> None:
        """Add ``amount`` to extra ``index`` of the organization of the line holding ``pos``."""
        raw = self.organization(*self.bounds(pos))
        counts = out.get(raw)
        if counts is None:
            counts = out[raw] = [0, 0, 0, 0]
        counts[index] += amount
