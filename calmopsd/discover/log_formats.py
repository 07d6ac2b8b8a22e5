"""From nginx's ``access_log``/``log_format`` to calmopsd's ``logs.nginx`` sources.

calmopsd reads ``combined``, any ``log_format`` string holding a time
variable (``$time_local``, ``$time_iso8601``, ``$msec``) and ``$status``, and
``escape=json`` formats whose keys hold those (``format: json`` with
``fields``). A format it cannot read is still written, commented out, with
the reason, so the operator sees what was found. Access logs are grouped by
format: one source per format, all its files under ``paths``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from calmopsd.config.logs import NGINX_COMBINED, TIME_VARIABLES, NginxSourceConfig
from calmopsd.discover.findings import AccessLog, LogFormat
from calmopsd.typed import ValidationError

_JSON_PAIR = re.compile(r'"([^"\\]+)"\s*:\s*"?\$\{?(\w+)\}?"?\s*(?=[,}])')
_ORGANIZATION = re.compile(r"(?:^|_)(?:org|organi[sz]ation|tenant)(?:_?id)?$")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_JSON_DEFAULTS = {"time": "time", "status": "status", "request": "request"}


@dataclass(frozen=True)
class LogSource:
    """One ``logs.nginx`` entry to write; ``unreadable`` says why it is written commented out."""

    name: str
    paths: tuple[str, ...]
    format: str
    fields: dict[str, str] = field(default_factory=dict)
    organization: str = ""
    why: tuple[str, ...] = ()
    unreadable: str | None = None


def sources(logs: tuple[AccessLog, ...], formats: dict[str, LogFormat]) -> list[LogSource]:
    """One source per format the access logs use, in the order they were found."""
    by_format: dict[str, list[AccessLog]] = {}
    for log in logs:
        by_format.setdefault(log.format_name, []).append(log)
    named = len(by_format) > 1
    return [
        _source(_name(fmt, named), group, formats.get(fmt), fmt) for fmt, group in by_format.items()
    ]


def _name(format_name: str, named: bool) -> str:
    if not named:
        return "nginx"
    return ("nginx-" + _NOT_IN_NAME.sub("-", format_name).strip("-"))[:64]


def _source(
    name: str, group: list[AccessLog], defined: LogFormat | None, format_name: str
) -> LogSource:
    paths = tuple(dict.fromkeys(log.path for log in group))
    why = tuple(log.why for log in group)
    if format_name == "combined":
        return LogSource(name, paths, "combined", why=why)
    if defined is None:
        reason = f"log_format {format_name} is not defined in the config that was read"
        return LogSource(name, paths, format_name, why=why, unreadable=reason)
    escape = ", escape=json" if defined.escape == "json" else ""
    why += (f"log_format {format_name}{escape} ({defined.where})",)
    if defined.escape == "json":
        return _json_source(name, paths, defined, why)
    text = "combined" if defined.text == NGINX_COMBINED else defined.text
    variables = [v.strip("{}") for v in re.findall(r"\$(\{\w+\}|\w+)", defined.text)]
    organization = next((v for v in variables if _ORGANIZATION.search(v)), "")
    source = LogSource(name, paths, text, organization=organization, why=why)
    return _checked(source)


def _json_source(
    name: str, paths: tuple[str, ...], defined: LogFormat, why: tuple[str, ...]
) -> LogSource:
    keys = {variable: key for key, variable in reversed(_JSON_PAIR.findall(defined.text))}
    time = next((keys[v] for v in TIME_VARIABLES if v in keys), None)
    wanted = {"time": time, "status": keys.get("status"), "request": keys.get("request")}
    missing = [
        "$time_iso8601, $time_local or $msec" if k == "time" else f"${k}"
        for k in ("time", "status")
        if wanted[k] is None
    ]
    if missing:
        reason = f"its JSON has no key holding {' or '.join(missing)}"
        return LogSource(name, paths, "json", why=why, unreadable=reason)
    if wanted["request"] is None:
        why += ("no key holds $request, so no request here counts as an upload",)
    fields = {k: v for k, v in wanted.items() if v is not None and v != _JSON_DEFAULTS[k]}
    organization = next((key for var, key in keys.items() if _ORGANIZATION.search(var)), "")
    return _checked(LogSource(name, paths, "json", fields, organization, why))


def _checked(source: LogSource) -> LogSource:
    """The source as the config's own model judges it; unreadable, with its reason, if refused."""
    try:
        NginxSourceConfig.model_validate(
            {
                "name": source.name,
                "paths": list(source.paths),
                "format": source.format,
                "organization": source.organization,
                "fields": source.fields,
            }
        )
    except ValidationError as exc:
        reason = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return LogSource(
            source.name, source.paths, source.format, source.fields, "", source.why, reason
        )
    return source


def matching(paths: list[str], found: list[LogSource]) -> LogSource | None:
    """The readable source ``found`` that nginx writes one of ``paths`` in, if any: the same
    path, or a path its ``access_log`` glob matches (``/var/log/nginx/*.log``)."""
    for source in found:
        if source.unreadable is not None:
            continue
        for path in paths:
            if any(path == p or fnmatch.fnmatchcase(path, p) for p in source.paths):
                return source
    return None
