"""Config of the log-derived rates (``logs:``): which files, in which format, what an upload is.

The nginx ``log_format`` string is checked here only for what the parser
needs (a time variable and ``$status``); compiling it into a parser is the
business of ``calmopsd.sense.logs``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from calmopsd.config.section import NullIsEmpty, Section
from calmopsd.config.unique import repeats
from calmopsd.config.units import ConfigPath, Duration, Name, PositiveDuration
from calmopsd.typed import AfterValidator, CrossCheck, Field, Problems

NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
# What nginx.org's packages, the official Docker image, RHEL and Alpine ship as ``main``.
NGINX_MAIN = NGINX_COMBINED + ' "$http_x_forwarded_for"'
NAMED_FORMATS = {"combined": NGINX_COMBINED, "main": NGINX_MAIN}
TIME_VARIABLES = ("time_local", "time_iso8601", "msec")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_METHOD = re.compile(r"[A-Z]{1,16}")
_ROUTE = re.compile(r"/[\x21-\x7e]*")


def _a_route(route: str) -> str:
    if not _ROUTE.fullmatch(route):
        raise ValueError(f"routes must start with / and hold no spaces (got {route!r})")
    if any(char in route for char in "?[]"):
        # The bulk counter matches routes with * alone; fnmatch's ? and [...]
        # would make it disagree with the line-by-line count.
        raise ValueError(f"routes may use * as their only wildcard, not ?, [ or ] (got {route!r})")
    return route


def _a_method(method: str) -> str:
    if not _METHOD.fullmatch(method):
        raise ValueError(f"methods must be upper-case words like POST (got {method!r})")
    return method


Route = Annotated[str, AfterValidator(_a_route)]
Method = Annotated[str, AfterValidator(_a_method)]


def format_variables(log_format: str) -> list[str]:
    """The variable names in an nginx ``log_format`` string, in order."""
    return [braced or bare for braced, bare in _VARIABLE.findall(log_format)]


class UploadsConfig(Section):
    """Which requests are uploads, and which of them failed."""

    routes: list[Route] = Field(
        default_factory=lambda: ["/upload*", "/api/upload*"],
        description="Path patterns of upload requests (query string ignored); * matches "
        "any run of characters, including /, and is the only wildcard.",
    )
    methods: list[Method] = Field(
        default_factory=lambda: ["POST", "PUT"], description="HTTP methods of upload requests."
    )
    failure_statuses: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: [408, 413, 499],
        description="Statuses below 500 that also count an upload as failed "
        "(every status of 500 or more does).",
    )


class NginxJsonFieldsConfig(Section):
    """Keys of a JSON access log (nginx ``escape=json``)."""

    time: str = Field(
        default="time",
        min_length=1,
        description="Key holding $time_iso8601, $time_local or $msec.",
    )
    status: str = Field(default="status", min_length=1, description="Key holding $status.")
    request: str = Field(
        default="request",
        min_length=1,
        description='Key holding $request, the request line "METHOD /path HTTP/1.1".',
    )


class NginxSourceConfig(Section):
    """One nginx access log (or a set of them, by glob)."""

    name: Name = Field(description="Short name used in readings.")
    paths: list[ConfigPath] = Field(
        min_length=1, description="Files to read; glob patterns are expanded every round."
    )
    format: str = Field(
        default="combined",
        min_length=1,
        description="combined (also read as the start of a longer line: text after its "
        'last field is ignored), main (combined plus "$http_x_forwarded_for"), json '
        "(escape=json, keys below), or the log_format string itself. Where nginx can be "
        "asked (nginx -T), a source left at combined is read in the log_format nginx "
        "really writes its paths in.",
    )
    organization: str = Field(
        default="",
        description="The variable (log_format) or key (json) holding the organization id; "
        "empty: lines carry none.",
    )
    fields: Annotated[NginxJsonFieldsConfig, NullIsEmpty] = Field(
        default_factory=NginxJsonFieldsConfig,
        description="Keys of a json access log (format: json only).",
    )
    counts_requests: bool | None = Field(
        default=None,
        description="Whether its request lines count toward the platform's and each "
        "organization's requests, server errors and uploads. Unset: an nginx log counts; "
        "an app log counts only when no nginx log is configured (both would see the same "
        "requests). Its error lines always count.",
    )

    def _format_is_usable(self) -> None:
        if self.format in ("combined", "main", "json"):
            if self.organization and self.format != "json":
                raise ValueError(f"organization ${self.organization} is not in the format")
            return
        names = format_variables(self.format)
        if not any(name in TIME_VARIABLES for name in names):
            raise ValueError("format must hold $time_local, $time_iso8601 or $msec")
        if "status" not in names:
            raise ValueError("format must hold $status")
        if self.organization and self.organization.removeprefix("$") not in names:
            raise ValueError(f"organization ${self.organization} is not in the format")

    cross_checks = (CrossCheck(("format", "organization"), _format_is_usable),)


class AppFieldsConfig(Section):
    """Keys of a JSON-lines application log; a dotted key reaches into an object."""

    time: str = Field(
        default="time",
        min_length=1,
        description="Key of the timestamp: ISO-8601 text, or epoch seconds or milliseconds.",
    )
    level: str = Field(default="level", description="Key of the level; empty: none.")
    status: str = Field(
        default="status", description="Key of the HTTP status of a request line; empty: none."
    )
    method: str = Field(default="method", description="Key of the HTTP method; empty: none.")
    route: str = Field(default="url", description="Key of the request path; empty: none.")
    organization: str = Field(
        default="", description="Key of the organization id; empty: lines carry none."
    )
    request_id: str = Field(
        default="",
        description="Key of the request id joining a request's lines (Fastify: reqId, whose "
        "incoming request line holds req.method and req.url and whose request completed "
        "line holds res.statusCode); empty: each request is one line.",
    )


class AppSourceConfig(Section):
    """One JSON-lines application log (or a set of them, by glob)."""

    name: Name = Field(description="Short name used in readings.")
    paths: list[ConfigPath] = Field(
        min_length=1, description="Files to read; glob patterns are expanded every round."
    )
    fields: Annotated[AppFieldsConfig, NullIsEmpty] = Field(
        default_factory=AppFieldsConfig, description="Where each value is in a line."
    )
    error_levels: list[str | int] = Field(
        default_factory=lambda: list[str | int](["error", "fatal", 50, 60]),
        description="Level values that make a line an error line (text or pino's numbers).",
    )
    counts_requests: bool | None = Field(
        default=None,
        description="Whether its request lines count toward the platform's and each "
        "organization's requests, server errors and uploads. Unset: an nginx log counts; "
        "an app log counts only when no nginx log is configured (both would see the same "
        "requests). Its error lines always count.",
    )


class LogsConfig(Section):
    """Rates read from nginx access logs and JSON application logs."""

    enabled: bool = Field(default=True, description="Read the logs.")
    interval: PositiveDuration = Field(
        default=timedelta(seconds=15), description="Time between rounds."
    )
    start_at: Literal["end", "beginning"] = Field(
        default="end",
        description="Where a source never read before starts: end (only new lines) or beginning.",
    )
    settle: Duration = Field(
        default=timedelta(seconds=10),
        description="A minute joins the windows this long after it ends, so lines that "
        "nginx buffers or writes late are in.",
    )
    max_line_length: int = Field(
        default=65536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Longer lines are skipped and counted as parse errors (bytes).",
    )
    max_read_per_round: int = Field(
        default=256,
        ge=1,
        description="At most this many MiB are read per file per round; a backlog is "
        "caught up over several rounds. Must hold two lines of max_line_length.",
    )
    max_organizations: int = Field(
        default=1000,
        ge=1,
        description="Organizations tracked at once; lines of further ones count for the "
        "platform only.",
    )
    uploads: Annotated[UploadsConfig, NullIsEmpty] = Field(
        default_factory=UploadsConfig, description="Which requests are uploads."
    )
    nginx: list[NginxSourceConfig] = Field(
        default_factory=list, description="nginx access logs (none by default)."
    )
    apps: list[AppSourceConfig] = Field(
        default_factory=list, description="JSON-lines application logs (none by default)."
    )

    def counting(self) -> frozenset[str]:
        """The sources whose request lines count for the platform and organizations."""
        default_apps = not self.nginx
        counted = {s.name for s in self.nginx if s.counts_requests is not False}
        counted |= {
            s.name
            for s in self.apps
            if s.counts_requests or (s.counts_requests is None and default_apps)
        }
        return frozenset(counted)

    def overlaps(self) -> list[str]:
        """Warnings about sources that would count the same requests twice."""
        counted = sorted(self.counting())
        nginx = [n for n in counted if n in {s.name for s in self.nginx}]
        apps = [n for n in counted if n not in nginx]
        if nginx and apps:
            return [
                f"logs: requests are counted from nginx ({', '.join(nginx)}) and from app "
                f"logs ({', '.join(apps)}); if they see the same requests the platform counts "
                "each twice: set counts_requests: false on one side"
            ]
        if len(nginx) > 1:
            return [
                f"logs: requests are counted from {len(nginx)} nginx logs "
                f"({', '.join(nginx)}); if one request is logged in both, it counts twice"
            ]
        return []

    def _a_line_fits_in_a_round(self) -> None:
        # Otherwise a line longer than one round's read never ends and the file stalls.
        if self.max_read_per_round * 1024 * 1024 < 2 * self.max_line_length:
            raise ValueError(
                "max_read_per_round (MiB) must hold at least two max_line_length lines "
                f"(max_read_per_round {self.max_read_per_round} MiB < 2 x max_line_length "
                f"{self.max_line_length} bytes)"
            )

    def _names_are_unique(self) -> None:
        places = [("nginx", i) for i in range(len(self.nginx))]
        places += [("apps", i) for i in range(len(self.apps))]
        sources: list[NginxSourceConfig | AppSourceConfig] = [*self.nginx, *self.apps]
        found = repeats(enumerate(source.name for source in sources))
        if found:
            raise Problems(
                [((*places[index], "name"), f"source names must be unique ({name!r} is also "
                  f"logs.{places[first][0]}[{places[first][1]}]'s)")
                 for index, name, first in found]
            )  # fmt: skip

    cross_checks = (
        CrossCheck(("max_read_per_round", "max_line_length"), _a_line_fits_in_a_round),
        CrossCheck(("nginx", "apps"), _names_are_unique),
    )
