"""The ``logs`` reading's values (:mod:`calmopsd.sense.logs`): windowed rates per
platform, organization and source."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from calmopsd.shapes.fields import (
    by_name,
    integer,
    mapping,
    number,
    optional_number,
    text,
    texts,
)


@dataclass(frozen=True, slots=True)
class Rates:
    """One window: per-minute rates and the raw counts behind them.

    ``upload_failure_rate`` is None without uploads: read it with ``uploads``, the volume;
    ``server_error_rate`` (the share of requests answered 5xx) is None without requests.
    """

    requests_per_min: float = 0.0
    server_errors_per_min: float = 0.0
    error_lines_per_min: float = 0.0
    requests: int = 0
    server_errors: int = 0
    error_lines: int = 0
    uploads: int = 0
    upload_failures: int = 0
    upload_failure_rate: float | None = None
    server_error_rate: float | None = None
    parse_errors: int = 0

    def figure(self, name: str) -> float:
        """The figure a configured metric names (``server_errors``); 0 for none or unknown."""
        return number(self.to_values().get(name))

    def less(self, other: Rates, minutes: int) -> Rates:
        """This window without ``other``'s counts (an organization's part of the
        platform), its per-minute and share figures worked out again over ``minutes``."""
        requests = max(self.requests - other.requests, 0)
        server_errors = max(self.server_errors - other.server_errors, 0)
        error_lines = max(self.error_lines - other.error_lines, 0)
        uploads = max(self.uploads - other.uploads, 0)
        failures = max(self.upload_failures - other.upload_failures, 0)
        return Rates(
            requests_per_min=round(requests / minutes, 3),
            server_errors_per_min=round(server_errors / minutes, 3),
            error_lines_per_min=round(error_lines / minutes, 3),
            requests=requests,
            server_errors=server_errors,
            error_lines=error_lines,
            uploads=uploads,
            upload_failures=failures,
            upload_failure_rate=round(failures / uploads, 4) if uploads else None,
            server_error_rate=round(server_errors / requests, 4) if requests else None,
            parse_errors=max(self.parse_errors - other.parse_errors, 0),
        )

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            requests_per_min=number(v.get("requests_per_min")),
            server_errors_per_min=number(v.get("server_errors_per_min")),
            error_lines_per_min=number(v.get("error_lines_per_min")),
            requests=integer(v.get("requests")),
            server_errors=integer(v.get("server_errors")),
            error_lines=integer(v.get("error_lines")),
            uploads=integer(v.get("uploads")),
            upload_failures=integer(v.get("upload_failures")),
            upload_failure_rate=optional_number(v.get("upload_failure_rate")),
            server_error_rate=optional_number(v.get("server_error_rate")),
            parse_errors=integer(v.get("parse_errors")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "requests_per_min": self.requests_per_min,
            "server_errors_per_min": self.server_errors_per_min,
            "error_lines_per_min": self.error_lines_per_min,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "error_lines": self.error_lines,
            "uploads": self.uploads,
            "upload_failures": self.upload_failures,
            "upload_failure_rate": self.upload_failure_rate,
            "server_error_rate": self.server_error_rate,
            "parse_errors": self.parse_errors,
        }


@dataclass(frozen=True, slots=True)
class Windows:
    """The last complete minute (``1m``) and the five minutes up to it (``5m``)."""

    one_minute: Rates = Rates()
    five_minutes: Rates = Rates()

    def window(self, name: str) -> Rates | None:
        """The window a configured metric names (``1m``, ``5m``), if there is one."""
        return {"1m": self.one_minute, "5m": self.five_minutes}.get(name)

    def less(self, other: Windows) -> Windows:
        """Both windows without ``other``'s counts."""
        return Windows(
            self.one_minute.less(other.one_minute, 1),
            self.five_minutes.less(other.five_minutes, 5),
        )

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(Rates.parse(v.get("1m")), Rates.parse(v.get("5m")))

    def to_values(self) -> dict[str, Any]:
        return {"1m": self.one_minute.to_values(), "5m": self.five_minutes.to_values()}


