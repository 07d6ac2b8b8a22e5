"""JSON-lines logs (application logs, and nginx ``escape=json`` access logs).

Lines read one by one are parsed with orjson. The bulk is counted by key
needles, spelt as the block's first line spells them (``"status":`` or
``"status": ``), only over flat lines: a line holding ``{`` other than exactly
once (a nested object, which may hold a key of the same name) is parsed on its
own. In a flat line a needle can only be a top-level key (inside a string its
quotes are escaped). The contract left is that a mapped key appears at most
once per line, which every JSON logger we know of keeps. A dotted key
(``res.status``) reaches into objects, so such a log's lines are all nested and
all parsed one by one: exact, and several times slower.

A request is a line whose status key is present, whatever its value: a status
that is null or not a three-digit number counts as a request, never as a server
error or an upload, in bulk and line by line alike.

PM2 out logs mix JSON with plain text (dotenv banners, warnings, stack traces,
``console.log`` of an object): a line that does not start with ``{"`` is another
kind of line, counted for nothing and no parse error. PM2's ``--time`` (its
``log_date_format``, ``YYYY-MM-DDTHH:mm:ss`` unless set) puts ``TIME: `` before
each line; it is skipped, and the line's own time is the one read.

With a request-id key (Fastify's ``reqId``), a request's lines are paired:
Fastify writes ``incoming request`` with ``req.method``/``req.url``, then
``request completed`` with ``res.statusCode`` (an error line with the status may
come between). The first line with the status counts the request once, with the
method and route of the id's earlier line; ids are remembered for
:data:`PAIR_MINUTES` minutes and at most :data:`MAX_PENDING` at once (the oldest
forgotten first), so memory stays bounded. Such a log is parsed line by line, in
order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import methodcaller
from typing import Any, Literal

import orjson

from calmopsd.sense.logs.compiled import SCANNER
from calmopsd.sense.logs.lines import (
    OTHER,
    BlockPatterns,
    BlockScan,
    Extras,
    LineCounts,
    LinesOf,
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
    minute_of_epoch,
    minute_of_epoch_text,
    minute_of_iso,
)

# PM2's --time prefix (dayjs 'YYYY-MM-DDTHH:mm:ss', or a log_date_format like it) and ': '.
_PM2_PREFIX = re.compile(
    rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?: ?(?:Z|[+-]\d\d:?\d\d))?: "
)
PAIR_MINUTES = 10
MAX_PENDING = 8192
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STATUS_TEXT = re.compile(r"[0-9]{3}")


class JsonFields:
    """Which keys hold what; empty means the log has no such value."""

    def __init__(
        self,
        *,
        time: str,
        status: str = "",
        method: str = "",
        route: str = "",
        request: str = "",
        level: str = "",
        organization: str = "",
        request_id: str = "",
    ):
        self.time = time
        self.status = status
        self.method = method
        self.route = route
        self.request = request
        self.level = level
        self.organization = organization
        self.request_id = request_id


def _get(record: dict[str, Any], key: str) -> Any:
    if not key:
        return None
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _key(key: str, sep: bytes) -> bytes:
    """The needle of a key as written: ``"status":`` (or with the block's spacing)."""
    return b'"' + key.rsplit(".", 1)[-1].encode() + b'"' + sep


_ABSENT = object()


def _has(record: dict[str, Any], key: str) -> bool:
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(part, _ABSENT)
    return value is not _ABSENT


def _status(value: Any) -> int | None:
    """A status as the bulk patterns read it: three digits, quoted or not."""
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 999:
        return value
    if isinstance(value, str) and _STATUS_TEXT.fullmatch(value):
        return int(value)
    return None


class JsonFormat:
    """One JSON-lines log layout."""

    def __init__(
        self,
        fields: JsonFields,
        uploads: Uploads,
        error_levels: Sequence[str | int] = (),
        *,
        compiled: bool = True,
    ):
        """``compiled=False`` counts without the compiled scanner even when it is built (the
        tests hold both ways to the same counts; the bench times both)."""
        self.fields = fields
        self.uploads = uploads
        self.error_levels = frozenset(error_levels)
        self._time_key = re.compile(re.escape(_key(fields.time, b"")) + rb"\s*:\s*")
        self._time_value = re.compile(
            re.escape(_key(fields.time, b"")) + rb'\s*:\s*(")?([^",}\s]+)'
        )
        self._minutes = MinuteCache()
        self._cache: dict[bytes, tuple[BlockPatterns, re.Pattern[bytes] | None]] = {}
        # request id → (minute, method, path) of its line without a status; ids counted
        self._pending: dict[Any, tuple[int, bytes, bytes]] = {}
        self._counted: dict[Any, int] = {}
        self._scanner: BlockScan | Literal[False] | None = False if compiled else None

    def _separator(self, line: bytes) -> bytes:
        line = _json_part(line)
        match = self._time_key.search(line)
        return match.group(0)[len(_key(self.fields.time, b"")) :] if match else b":"

    def _probe_record(self, line: bytes, record: Any) -> Probe | None:
        if not isinstance(record, dict):
            return None
        value = _get(record, self.fields.time)
        sep = self._separator(line)
        context = _key(self.fields.time, sep)
        if isinstance(value, str):
            minute = minute_of_iso(value.encode())
            if minute is None:
                return None
            return Probe(minute, tuple(context + b'"' + n for n in iso_needles(value.encode())))
        if isinstance(value, int | float) and not isinstance(value, bool):
            minute = minute_of_epoch(value)
            raw = self._raw_number(line, context)
            if minute is None or raw is None:
                return None
            return Probe(minute, tuple(context + n for n in epoch_needles(raw, minute)))
        return None

    def _raw_number(self, line: bytes, context: bytes) -> bytes | None:
        at = line.find(context)
        match = _NUMBER.match(line, at + len(context)) if at >= 0 else None
        return match.group(0) if match else None

    def minute(self, line: bytes) -> int | None:
        """The same key probe() reads. In a flat line the first needle is that key; in a
        nested one it might be a nested object's, so such a line is parsed."""
        if line.count(b"{") != 1:
            probe = self.probe(line)
            return None if probe is None else probe.minute
        match = self._time_value.search(line)
        if match is None:
            return None
        quoted, text = match.groups()
        return self._minutes.iso(text) if quoted else minute_of_epoch_text(text)

    def probe(self, line: bytes) -> Probe | None:
        line = _json_part(line)
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        return self._probe_record(line, record)

    def parse(self, line: bytes) -> LineCounts | None:
        line = _json_part(line)
        if not line.startswith(b'{"'):
            return OTHER if not line.lstrip().startswith(b'{"') else self._parse(line.lstrip())
        return self._parse(line)

    def _parse(self, line: bytes) -> LineCounts | None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        probe = self._probe_record(line, record)
        if probe is None:
            return None
        assert isinstance(record, dict)  # noqa: S101  # _probe_record refused anything else
        fields = self.fields
        has_status = bool(fields.status) and _has(record, fields.status)
        status = _status(_get(record, fields.status))
        method, path = self._method_and_path(record)
        upload, failed = (
            self.uploads.classify(method, path, status) if status is not None else (0, 0)
        )
        level = _get(record, fields.level)
        error = int(isinstance(level, str | int) and level in self.error_levels)
        if fields.request_id:
            return self._paired(line, record, probe.minute, has_status, status, error)
        return LineCounts(
            probe.minute,
            self._organization(line, record),
            int(has_status),
            int(status is not None and status >= 500),
            error,
            upload,
            failed,
        )

    def _paired(
        self,
        line: bytes,
        record: dict[str, Any],
        minute: int,
        has_status: bool,
        status: int | None,
        error: int,
    ) -> LineCounts:
        """A line of a log whose requests take two lines, joined by the request id."""
        org = self._organization(line, record)
        rid = _get(record, self.fields.request_id)
        if rid is None or isinstance(rid, dict | list):
            method, path = self._method_and_path(record)
            upload, failed = self._classify(method, path, status)
            server_error = int(status is not None and status >= 500)
            return LineCounts(minute, org, int(has_status), server_error, error, upload, failed)
        key = (record.get("pid"), rid)  # ids restart with each process (pid from pino)
        method, path = self._method_and_path(record)
        if not has_status:
            if method or path:  # a new request under this id
                _remember(self._pending, key, (minute, method, path))
                self._counted.pop(key, None)
            return LineCounts(minute, org, 0, 0, error, 0, 0)
        counted = self._counted.get(key)
        if counted is not None and minute - counted <= PAIR_MINUTES:
            return LineCounts(minute, org, 0, 0, error, 0, 0)  # its request counted already
        _remember(self._counted, key, minute)
        pending = self._pending.pop(key, None)
        if not (method or path) and pending is not None and minute - pending[0] <= PAIR_MINUTES:
            method, path = pending[1], pending[2]
        upload, failed = self._classify(method, path, status)
        server_error = int(status is not None and status >= 500)
        return LineCounts(minute, org, 1, server_error, error, upload, failed)

    def _classify(self, method: bytes, path: bytes, status: int | None) -> tuple[int, int]:
        return self.uploads.classify(method, path, status) if status is not None else (0, 0)

    def _method_and_path(self, record: dict[str, Any]) -> tuple[bytes, bytes]:
        if self.fields.request:
            request = _get(record, self.fields.request)
            parts = request.split(" ") if isinstance(request, str) else []
            return (parts[0].encode(), parts[1].encode()) if len(parts) >= 2 else (b"", b"")
        method = _get(record, self.fields.method)
        path = _get(record, self.fields.route)
        if not isinstance(method, str) or not isinstance(path, str):
            return b"", b""
        return method.encode(), path.encode()

    def _organization(self, line: bytes, record: dict[str, Any]) -> str | None:
        """A flat line's is read with the bulk's own regex, so both always agree; a nested
        line (never counted in bulk) has its top-level value read."""
        pattern = self._patterns(self._separator(line))[1]
        if pattern is None:
            return None
        if line.count(b"{") != 1 and not self._nested:
            value = _get(record, self.fields.organization)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            return organization(value.encode()) if isinstance(value, str) else None
        match = pattern.search(line)
        return organization(match.group(1)) if match else None

    def block_scan(self) -> BlockScan | None:
        """The compiled scanner, when it is built and this layout fits it (pairing by request
        id is stateful: such a log is parsed in order).

        It reads each line as :meth:`parse` does (time, status, method, route, request and
        level by key path, the organization by the regex's needle spelt with the line's
        separator) and leaves to ``parse`` every line it is not sure of (``_scan.c``)."""
        if self._scanner is False:
            self._scanner = self._make_scanner()
        return self._scanner

    def _make_scanner(self) -> BlockScan | None:
        scanner = SCANNER
        f = self.fields
        levels = tuple(sorted(level for level in self.error_levels if isinstance(level, str)))
        numbers = tuple(sorted(level for level in self.error_levels if isinstance(level, int)))
        keys = (f.status, f.method, f.route, f.request, f.level, f.time)
        if (
            scanner is None
            or f.request_id
            or not f.time
            or any(key.count(".") >= 4 for key in keys)
            or max(len(levels), len(numbers)) > 16
            or len(self.uploads.methods) > 16
            or len(self.uploads.routes) > 16
            or len(self.uploads.failures) > 16
            or any("?" in route or "[" in route for route in self.uploads.routes)
            or any(not isinstance(level, str | int) for level in self.error_levels)
            or any(abs(level) >= 2**63 for level in numbers)
        ):
            return None
        spec = (
            tuple(tuple(part.encode() for part in key.split(".")) if key else () for key in keys),
            _key(f.organization, b"") if f.organization else None,
            _key(f.time, b""),
            tuple(level.encode() for level in levels),
            numbers,
            tuple(sorted(self.uploads.methods)),
            tuple(route.encode() for route in self.uploads.routes),
            tuple(sorted(self.uploads.failures)),
            not self._nested,
        )
        scan_json = scanner.scan_json

        def scan(buf: bytes, end: int) -> ScanResult:
            found: ScanResult = scan_json(buf, end, spec)
            return found

        return scan

    def patterns(self, line: bytes) -> BlockPatterns:
        if self.fields.request_id:
            return _IN_ORDER
        return self._patterns(self._separator(_json_part(line)))[0]

    def _patterns(self, sep: bytes) -> tuple[BlockPatterns, re.Pattern[bytes] | None]:
        cached = self._cache.get(sep)
        if cached is None:
            cached = self._cache[sep] = self._build(sep)
        return cached

    def _build(self, sep: bytes) -> tuple[BlockPatterns, re.Pattern[bytes] | None]:
        f = self.fields
        errors = self._server_errors(sep)
        levels = self._error_levels(sep)
        uploads: list[bytes] = []
        if f.request and f.status:
            uploads.append(self.uploads.candidate(_key(f.request, sep) + b'"', b""))
        elif f.method and f.route and f.status:
            uploads.append(self.uploads.candidate(None, _key(f.route, sep) + b'"'))
        request = self._status_needle(sep) if f.status else None
        # Nested lines (a dotted key): a status key of another object (an error's statusCode)
        # and every error level (a nested "level" might be another's) make a line parsed on
        # its own.
        twice = self._doubtful(sep)
        if self._nested and levels is not None:
            twice.append(levels)
            levels = None
        once = b"" if self._nested else b"{"
        org_in_line = org_of_requests = None
        if f.organization:
            value = re.compile(
                re.escape(_key(f.organization, sep))
                + rb'(?!(?:null|true|false)[,}\s])"?([A-Za-z0-9_-]*)"?(?=[,}\s])'
            )
            org_in_line = value
            if request is not None:
                org_of_requests = _OfLinesHolding(request, value, flat=not self._nested)
        candidates = tuple(re.compile(c) for c in twice)
        if org_in_line is not None:
            # Server errors, error lines and uploads by the organization of their line, read
            # with the regex _organization() reads it with: a search per line, not a parse.
            by_org = self._extras_by_organization(sep, errors, levels, uploads, org_in_line)
            patterns = BlockPatterns(
                candidates,
                request,
                org_of_requests,
                None,
                by_org,
                line_end=b"}",
                once=once,
            )
            return patterns, org_in_line
        extras = self._extras(sep, errors, levels, uploads)
        return BlockPatterns(candidates, request, None, extras, line_end=b"}", once=once), None

    @property
    def _nested(self) -> bool:
        f = self.fields
        keys = (f.time, f.status, f.method, f.route, f.request, f.level, f.organization)
        return any("." in key for key in keys)

    def _doubtful(self, sep: bytes) -> list[bytes]:
        """A status key not where the status is (``"statusCode":`` not just inside ``res``)."""
        needle = self._status_needle(sep) if self.fields.status else b""
        plain = _key(self.fields.status, sep) if self.fields.status else b""
        if not self._nested or needle == plain:
            return []
        # The literal first, so the regex engine searches for it (a leading lookbehind is
        # tried at every byte: ten times slower).
        return [re.escape(plain) + rb"(?<!" + re.escape(needle) + rb")"]

    def _status_needle(self, sep: bytes) -> bytes:
        """``"status":``; for a dotted key, with its parent when that is how lines spell it
        (``"res":{"statusCode":``), so a status key of another object is not taken for it."""
        parts = self.fields.status.split(".")
        if len(parts) == 2:
            return b'"' + parts[0].encode() + b'"' + sep + b"{" + _key(parts[1], sep)
        return _key(self.fields.status, sep)

    def _extras(
        self, sep: bytes, errors: bytes | None, levels: bytes | None, uploads: list[bytes]
    ) -> Callable[[bytes, int, int], Extras]:
        """Count by regex: server errors and error lines by their key and value; uploads
        by their route, then method and status read from just those lines."""
        error_re = re.compile(errors) if errors else None
        level_re = re.compile(levels) if levels else None
        upload_re = re.compile(uploads[0]) if uploads else None
        upload = self._upload_of_line(sep)

        def extras(buf: bytes, start: int, stop: int) -> Extras:
            server_errors = len(error_re.findall(buf, start, stop)) if error_re else 0
            error_lines = len(level_re.findall(buf, start, stop)) if level_re else 0
            total = failures = 0
            if upload_re is not None:
                seen = set()
                for match in upload_re.finditer(buf, start, stop):
                    line_start = buf.rfind(b"\n", start, match.start()) + 1 or start
                    if line_start not in seen:
                        seen.add(line_start)
                        line_end = buf.find(b"\n", line_start, stop)
                        counted, failed = upload(
                            buf[line_start : stop if line_end < 0 else line_end]
                        )
                        total += counted
                        failures += failed
            return server_errors, error_lines, total, failures

        return extras

    def _extras_by_organization(
        self,
        sep: bytes,
        errors: bytes | None,
        levels: bytes | None,
        uploads: list[bytes],
        org_value: re.Pattern[bytes],
    ) -> Callable[[bytes, int, int], OrganizationExtras]:
        """:meth:`_extras` by organization: each line found is searched for its organization
        once (a few percent of lines: server errors, error levels, uploads)."""
        error_re = re.compile(errors) if errors else None
        level_re = re.compile(levels) if levels else None
        upload_re = re.compile(uploads[0]) if uploads else None
        upload = self._upload_of_line(sep)

        def extras(buf: bytes, start: int, stop: int) -> OrganizationExtras:
            out: OrganizationExtras = {}
            lines = LinesOf(buf, start, stop, org_value)
            for index, found in ((0, error_re), (1, level_re)):
                if found is not None:
                    for match in found.finditer(buf, start, stop):
                        lines.add(out, match.start(), index)
            if upload_re is not None:
                seen = set()
                for match in upload_re.finditer(buf, start, stop):
                    line_start, line_end = lines.bounds(match.start())
                    if line_start not in seen:
                        seen.add(line_start)
                        counted, failed = upload(buf[line_start:line_end])
                        if counted:
                            lines.add(out, line_start, 2)
                            lines.add(out, line_start, 3, failed)
            return out

        return extras

    def _upload_of_line(self, sep: bytes) -> Callable[[bytes], tuple[int, int]]:
        """(upload, failed upload) of one flat line, read by regex."""
        status_re = re.compile(re.escape(self._status_needle(sep)) + rb'"?(\d{3})(?![\d.])')
        if self.fields.request:
            method_re = None
            path_re = re.compile(re.escape(_key(self.fields.request, sep)) + rb'"(\S+) ([^ "]+)')
        else:
            method_re = re.compile(re.escape(_key(self.fields.method, sep)) + rb'"([^"]*)"')
            path_re = re.compile(re.escape(_key(self.fields.route, sep)) + rb'"((?:[^"\\]|\\.)*)"')
        classify = self.uploads.classify

        def upload(line: bytes) -> tuple[int, int]:
            status = status_re.search(line)
            path = path_re.search(line)
            if status is None or path is None:
                return 0, 0
            if method_re is None:
                method, route = path.group(1), path.group(2)
            else:
                found = method_re.search(line)
                method, route = (found.group(1) if found else b""), path.group(1)
            return classify(method, route, int(status.group(1)))

        return upload

    def _server_errors(self, sep: bytes) -> bytes | None:
        if not self.fields.status:
            return None
        return re.escape(self._status_needle(sep)) + rb'"?5\d\d(?![\d.])'

    def _error_levels(self, sep: bytes) -> bytes | None:
        if not self.fields.level or not self.error_levels:
            return None
        values = [re.escape(orjson.dumps(v)) for v in sorted(self.error_levels, key=str)]
        return re.escape(_key(self.fields.level, sep)) + b"(?:" + b"|".join(values) + rb")(?![\w.])"


_IN_ORDER = BlockPatterns((), None, None, one_by_one=True)


def _json_part(line: bytes) -> bytes:
    """The line without PM2's ``--time`` prefix."""
    if line[:1] == b"{":
        return line
    match = _PM2_PREFIX.match(line)
    return line[match.end() :] if match else line


def _remember(kept: dict[Any, Any], key: Any, value: Any) -> None:
    """Keep ``key`` as the newest; forget the oldest beyond :data:`MAX_PENDING`."""
    kept.pop(key, None)
    kept[key] = value
    while len(kept) > MAX_PENDING:
        del kept[next(iter(kept))]


class _OfLinesHolding:
    """The organizations of the lines holding ``needle`` (one each at most), found with one
    search over those lines only: the block is split once and the lines picked in C."""

    def __init__(self, needle: bytes, value: re.Pattern[bytes], flat: bool):
        self.needle = needle
        self.value = value
        self.flat = flat

    def findall(self, buf: bytes, start: int = 0, stop: int = -1) -> list[bytes]:
        stop = len(buf) if stop < 0 else stop
        lines_in = buf.count(b"\n", start, stop)
        if (
            self.flat
            and lines_in
            and buf.count(self.needle, start, stop) == lines_in
            and buf.count(b"{", start, stop) == lines_in
        ):
            # Every line flat and a request (access logs, request-only app logs): nothing to
            # pick, as a key is in a flat line at most once. (A nested line, parsed on its
            # own, may hold the needle twice while another line lacks it.)
            return self.value.findall(buf, start, stop)
        lines = buf[start:stop].split(b"\n")
        holding = b"\n".join(filter(methodcaller("__contains__", self.needle), lines))
        return self.value.findall(holding)
