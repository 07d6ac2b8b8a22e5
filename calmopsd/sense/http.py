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
"""

from __future__ import annotations

import errno
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import requests
import urllib3.exceptions

from calmopsd.config.sensing import HttpCheckConfig, HttpSamplerConfig
from calmopsd.sense.fanout import each_at_once, round_bound

BODY_LIMIT = 64 * 1024  # bytes of a health body read for the JSON check
# What reading a streamed body can raise: urllib3's errors (read timeout, broken
# connection, bad encoding) are not requests' RequestException.
_READ_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class HttpSampler:
    name = "http"

    def __init__(self, config: HttpSamplerConfig):
        self.checks = list(config.checks)
        # A session per check (keep-alive across rounds); each is used by one thread at a time.
        self.sessions = {check.name: _session() for check in self.checks}

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
        try:
            response = self.sessions[check.name].get(
                check.url, timeout=check.timeout.total_seconds(), allow_redirects=False, stream=True
            )
        except requests.RequestException as exc:
            kind = failure_kind(exc)
            return _down(began, None, kind, failure_detail(kind, check, exc))
        try:
            body = response.raw.read(BODY_LIMIT, decode_content=True) if check.body else b""
        except _READ_ERRORS as exc:
            # Reading the body is urllib3's, past requests' translation of errors.
            kind = "timeout" if _timed_out(exc) else "connection_error"
            return _down(began, response.status_code, kind, failure_detail(kind, check, exc))
        finally:
            response.close()
        return _judge(began, check, response.status_code, body)


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

    requests' own exceptions are OSErrors too (``IOError``) and quote the URL,
    so they are passed over.
    """
    for cause in _chain(exc):
        if isinstance(cause, OSError) and not isinstance(cause, requests.RequestException):
            return cause.strerror or str(cause) or None
    return None


def _timed_out(exc: BaseException) -> bool:
    return any(
        isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError) for cause in _chain(exc)
    )


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment for loopback checks
    return session


def failure_kind(exc: requests.RequestException) -> str:
    """Name why a request failed, from the exception and the OS error beneath it."""
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
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
    """urllib3 wraps the OS error in ``reason`` and requests wraps that in ``args[0]``."""
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