@dataclass(frozen=True, slots=True)
class Totals:
    """A source's counts since it was first read."""

    requests: int = 0
    server_errors: int = 0
    error_lines: int = 0
    uploads: int = 0
    upload_failures: int = 0
    parse_errors: int = 0

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            requests=integer(v.get("requests")),
            server_errors=integer(v.get("server_errors")),
            error_lines=integer(v.get("error_lines")),
            uploads=integer(v.get("uploads")),
            upload_failures=integer(v.get("upload_failures")),
            parse_errors=integer(v.get("parse_errors")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "server_errors": self.server_errors,
            "error_lines": self.error_lines,
            "uploads": self.uploads,
            "upload_failures": self.upload_failures,
            "parse_errors": self.parse_errors,
        }


@dataclass(frozen=True, slots=True)
class SourceRates:
    """One configured source: its windows, its totals, the files it matched, and the paths
    it matched that are not log files (``problems``: ``PATH is a FIFO, not a log file``)."""

    windows: Windows = Windows()
    totals: Totals = Totals()
    kind: str | None = None  # "nginx" or "app"
    files: tuple[str, ...] = ()
    truncations: int = 0
    behind_bytes: int = 0  # written to its files and not read yet, after the round
    behind_seconds: float = 0.0  # how long it has been behind
    problems: tuple[str, ...] = ()
    unparsable: bool = False  # most new lines malformed, or not one JSON line in an app log

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            windows=Windows.parse(v),
            totals=Totals.parse(v.get("totals")),
            kind=text(v.get("kind")),
            files=texts(v.get("files")),
            truncations=integer(v.get("truncations")),
            behind_bytes=integer(v.get("behind_bytes")),
            behind_seconds=number(v.get("behind_seconds")),
            problems=texts(v.get("problems")),
            unparsable=v.get("unparsable") is True,
        )

    def to_values(self) -> dict[str, Any]:
        return {
            **self.windows.to_values(),
            "totals": self.totals.to_values(),
            "kind": self.kind,
            "files": list(self.files),
            "truncations": self.truncations,
            "problems": list(self.problems),
            "unparsable": self.unparsable,
            "behind_bytes": self.behind_bytes,
            "behind_seconds": self.behind_seconds,
        }


@dataclass(frozen=True, slots=True)
class LogsValues:
    """Rates for the platform (every line), per organization (lines naming one) and per
    source. No source at all means logs are not watched: zero is then unknown, not calm."""

    window_end: str | None = None  # ISO-8601: the windows end at the start of this minute
    platform: Windows = Windows()
    organizations: Mapping[str, Windows] = field(default_factory=dict)
    sources: Mapping[str, SourceRates] = field(default_factory=dict)
    organizations_over_limit: int = 0  # lines of organizations past max_organizations

    def without(self, organizations: Iterable[str]) -> LogsValues:
        """The platform as it would read without these organizations' traffic: what is
        left of a platform-wide rate once the organizations behind it are taken out."""
        left = set(organizations)
        platform = self.platform
        for organization in sorted(left & set(self.organizations)):
            platform = platform.less(self.organizations[organization])
        return replace(
            self,
            platform=platform,
            organizations={o: w for o, w in self.organizations.items() if o not in left},
        )

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            window_end=text(v.get("window_end")),
            platform=Windows.parse(v.get("platform")),
            organizations=by_name(v.get("organizations"), Windows.parse),
            sources=by_name(v.get("sources"), SourceRates.parse),
            organizations_over_limit=integer(v.get("organizations_over_limit")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "window_end": self.window_end,
            "platform": self.platform.to_values(),
            "organizations": {o: w.to_values() for o, w in self.organizations.items()},
            "sources": {s: r.to_values() for s, r in self.sources.items()},
            "organizations_over_limit": self.organizations_over_limit,
        }
