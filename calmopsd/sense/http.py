"""HTTP health checks: up or down, status, latency, and why it failed.

Failure kinds are a closed set so detection can classify without parsing
messages: ``timeout``, ``connection_refused``, ``dns``, ``tls``,
``connection_error``, ``unexpected_status``, ``body_check_failed``. A JSON
body check that finds ``{"db": "down"}`` where ``{"db": "ok"}`` was expected
names ``db`` under ``failed_dependencies``: the app is up, a dependency is not.

A health URL may carry a token in its query or credentials in its userinfo, and
readings are stored, logged and printed: ``detail`` names only the failure
kind, ``scheme://host:port`` and the operating system's error text, never the
URL's path, query or userinfo (the library's own messages quote them).

Requests go through urllib3 itself, as requests sent them (requests brought 3.7 MiB of
resident memory for nothing else: docs/decisions.md, "Daemon memory, third pass"):
certifi's CA bundle with certificates required, no retries, no redirects followed, no
proxies from the environment, ``Accept-Encoding`` as requests offered it, userinfo as
basic auth in latin-1, the body decoded; the connection closed after each check.
"""

from __future__ import annotations

import errno
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import urllib3
from urllib3.exceptions import NewConnectionError
from urllib3.util import make_headers

from calmopsd import __version__
from calmopsd.config.sensing import HttpCheckConfig, HttpSamplerConfig
from calmopsd.sense.fanout import each_at_once, round_bound

BODY_LIMIT = 64 * 1024  # bytes of a health body read for the JSON check
# What a request or the reading of its body can raise: urllib3's errors (with retries off,
# the error itself: a refused connection, a timeout, TLS, a bad URL, a broken connection,
# a bad encoding), and what it lets through of http.client's and the OS's.
_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError)
_HEADERS = {
    **make_headers(accept_encoding=True, user_agent=f"calmopsd/{__version__}"),
    "Accept": "*/*",
    "Connection": "keep-alive",
}


class HttpSampler:
    name = "http"

    def __init__(self, config: HttpSamplerConfig):
        self.checks = list(config.checks)
        # A pool per check; each is used by one thread at a time.
        self.pools = {check.name: _pool() for check in self.checks}

    @property
    def timeout_s(self) -> float:
        """The longest one round can take; the checks run at once."""
        return round_bound([c.timeout.total_seconds() for c in self.checks])

    def sample(self) -> dict[str, Any]:
        results = each_at_once(self.checks, self.check)
        return {"checks": {c.name: r for c, r in zip(self.checks, results, strict=True)}}

    def check(self, check: HttpCheckConfig) -> dict[str, Any]:
        """One check's result, and whether its URL goes through nginx (which tells the
        agent whether reloading nginx can help when it fails)."""
        return {**self._get(check), "via_nginx": check.via_nginx}

    def _get(self, check: HttpCheckConfig) -> dict[str, Any]:
        began = time.monotonic()
        headers = _headers(check.url)
        seconds = check.timeout.total_seconds()
        try:
            response = self.pools[check.name].request(
                "GET",
                check.url,
                headers=headers,
                timeout=urllib3.Timeout(connect=seconds, read=seconds),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except _ERRORS as exc:
            kind = failure_kind(exc)
            return _down(began, None, kind, failure_detail(kind, check, exc))
        try:
            body = response.read(BODY_LIMIT, decode_content=True) if check.body else b""
        except _ERRORS as exc:
            kind = "timeout" if _timed_out(exc) else "connection_error"
            return _down(began, response.status, kind, failure_detail(kind, check, exc))
        finally:
            response.close()
            response.release_conn()
        return _judge(began, check, response.status, body)


def _judge(began: float, check: HttpCheckConfig, status: int, body: bytes) -> dict[str, Any]:
    """The result of a check that got an answer: its status, then its body."""
    if status != check.expected_status:
        detail = f"expected {check.expected_status}, got {status}"
        return _down(began, status, "unexpected_status", detail)
    failed = failed_dependencies(body, check.body)
    if failed:
        detail = "body check failed: " + ", ".join(failed)
        return _down(began, status, "body_check_failed", detail, failed)
    return {
        "up": True,
        "status": status,
        "latency_ms": _ms(began),
        "failure": None,
        "detail": None,
        "failed_dependencies": [],
    }


def failure_detail(kind: str, check: HttpCheckConfig, exc: BaseException) -> str:
    """``kind: scheme://host:port: OS error text`` — nothing of the URL's path, query or userinfo.

    The libraries' messages quote the whole URL, so they are never used; only
    the text of an operating-system error beneath them is.
    """
    detail = f"{kind}: {check.origin}"
    reason = os_error_text(exc)
    return f"{detail}: {reason}" if reason else detail


def os_error_text(exc: BaseException) -> str | None:
    """The message of the first OS error in ``exc``'s chain, or None.

    urllib3's exceptions (which quote the URL) are not OSErrors; the OS's beneath are.
    """
    for cause in _chain(exc):
        if isinstance(cause, OSError):
            return cause.strerror or str(cause) or None
    return None


def _timed_out(exc: BaseException) -> bool:
    return any(
        isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError) for cause in _chain(exc)
    )


def _pool() -> urllib3.PoolManager:
    """No proxies (a PoolManager reads none from the environment), no retries, at most one
    connection per host; certificates checked against certifi's bundle, as requests did."""
    return urllib3.PoolManager(
        num_pools=4, maxsize=1, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where()
    )


def _headers(url: str) -> dict[str, str]:
    """requests' headers, with the URL's userinfo as basic auth (percent-decoded)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return _HEADERS
    userinfo = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return {**_HEADERS, **make_headers(basic_auth=userinfo)}


def failure_kind(exc: BaseException) -> str:
    """Name why a request failed, from the exception and the OS error beneath it.

    A NewConnectionError is a ConnectTimeoutError by class (urllib3 keeps it so for old
    callers) but not a timeout, and requests did not count it as one."""
    if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(exc, NewConnectionError):
        return "timeout"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "tls"
    for cause in _chain(exc):
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return "connection_refused"
        if "NameResolutionError" in type(cause).__name__ or "gaierror" in type(cause).__name__:
            return "dns"
    return "connection_error"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps, outermost first; each exception once."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__ or _reason(cause)


def _reason(exc: BaseException) -> BaseException | None:
    """urllib3 wraps the OS error in ``reason`` or ``args[0]`` as well as ``__cause__``."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, BaseException) else None


def failed_dependencies(body: bytes, expected: dict[str, Any]) -> list[str]:
    """Keys of ``expected`` that the JSON ``body`` lacks or holds another value for."""
    if not expected:
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return sorted(expected)
    if not isinstance(document, dict):
        return sorted(expected)
    return sorted(key for key, want in expected.items() if document.get(key) != want)


def _down(
    began: float, status: int | None, failure: str, detail: str, failed: list[str] | None = None
) -> dict[str, Any]:
    return {
        "up": False,
        "status": status,
        "latency_ms": _ms(began),
        "failure": failure,
        "detail": detail[:300],
        "failed_dependencies": failed or [],
    }


def _ms(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 2)
