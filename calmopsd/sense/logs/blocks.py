"""Count a block of complete lines by minute without making one Python object per line.

The block is cut into runs of one minute each by bisection on the byte offsets
(a line's time is read only at the probe points). Within a run:

1. ``count(b"\\n")`` gives the lines, and counting the minute's needle (text
   every line of that minute holds, e.g. ``[01/Mar/2025:13:55:``) checks that
   they all belong to it.
2. Lines that do not hold the needle — written out of order (nginx workers
   finish requests in a slightly different order than they stamp them), or
   malformed, or not holding the format's ``once`` text exactly once (a JSON line
   with a nested object) — are found with one regex over the run and parsed one
   by one, so each is counted in its own minute, or as a parse error.
3. The few lines that matter beyond being a request (server errors, uploads,
   error levels) are found by a regex over the run and parsed one by one.
4. Everything else is counted in bulk: every line, or every status needle, is a
   request; organizations come from one ``findall`` per run.

Lines parsed one by one first take back what the bulk counted for them, so the
result is exactly what parsing every line would give for well-formed lines.
If the needle count cannot be explained (a line holds it twice), the run is
parsed line by line: slower, still exact.
"""

from __future__ import annotations

import operator
import re
from collections import Counter

from calmopsd.sense.logs.lines import (
    OTHER,
    BlockPatterns,
    BlockScan,
    Extras,
    LineCounts,
    LineFormat,
    OrganizationCounts,
    OrganizationExtras,
    Probe,
    organization,
)

REQUESTS, SERVER_ERRORS, ERROR_LINES, UPLOADS, UPLOAD_FAILURES, PARSE_ERRORS = range(6)
Key = tuple[int, str | None]
Tally = dict[Key, list[int]]
_StrayKey = tuple[tuple[bytes, ...], bytes, bytes, int]  # needles, line end, once, times

_EDGE = 8192  # bytes at each end of a minute's run searched first for out-of-order lines


def add(tally: Tally, key: Key, index: int, amount: int = 1) -> None:
    counts = tally.get(key)
    if counts is None:
        counts = tally[key] = [0, 0, 0, 0, 0, 0]
    counts[index] += amount


def add_line(tally: Tally, line: LineCounts, *, with_request: bool = True) -> None:
    """Add one parsed line; ``with_request=False`` when its request was already counted."""
    key = (line.minute, line.organization_id)
    counts = tally.get(key)
    if counts is None:
        counts = tally[key] = [0, 0, 0, 0, 0, 0]
    if with_request:
        counts[REQUESTS] += line.requests
    counts[SERVER_ERRORS] += line.server_errors
    counts[ERROR_LINES] += line.error_lines
    counts[UPLOADS] += line.uploads
    counts[UPLOAD_FAILURES] += line.upload_failures


def _add_extras(tally: Tally, key: Key, extras: Extras, sign: int) -> None:
    counts = tally.get(key)
    if counts is None:
        counts = tally[key] = [0, 0, 0, 0, 0, 0]
    counts[SERVER_ERRORS] += sign * extras[0]
    counts[ERROR_LINES] += sign * extras[1]
    counts[UPLOADS] += sign * extras[2]
    counts[UPLOAD_FAILURES] += sign * extras[3]


