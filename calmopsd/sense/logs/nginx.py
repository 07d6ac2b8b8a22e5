"""nginx access logs in any ``log_format`` (``combined`` is one): compiled once into a parser.

The format string becomes a line regex with one group per variable. nginx
escapes ``"`` (and ``\\``, control and non-ASCII bytes) inside every variable,
so a variable followed by ``"`` is matched by ``[^"]*`` exactly; other
variables get a tight class where their values allow it. The same split of the
format gives the bulk patterns: the literal text just before ``$status`` plus
``5`` marks every server error, the text before ``$request`` plus an upload
method and route prefix marks every upload, and the quotes before a quoted
organization variable locate it in every line.

``combined`` is read as a prefix: a line with text after its user agent (the
``main`` format's ``"$http_x_forwarded_for"``, a trailing space, any other field)
counts like a combined line. The bulk then checks what it counts with: a run whose
lines end in ``"`` and hold six quotes (combined) or eight (main) is counted by
regex, as before; any other run has its server errors and uploads found by looser
patterns and parsed one by one. Either way a line whose quotes or ending differ from
its run's first line is parsed on its own, so text after the last field can never be
taken for a status.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import compress
from operator import methodcaller
from typing import NamedTuple

from calmopsd.config.logs import NAMED_FORMATS, TIME_VARIABLES, format_variables
from calmopsd.sense.logs.compiled import SCANNER
from calmopsd.sense.logs.lines import (
    BlockPatterns,
    BlockScan,
    Extras,
    LineCounts,
    LinesOf,
    OrganizationCounts,
    OrganizationExtras,
    Probe,
    ScanResult,
    Uploads,
    organization,
)
from calmopsd.sense.logs.timestamps import (
    MinuteCache,
    epoch_needles,
    iso_needles,
    minute_of_epoch_text,
    minute_of_iso,
    minute_of_time_local,
    time_local_needles,
)

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_TIGHT: dict[str, bytes] = {
    "time_local": rb"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
    "time_iso8601": rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)",
    "msec": rb"\d+\.\d+",
    "status": rb"\d{3}",
    "remote_addr": rb"[^ \n]*",
    "body_bytes_sent": rb"\d+|-",
    "bytes_sent": rb"\d+|-",
    "request_length": rb"\d+|-",
    "request_time": rb"[\d.]+|-",
    "connection": rb"\d+",
    "pipe": rb"[p.]",
}
_PATH_VARIABLES = ("request_uri", "uri", "document_uri")
# The compiled scanner's element kinds (_scan.c): a literal, [^"\n]*, [^\n]*?, then _TIGHT's.
_LITERAL, _NOT_QUOTE, _LAZY = 0, 1, 2
_TIGHT_KIND = {
    "time_local": 3,
    "time_iso8601": 4,
    "msec": 5,
    "status": 6,
    "remote_addr": 7,
    "body_bytes_sent": 8,
    "bytes_sent": 8,
    "request_length": 8,
    "request_time": 9,
    "connection": 10,
    "pipe": 11,
}
_TIME_KIND = {"time_local": 0, "time_iso8601": 1, "msec": 2}
_CONTEXT = 16  # bytes of literal kept before a needle: enough to be specific


def _split(log_format: str) -> tuple[list[bytes], list[str]]:
    """Literals and variables, alternating: literals[i] precedes variables[i]."""
    literals: list[bytes] = []
    variables = format_variables(log_format)
    rest = log_format
    for match in _VARIABLE.finditer(log_format):
        literal, _, rest = rest.partition(match.group(0))
        literals.append(literal.encode())
    literals.append(rest.encode())
    return literals, variables


class NginxFormat:
    """One compiled nginx ``log_format``."""

    def __init__(
        self,
        log_format: str,
        uploads: Uploads,
        organization_variable: str = "",
        *,
        compiled: bool = True,
    ):
        """``compiled=False`` counts without the compiled scanner even when it is built."""
        self.prefix = log_format == "combined"
        self._use_scanner = compiled
        log_format = NAMED_FORMATS.get(log_format, log_format)
        self.literals, self.variables = _split(log_format)
        self.uploads = uploads
        names = self.variables
        self._time = next(i for i, name in enumerate(names) if name in TIME_VARIABLES)
        self._time_kind = names[self._time]
        self._status = names.index("status")
        self._request = names.index("request") if "request" in names else None
        self._method = names.index("request_method") if "request_method" in names else None
        self._path = next((i for i, n in enumerate(names) if n in _PATH_VARIABLES), None)
        org = organization_variable.removeprefix("$")
        self._org = names.index(org) if org else None
        trailing = rb"(?:[ \t][^\n]*)?" if self.prefix else b""
        # A line may end in CRLF (written on or through Windows): the CR is not a field's.
        self._line = re.compile(self._line_regex() + trailing + rb"\r?")
        self._minutes = MinuteCache()
        organizations = self._organizations()
        counting = self._counting()
        extras = by_org = None
        if counting is not None and organizations is None:
            extras = counting.extras
        elif counting is not None and organizations is not None:
            regex = (
                organizations.regex if isinstance(organizations, _QuotedField) else organizations
            )
            by_org = _by_organization(counting, regex)
        self._patterns = BlockPatterns(
            candidates=() if counting else tuple(re.compile(c) for c in self._candidates()),
            request_needle=None,
            organizations=organizations,
            # No line_end check: counting '"\n' costs a third more time, and nginx writes
            # each line in one write(), so a line cut after its time is a full disk's doing.
            extras=extras,
            extras_by_organization=by_org,
            # With an organization only: counting by regex is faster without (what a split
            # costs is outweighed by what it spares only when lines must be grouped).
            counts=self._quoted_counts(0) if self._org is not None else None,
        )
        self._by_shape: dict[tuple[bytes, int], BlockPatterns] = {}
        if self.prefix:
            quotes = b"".join(self.literals).count(b'"')
            loose = BlockPatterns(tuple(re.compile(c) for c in self._candidates()), None, None)
            self._by_shape = {
                # combined, then main ("$http_x_forwarded_for" after it): counted by regex
                (b'"', quotes): replace(self._patterns, line_end=b'"', once=b'"', times=quotes),
                (b'"', quotes + 2): replace(
                    self._patterns,
                    line_end=b'"',
                    once=b'"',
                    times=quotes + 2,
                ),
            }
            self._loose = loose

    def _line_regex(self) -> bytes:
        parts = []
        for i, name in enumerate(self.variables):
            parts.append(re.escape(self.literals[i]))
            follows = self.literals[i + 1][:1]
            if name in _TIGHT:
                parts.append(b"(" + _TIGHT[name] + b")")
            elif follows == b'"':
                parts.append(rb'([^"\n]*)')
            else:
                parts.append(rb"([^\n]*?)")
        parts.append(re.escape(self.literals[-1]))
        return b"".join(parts)

    def _counting(self) -> _Counting | None:
        """Find server errors and uploads by regex alone, when that is provably exact.

        That needs ``"$request" $status`` (as in combined): then ``" 5xx `` can
        only be the status (values hold no raw quote, and the format has this
        quote-space-status nowhere else), and a request matching an upload route
        followed by it can only be the request. Yields (extra, position) for each:
        0 a server error, 2 an upload, 3 a failed upload (the :data:`Extras` order).
        """
        if self._request is None or self._status != self._request + 1:
            return None
        before, between = self.literals[self._request], self.literals[self._status]
        if not before.endswith(b'"') or not between.startswith(b'"'):
            return None
        if b"\0".join(self.literals).count(between + b"\0") != 1:
            return None
        after = self.literals[self._status + 1][:1]
        end = re.escape(after) if after else rb"(?!\d)"
        errors = re.compile(re.escape(between) + rb"5\d\d" + end)
        uploads_re = re.compile(
            b'"'
            + self.uploads.request_regex()
            + rb'(?: [^"\n]*)?'
            + re.escape(between)
            + rb"(\d{3})"
            + end
        )
        failed = self.uploads.failed

        def extras(buf: bytes, start: int, stop: int) -> Extras:
            uploads = failures = 0
            for status, count in Counter(uploads_re.findall(buf, start, stop)).items():
                uploads += count
                failures += count if failed(int(status)) else 0
            return len(errors.findall(buf, start, stop)), 0, uploads, failures

        def found(buf: bytes, start: int, stop: int) -> Iterator[tuple[int, int]]:
            for match in errors.finditer(buf, start, stop):
                yield 0, match.start()
            for match in uploads_re.finditer(buf, start, stop):
                yield 2, match.start()
                if failed(int(match.group(1))):
                    yield 3, match.start()

        return _Counting(extras, found)

    def _quoted_counts(self, more: int) -> _QuotedCounts | None:
        """Everything from one split on quotes, when ``"$request"``, the status (right after
        a quote and literal text) and a quoted organization each have a piece of their own;
        ``more``: quotes lines hold past the format's (main's forwarded-for)."""
        literals = self.literals
        if self._request is None or '"' not in literals[self._status].decode("latin-1"):
            return None

        def piece(index: int) -> int | None:
            """The piece number of a variable quoted on its own, or None."""
            before = b"".join(literals[: index + 1])
            quoted = before.endswith(b'"') and literals[index + 1][:1] == b'"'
            return before.count(b'"') if quoted else None

        request = piece(self._request)
        org = piece(self._org) if self._org is not None else None
        if request is None or (self._org is not None and org is None):
            return None
        status = b"".join(literals[: self._status + 1])
        lead = literals[self._status].rsplit(b'"', 1)[1]
        quotes = b"".join(literals).count(b'"') + more
        return _QuotedCounts(quotes, status.count(b'"'), lead, request, org, self.uploads)

    def _before(self, index: int) -> bytes:
        return self.literals[index][-_CONTEXT:]

    def _candidates(self) -> list[bytes]:
        found = [re.escape(self._before(self._status)) + rb"5\d\d"]
        if self._request is not None:
            found.append(self.uploads.candidate(self._before(self._request), b""))
        elif self._path is not None:
            found.append(self.uploads.candidate(None, self._before(self._path)))
        return found

    def _organizations(self) -> _QuotedField | re.Pattern[bytes] | None:
        """Find each line's organization in bulk: by counting quotes when it is quoted."""
        if self._org is None:
            return None
        before = b"".join(self.literals[: self._org + 1])
        quoted = before.endswith(b'"') and self.literals[self._org + 1][:1] == b'"'
        if quoted:
            skip = before.count(b'"')
            regex = re.compile(rb'^(?:[^"\n]*"){%d}([^"\n]*)"' % skip, re.MULTILINE)
            return _QuotedField(skip, b"".join(self.literals).count(b'"'), regex)
        # Unquoted: the whole line regex with only the organization captured (slower).
        return re.compile(b"^" + _only_group(self._line.pattern, self._org) + b"$", re.MULTILINE)

    def block_scan(self) -> BlockScan | None:
        """The compiled scanner, when it is built and the format and uploads fit it.

        It matches each line against the format's line regex as ``fullmatch`` does (the same
        elements, tried in the regex engine's order), reads the time, status, request and
        organization from the same captures, and leaves to :meth:`parse` every line it does
        not match or whose time it would not read (``_scan.c``)."""
        scanner = SCANNER
        uploads = self.uploads
        if (
            not self._use_scanner
            or scanner is None
            or len(self.variables) * 2 + 1 > 96
            or len(uploads.methods) > 16
            or len(uploads.routes) > 16
            or len(uploads.failures) > 16
            or any("?" in route or "[" in route for route in uploads.routes)
        ):
            return None
        elements: list[tuple[int, bytes]] = []
        for i, name in enumerate(self.variables):
            if self.literals[i]:
                elements.append((_LITERAL, self.literals[i]))
            if name in _TIGHT:
                kind = _TIGHT_KIND[name]
            else:
                kind = _NOT_QUOTE if self.literals[i + 1][:1] == b'"' else _LAZY
            elements.append((kind, b""))
        if self.literals[-1]:
            elements.append((_LITERAL, self.literals[-1]))
        indexes = tuple(
            -1 if index is None else index
            for index in (self._request, self._method, self._path, self._org)
        )
        spec = (
            tuple(elements),
            self.prefix,
            (self._time, _TIME_KIND[self._time_kind], self._status, *indexes),
            tuple(sorted(uploads.methods)),
            tuple(route.encode() for route in uploads.routes),
            tuple(sorted(uploads.failures)),
        )
        scan_nginx = scanner.scan_nginx

        def scan(buf: bytes, end: int) -> ScanResult:
            found: ScanResult = scan_nginx(buf, end, spec)
            return found

        return scan

    def patterns(self, line: bytes) -> BlockPatterns:
        if not self.prefix:
            return self._patterns
        return self._by_shape.get((line[-1:], line.count(b'"')), self._loose)

    def _time_of(self, text: bytes) -> Probe | None:
        if self._time_kind == "time_local":
            minute = minute_of_time_local(text)
            needles = time_local_needles(text)
        elif self._time_kind == "time_iso8601":
            minute = minute_of_iso(text)
            needles = iso_needles(text)
        else:
            minute = minute_of_epoch_text(text)
            needles = epoch_needles(text, minute) if minute is not None else ()
        if minute is None:
            return None
        context = self._before(self._time)
        return Probe(minute, tuple(context + n for n in needles))

    def minute(self, line: bytes) -> int | None:
        # The whole line regex, as in probe(): a search for the time's literal context
        # would find one planted in an earlier variable ($remote_user is the client's).
        match = self._line.fullmatch(line)
        return None if match is None else self._minute(match.group(self._time + 1))

    def probe(self, line: bytes) -> Probe | None:
        match = self._line.fullmatch(line)
        return None if match is None else self._time_of(match.group(self._time + 1))

    def _minute(self, text: bytes) -> int | None:
        if self._time_kind == "time_local":
            return self._minutes.time_local(text)
        if self._time_kind == "time_iso8601":
            return self._minutes.iso(text)
        return minute_of_epoch_text(text)

    def parse(self, line: bytes) -> LineCounts | None:
        match = self._line.fullmatch(line)
        if match is None:
            return None
        minute = self._minute(match.group(self._time + 1))
        if minute is None:
            return None
        status = int(match.group(self._status + 1))
        method, path = self._method_and_path(match)
        upload, failed = self.uploads.classify(method, path, status)
        org = organization(match.group(self._org + 1)) if self._org is not None else None
        return LineCounts(minute, org, 1, int(status >= 500), 0, upload, failed)

    def _method_and_path(self, match: re.Match[bytes]) -> tuple[bytes, bytes]:
        if self._request is not None:
            parts = match.group(self._request + 1).split(b" ")
            return (parts[0], parts[1]) if len(parts) >= 2 else (b"", b"")
        method = match.group(self._method + 1) if self._method is not None else b""
        path = match.group(self._path + 1) if self._path is not None else b""
        return method, path


