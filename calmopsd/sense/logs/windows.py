"""Per-minute counts kept for the windows, and the rates read from them.

Memory is bounded whatever the traffic: one small list per (source, minute,
organization) for the last :data:`KEEP_MINUTES` minutes, and at most
``max_organizations`` organizations (lines of any further one count for the
platform only). Minutes older than that only add to the totals.

The windows end at the last minute that is complete: ``settle`` after its end,
so lines nginx buffers or writes late are in it. The 1-minute window is that
minute; the 5-minute window is it and the four before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from calmopsd.model import LogBucket
from calmopsd.sense.logs.blocks import ERROR_LINES, PARSE_ERRORS, Tally

KEEP_MINUTES = 10
AHEAD_MINUTES = 5  # lines stamped this far in the future still count in windows
WINDOWS = (1, 5)
_FIELDS = ("requests", "server_errors", "error_lines", "uploads", "upload_failures", "parse_errors")

Counts = list[int]


def epoch_minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


class Windows:
    """Counts per source, minute and organization, plus per-source totals."""

    def __init__(self, max_organizations: int, settle: timedelta):
        self.max_organizations = max_organizations
        self.settle = settle
        self.minutes: dict[tuple[str, int, str | None], Counts] = {}
        self.totals: dict[str, Counts] = {}
        self.organizations_over_limit = 0

    def restore(self, buckets: Iterable[LogBucket], totals: Iterable[LogBucket]) -> None:
        for b in buckets:
            self.minutes[(b.source, b.minute, b.organization_id)] = _counts(b)
        for b in totals:
            self.totals[b.source] = _counts(b)

    def start(self, source: str) -> bool:
        """Make sure ``source`` has totals; True if it had none (never read before)."""
        if source in self.totals:
            return False
        self.totals[source] = [0] * 6
        return True

    def add(self, source: str, tally: Tally, now: datetime) -> None:
        """Merge one round's tally; minutes outside the kept range only reach the totals."""
        now_minute = epoch_minute(now)
        low, high = now_minute - KEEP_MINUTES, now_minute + AHEAD_MINUTES
        totals = self.totals.setdefault(source, [0] * 6)
        known = self.organizations()
        for (minute, org), counts in tally.items():
            for i, value in enumerate(counts):
                totals[i] += value
            if not low <= minute <= high:
                continue
            if org is not None and org not in known:
                if len(known) >= self.max_organizations:
                    self.organizations_over_limit += 1
                    org = None
                else:
                    known.add(org)
            kept = self.minutes.setdefault((source, minute, org), [0] * 6)
            for i, value in enumerate(counts):
                kept[i] += value

    def organizations(self) -> set[str]:
        """The organizations tracked now."""
        return {org for (_, _, org) in self.minutes if org is not None}

    def parse_error(self, source: str, now: datetime, count: int = 1) -> None:
        self.add(source, {(epoch_minute(now), None): _error_counts(count)}, now)

    def prune(self, now: datetime, sources: Iterable[str]) -> None:
        low = epoch_minute(now) - KEEP_MINUTES
        wanted = set(sources)
        for key in [k for k in self.minutes if k[1] < low or k[0] not in wanted]:
            del self.minutes[key]
        for source in [s for s in self.totals if s not in wanted]:
            del self.totals[source]

    def buckets(self) -> list[LogBucket]:
        return [
            LogBucket(source, minute, org, *counts)
            for (source, minute, org), counts in sorted(
                self.minutes.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or "")
            )
        ]

    def total_buckets(self) -> list[LogBucket]:
        return [
            LogBucket(source, -1, None, *counts) for source, counts in sorted(self.totals.items())
        ]

    def end(self, now: datetime) -> int:
        """The first minute not yet complete: windows cover the minutes before it."""
        return epoch_minute(now - self.settle)

    def _totals(self, source: str) -> dict[str, int]:
        return dict(zip(_FIELDS, self.totals.get(source, [0] * 6), strict=True))

    def values(self, now: datetime, counting: frozenset[str] | None = None) -> dict[str, Any]:
        """Platform, per-organization and per-source rates over the windows.

        ``counting``: the sources whose requests (and their server errors and uploads)
        count for the platform and organizations; the others add only their error lines
        and parse errors there (None: every source counts). Each source's own rates
        are always its whole count.
        """
        end = self.end(now)
        platform: dict[int, Counts] = {w: [0] * 6 for w in WINDOWS}
        organizations: dict[str, dict[int, Counts]] = {}
        sources: dict[str, dict[int, Counts]] = {
            s: {w: [0] * 6 for w in WINDOWS} for s in self.totals
        }
        for (source, minute, org), counts in self.minutes.items():
            shared = counts if counting is None or source in counting else _not_requests(counts)
            for width in WINDOWS:
                if end - width <= minute < end:
                    _into(platform[width], shared)
                    _into(sources.setdefault(source, {w: [0] * 6 for w in WINDOWS})[width], counts)
                    if org is not None:
                        per_org = organizations.setdefault(org, {w: [0] * 6 for w in WINDOWS})
                        _into(per_org[width], shared)
        return {
            "window_end": (datetime.fromtimestamp(end * 60, now.tzinfo)).isoformat(),
            "platform": _rates(platform),
            "organizations": {org: _rates(c) for org, c in sorted(organizations.items())},
            "sources": {
                name: {
                    **_rates(c),
                    "totals": dict(zip(_FIELDS, self.totals.get(name, [0] * 6), strict=True)),
                }
                for name, c in sorted(sources.items())
            },
            "organizations_over_limit": self.organizations_over_limit,
        }


def _counts(b: LogBucket) -> Counts:
    return [
        b.requests,
        b.server_errors,
        b.error_lines,
        b.uploads,
        b.upload_failures,
        b.parse_errors,
    ]


def _error_counts(count: int) -> Counts:
    counts = [0] * 6
    counts[PARSE_ERRORS] = count
    return counts


def _not_requests(counts: Counts) -> Counts:
    """A source that does not count requests: its error lines and parse errors only."""
    kept = [0] * len(counts)
    kept[ERROR_LINES], kept[PARSE_ERRORS] = counts[ERROR_LINES], counts[PARSE_ERRORS]
    return kept


def _into(target: Counts, counts: Counts) -> None:
    for i, value in enumerate(counts):
        target[i] += value


def _rates(by_width: dict[int, Counts]) -> dict[str, Any]:
    return {f"{width}m": _window(counts, width) for width, counts in by_width.items()}


def _window(counts: Counts, width: int) -> dict[str, Any]:
    requests, server_errors, error_lines, uploads, failures, parse_errors = counts
    return {
        "requests_per_min": round(requests / width, 3),
        "server_errors_per_min": round(server_errors / width, 3),
        "error_lines_per_min": round(error_lines / width, 3),
        "requests": requests,
        "server_errors": server_errors,
        "error_lines": error_lines,
        "uploads": uploads,
        "upload_failures": failures,
        "upload_failure_rate": round(failures / uploads, 4) if uploads else None,
        "server_error_rate": round(server_errors / requests, 4) if requests else None,
        "parse_errors": parse_errors,
    }