class BlockCounter:
    """Counts blocks of one format into a tally."""

    def __init__(self, line_format: LineFormat, max_organizations: int | None = None):
        self.format = line_format
        self._strays: dict[_StrayKey, re.Pattern[bytes]] = {}
        self.max_organizations = max_organizations
        self._organizations: set[str] = set()
        self.folded = 0  # counts of an organization over the limit, added to the platform's
        self.other_lines = 0  # lines of another kind (plain text among JSON), ever
        make_scan = getattr(line_format, "block_scan", None)
        self._scan: BlockScan | None = make_scan() if make_scan is not None else None

    def start_round(self, known: set[str]) -> None:
        """Begin a new tally: ``known`` organizations keep their own counts, and new ones
        only while there is room, so a round's tally stays bounded whatever the log holds."""
        self._organizations = set(known)
        self.folded = 0

    def _fold(self, org: str | None, counted: bool = True) -> str | None:
        """``org``, or None once the limit is reached. ``counted``: not a take-back."""
        if org is None or self.max_organizations is None or org in self._organizations:
            return org
        if len(self._organizations) < self.max_organizations:
            self._organizations.add(org)
            return org
        self.folded += counted
        return None

    def _parse(self, line: bytes) -> LineCounts | None:
        counts = self.format.parse(line)
        if counts is None or counts.organization_id is None:
            return counts
        return counts._replace(organization_id=self._fold(counts.organization_id))

    def count(self, buf: bytes, end: int, tally: Tally, default_minute: int) -> None:
        """Count ``buf[:end]``, which is whole lines (``end`` just after a newline)."""
        if self._scan is not None:
            self._count_scanned(self._scan, buf, end, tally, default_minute)
            return
        pos = 0
        minute = default_minute
        guess = 0
        while pos < end:
            found = self._first_readable(buf, pos, end)
            if found is None:
                self._one_by_one(buf, pos, end, tally, minute)
                return
            start, probe = found
            if start > pos:
                self._one_by_one(buf, pos, start, tally, probe.minute)
            minute = probe.minute
            # minute() and probe() read the same field, but a line they disagree on
            # must still not stop the loop: a run holds at least its first line.
            stop = max(
                self._minute_end(buf, start, end, minute, guess), buf.index(b"\n", start) + 1
            )
            guess = stop - start
            patterns = self.format.patterns(buf[start : buf.index(b"\n", start)])
            self._run(buf, start, stop, probe, patterns, tally)
            pos = stop

    def _count_scanned(
        self, scan: BlockScan, buf: bytes, end: int, tally: Tally, default_minute: int
    ) -> None:
        """One compiled pass over the block; the lines it was not sure of are parsed on their
        own (a parse error counted in the minute of the last line counted before it)."""
        found, left, before = scan(buf, end)
        fold, get = self._fold, tally.get
        for (minute, raw), counts in found.items():
            key = (minute, None if raw is None else fold(organization(raw)))
            row = get(key)
            if row is None:
                counts.append(0)  # no parse errors: the scan counted none
                tally[key] = counts
            else:
                row[:5] = map(operator.add, row, counts)
        first = next(iter(found))[0] if found else default_minute
        for start, minute in zip(left, before, strict=True):
            self._single(
                buf[start : buf.index(b"\n", start)], tally, minute if minute >= 0 else first
            )

    def _probe_at(self, buf: bytes, start: int) -> Probe | None:
        return self.format.probe(buf[start : buf.index(b"\n", start)])

    def _first_readable(self, buf: bytes, pos: int, end: int) -> tuple[int, Probe] | None:
        while pos < end:
            probe = self._probe_at(buf, pos)
            if probe is not None:
                return pos, probe
            pos = buf.index(b"\n", pos) + 1
        return None

    def _after(self, buf: bytes, start: int, minute: int) -> bool:
        """Does the line at ``start`` belong to a later minute? Unreadable lines do not."""
        found = self.format.minute(buf[start : buf.index(b"\n", start)])
        return found is not None and found > minute

    def _minute_end(self, buf: bytes, start: int, end: int, minute: int, guess: int) -> int:
        """Start of the first line after ``start`` found to be later than ``minute`` (or end).

        Searched outward from ``guess`` (the last minute's length: traffic changes
        slowly), then by bisection, so a minute costs a handful of probes.
        """
        low, high = start, end
        point = min(start + max(guess, 256), end)
        step = max(guess // 32, 256)
        if point < end and self._after(buf, self._line_at(buf, point, start), minute):
            high = self._line_at(buf, point, start)
            while high - step > low:
                line = self._line_at(buf, high - step, start)
                if not self._after(buf, line, minute):
                    low = line
                    break
                high, step = line, step * 2
        else:
            low = self._line_at(buf, point, start) if point < end else start
            while low + step < end:
                line = self._line_at(buf, low + step, start)
                if self._after(buf, line, minute):
                    high = line
                    break
                low, step = line, step * 2
        return self._bisect(buf, low, high, minute)

    @staticmethod
    def _line_at(buf: bytes, point: int, floor: int) -> int:
        """Start of the line holding ``point`` (never before ``floor``)."""
        return max(buf.rfind(b"\n", floor, point) + 1, floor)

    def _bisect(self, buf: bytes, low: int, high: int, minute: int) -> int:
        while True:
            middle = buf.rfind(b"\n", low, (low + high) // 2) + 1
            if middle <= low:
                middle = buf.index(b"\n", low) + 1
            if middle >= high:
                return high
            if self._after(buf, middle, minute):
                high = middle
            else:
                low = middle

    def _run(
        self,
        buf: bytes,
        start: int,
        stop: int,
        probe: Probe,
        patterns: BlockPatterns,
        tally: Tally,
    ) -> None:
        if patterns.one_by_one:
            self._one_by_one(buf, start, stop, tally, probe.minute)
            return
        lines = buf.count(b"\n", start, stop)
        held = sum(buf.count(needle, start, stop) for needle in probe.needles)
        ended = buf.count(patterns.line_end + b"\n", start, stop) if patterns.line_end else lines
        times = patterns.times
        opened = buf.count(patterns.once, start, stop) if patterns.once else lines * times
        strays: list[int] | None = []
        if held != lines or ended != lines or opened != lines * times:
            strays = self._strays_in(buf, start, stop, probe, patterns, (held, ended, opened))
        if strays is None:
            self._one_by_one(buf, start, stop, tally, probe.minute)
            return
        whole = self._bulk(buf, start, stop, probe.minute, patterns, tally)
        singles = set(strays)
        for candidate in () if whole else patterns.candidates:
            for match in candidate.finditer(buf, start, stop):
                singles.add(buf.rfind(b"\n", start, match.start()) + 1 or start)
        parse = self._parse
        minute = probe.minute
        plain = (
            patterns.request_needle is None
            and patterns.organizations is None
            and patterns.extras is None
            and patterns.extras_by_organization is None
            and not whole
        )
        for line_start in sorted(singles):  # in order: a line may depend on earlier ones
            line = buf[line_start : buf.index(b"\n", line_start)]
            counts = parse(line)
            if counts is OTHER:
                self._take_back(line, minute, patterns, tally, whole)
                self.other_lines += 1
                continue
            if plain and counts is not None and counts.minute == minute:
                # The usual case: the bulk already counted this request where it belongs.
                add_line(tally, counts, with_request=False)
                continue
            self._take_back(line, minute, patterns, tally, whole)
            if counts is None:
                add(tally, (minute, None), PARSE_ERRORS)
            else:
                add_line(tally, counts)

    def _strays_in(
        self,
        buf: bytes,
        start: int,
        stop: int,
        probe: Probe,
        patterns: BlockPatterns,
        counted: tuple[int, int, int],
    ) -> list[int] | None:
        """Starts of the lines lacking the needle or the line end: at the run's edges first,
        where out-of-order lines are, then through the whole run. None if even that does not
        explain the counts (a line holds the needle twice): then parse the run line by line."""
        key = (probe.needles, patterns.line_end, patterns.once, patterns.times)
        stray = self._stray(key)
        lines = buf.count(b"\n", start, stop)
        if stop - start > 4 * _EDGE:
            head_end = buf.index(b"\n", start + _EDGE) + 1
            tail_start = self._line_at(buf, stop - _EDGE, start)
            found = [m.start() for m in stray.finditer(buf, start, head_end)]
            found += [m.start() for m in stray.finditer(buf, tail_start, stop)]
            if self._explains(buf, found, key, lines, counted):
                return found
        found = [m.start() for m in stray.finditer(buf, start, stop)]
        return found if self._explains(buf, found, key, lines, counted) else None

    @staticmethod
    def _explains(
        buf: bytes,
        strays: list[int],
        key: _StrayKey,
        lines: int,
        counted: tuple[int, int, int],
    ) -> bool:
        """Do the other lines hold exactly one needle, one line end and ``times`` ``once``
        each, in total?"""
        needles, line_end, once, times = key
        held, ended, opened = counted
        for start in strays:
            line = buf[start : buf.index(b"\n", start) + 1]
            held -= sum(line.count(needle) for needle in needles)
            ended -= line.endswith(line_end + b"\n") if line_end else 1
            opened -= line.count(once) if once else times
        rest = lines - len(strays)
        return held == rest and ended == rest and opened == rest * times

    def _stray(self, key: _StrayKey) -> re.Pattern[bytes]:
        """Lines holding none of the needles, not ending as lines do (newline included), or
        not holding ``once`` exactly ``times`` times."""
        pattern = self._strays.get(key)
        if pattern is None:
            if len(self._strays) > 64:
                self._strays.clear()
            needles, line_end, once, times = key
            held = b"|".join(re.escape(n) for n in needles)
            lacking = rb"(?![^\n]*(?:" + held + rb"))"
            if line_end:
                lacking += rb"|(?![^\n]*" + re.escape(line_end) + rb"\n)"
            if once:
                other = rb"[^\n" + re.escape(once) + rb"]*"
                held_times = (re.escape(once) + other) * times
                lacking += rb"|(?!" + other + held_times + rb"\n)"
            lacking = rb"(?:" + lacking + rb")"
            pattern = re.compile(rb"^" + lacking + rb"[^\n]*\n", re.MULTILINE)
            self._strays[key] = pattern
        return pattern

    def _bulk(
        self, buf: bytes, start: int, stop: int, minute: int, p: BlockPatterns, tally: Tally
    ) -> bool:
        """Count the run in bulk; True when ``p.counts`` counted it (then it counted all)."""
        if p.counts is not None:
            found = p.counts(buf, start, stop)
            if found is not None:
                self._add_counts(tally, minute, found, 1)
                return True
        if p.request_needle is None:
            requests = buf.count(b"\n", start, stop)
        else:
            requests = buf.count(p.request_needle, start, stop)
        if p.organizations is not None:
            for raw, count in Counter(p.organizations.findall(buf, start, stop)).items():
                org = self._fold(organization(raw))
                if org is not None:
                    add(tally, (minute, org), REQUESTS, count)
                    requests -= count
        add(tally, (minute, None), REQUESTS, requests)
        if p.extras is not None:
            _add_extras(tally, (minute, None), p.extras(buf, start, stop), 1)
        if p.extras_by_organization is not None:
            self._add_organization_extras(tally, minute, p.extras_by_organization(buf, start, stop))
        return False

    def _add_counts(self, tally: Tally, minute: int, found: OrganizationCounts, sign: int) -> None:
        """Add (or take back) ``found``, laid out as a tally's first five counts."""
        combine = operator.add if sign > 0 else operator.sub
        for raw, counts in found.items():
            key = (minute, self._fold(organization(raw), counted=sign > 0))
            row = tally.get(key)
            if row is None:
                row = tally[key] = [0, 0, 0, 0, 0, 0]
            row[:5] = map(combine, row, counts)

    def _take_back(
        self, line: bytes, minute: int, p: BlockPatterns, tally: Tally, whole: bool = False
    ) -> None:
        """Undo what :meth:`_bulk` counted for ``line`` (``whole``: with ``p.counts``, which
        then reads the line alone as it read it in its run: it was of the run's shape)."""
        if whole and p.counts is not None:
            found = p.counts(line + b"\n", 0, len(line) + 1)
            if found is not None:
                self._add_counts(tally, minute, found, -1)
                return
        requests = 1 if p.request_needle is None else line.count(p.request_needle)
        if p.organizations is not None:
            for raw in p.organizations.findall(line):
                org = self._fold(organization(raw), counted=False)
                if org is not None:
                    add(tally, (minute, org), REQUESTS, -1)
                    requests -= 1
        add(tally, (minute, None), REQUESTS, -requests)
        if p.extras is not None:
            _add_extras(tally, (minute, None), p.extras(line, 0, len(line)), -1)
        if p.extras_by_organization is not None:
            found = p.extras_by_organization(line, 0, len(line))
            self._add_organization_extras(tally, minute, found, -1)

    def _add_organization_extras(
        self, tally: Tally, minute: int, found: OrganizationExtras, sign: int = 1
    ) -> None:
        # counted=False: the organization was counted over the limit with the line's request.
        for raw, extras in found.items():
            org = self._fold(organization(raw), counted=False)
            _add_extras(tally, (minute, org), (extras[0], extras[1], extras[2], extras[3]), sign)

    def _single(self, line: bytes, tally: Tally, minute: int) -> None:
        counts = self._parse(line)
        if counts is OTHER:
            self.other_lines += 1
        elif counts is None:
            add(tally, (minute, None), PARSE_ERRORS)
        else:
            add_line(tally, counts)

    def _one_by_one(self, buf: bytes, start: int, stop: int, tally: Tally, minute: int) -> None:
        """The slow, plain way: parse every line."""
        for line in buf[start:stop].split(b"\n")[:-1]:
            self._single(line, tally, minute)