_HOLDS_NEWLINE = methodcaller("__contains__", b"\n")


class _QuotedField:
    """The organizations of a run's lines, the quoted field after quote number ``skip``: the
    run split once on quotes, the field every ``quotes``-th piece (picked in C, no regex walk
    through each line's earlier fields, which cost twice the rest of the count).

    Only when every line holds exactly ``quotes`` quotes, as every line nginx writes does (it
    escapes quotes in values): there are ``quotes`` per line in all, and every piece where
    a line's quotes end holds a newline, so each holds exactly one. Otherwise (a line of
    another shape in the run) ``regex``, the field after the ``skip``-th quote of each line,
    which gives the same for lines of the format, and reads a line's on its own.
    """

    def __init__(self, skip: int, quotes: int, regex: re.Pattern[bytes]):
        self.skip = skip
        self.quotes = quotes
        self.regex = regex

    def findall(self, buf: bytes, start: int = 0, stop: int = -1) -> list[bytes]:
        stop = len(buf) if stop < 0 else stop
        lines = buf.count(b"\n", start, stop)
        quotes = self.quotes
        if lines:
            pieces = buf[start:stop].split(b'"')
            if len(pieces) == quotes * lines + 1 and all(
                map(_HOLDS_NEWLINE, pieces[quotes::quotes])
            ):
                return pieces[self.skip :: quotes]
        return self.regex.findall(buf, start, stop)


class _QuotedCounts:
    """A run's requests, server errors and uploads by organization, from one split on
    quotes (picked, counted and grouped in C; Python only for the upload candidates).

    Used when every line holds exactly ``quotes`` quotes (checked as in
    :class:`_QuotedField`): then piece ``status`` of each line starts with ``lead`` and the
    status (three digits in a line of the format), piece ``request`` is the request and piece
    ``organization`` the organization, whatever the other variables hold (quotes in values
    are escaped), so a status-like text in another field is never read as the status.
    """

    def __init__(
        self,
        quotes: int,
        status: int,
        lead: bytes,
        request: int,
        organization: int | None,
        uploads: Uploads,
    ):
        self.quotes, self.status, self.lead = quotes, status, len(lead)
        self.request, self.organization, self.uploads = request, organization, uploads
        self._error = methodcaller("startswith", lead + b"5")
        starts = tuple(m + b" " + p for m in sorted(uploads.methods) for p in uploads.prefixes)
        self._upload = methodcaller("startswith", starts) if starts else None

    def __call__(self, buf: bytes, start: int, stop: int) -> OrganizationCounts | None:
        lines = buf.count(b"\n", start, stop)
        quotes = self.quotes
        if not lines:
            return None
        pieces = buf[start:stop].split(b'"')
        if len(pieces) != quotes * lines + 1 or not all(
            map(_HOLDS_NEWLINE, pieces[quotes::quotes])
        ):
            return None
        statuses = pieces[self.status :: quotes]
        orgs: list[bytes] | None = None
        out: OrganizationCounts = {}
        if self.organization is None:
            out[None] = [lines, sum(map(self._error, statuses)), 0, 0, 0]
        else:
            orgs = pieces[self.organization :: quotes]
            for raw, count in Counter(orgs).items():
                out[raw] = [count, 0, 0, 0, 0]
            for raw, count in Counter(compress(orgs, map(self._error, statuses))).items():
                out[raw][1] = count
        if self._upload is None:
            return out
        requests = pieces[self.request :: quotes]
        classify, lead = self.uploads.classify, self.lead
        for i in compress(range(lines), map(self._upload, requests)):
            parts = requests[i].split(b" ")
            text = statuses[i][lead : lead + 3]
            if len(parts) < 2 or not text.isdigit():
                continue  # not a line of the format (it is counted as its run's request)
            upload, failed = classify(parts[0], parts[1], int(text))
            if upload:
                counts = out.setdefault(None if orgs is None else orgs[i], [0, 0, 0, 0, 0])
                counts[3] += 1
                counts[4] += failed
        return out


class _Counting(NamedTuple):
    """Server errors and uploads by regex: counted, or found one by one (with organizations)."""

    extras: Callable[[bytes, int, int], Extras]
    found: Callable[[bytes, int, int], Iterator[tuple[int, int]]]


def _by_organization(
    counting: _Counting, organization_of_line: re.Pattern[bytes]
) -> Callable[[bytes, int, int], OrganizationExtras]:
    """The extras of ``buf[start:stop]`` by the organization of the line each was found in."""
    found = counting.found

    def extras(buf: bytes, start: int, stop: int) -> OrganizationExtras:
        out: OrganizationExtras = {}
        lines = LinesOf(buf, start, stop, organization_of_line)
        for index, position in found(buf, start, stop):
            lines.add(out, position, index)
        return out

    return extras


def _only_group(pattern: bytes, keep: int) -> bytes:
    """``pattern`` with every capturing group but number ``keep`` (0-based) made non-capturing."""
    out = bytearray()
    index = 0
    i = 0
    while i < len(pattern):
        char = pattern[i : i + 1]
        if char == b"\\":
            out += pattern[i : i + 2]
            i += 2
            continue
        if char == b"(" and pattern[i + 1 : i + 2] != b"?":
            out += b"(" if index == keep else b"(?:"
            index += 1
        else:
            out += char
        i += 1
    return bytes(out)
