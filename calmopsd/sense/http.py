"""HTTP health checks: up or down, status, latency, and why it failed.

Failure kinds are a closed set so detection can classify without parsing
messages: ``timeout``, ``connection_refused``, ``dns``, ``tls``,
``connection_error``, ``unexpected_status``, ``body_check_failed``. A JSON
body check that finds ``{"db": "down"}`` where ``{"db": "ok"}`` was expected
names ``db`` under ``failed_dependencies``: the app is up, a dependency is not.
"""

from __future__ import annotations

import errno
import json
import time
from typing import Any

import requests

from calmopsd.config.sensing import HttpCheckConfig, HttpSamplerConfig

BODY_LIMIT = 64 * 1024  # bytes of a health body read for the JSON check


class HttpSampler:
    name = "http"

    def __init__(self, config: HttpSamplerConfig):
        self.checks = list(config.checks)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies from the environment for loopback checks

    @property
    def timeout_s(self) -> float:
        """The longest one round can take: the checks run one after another."""
        return sum(c.timeout.total_seconds() for c in self.checks) + 1.0

    def sample(self) -> dict[str, Any]:
        return {"checks": {check.name: self.check(check) for check in self.checks}}

    def check(self, check: HttpCheckConfig) -> dict[str, Any]:
        began = time.monotonic()
        try:
            response = self.session.get(
                check.url, timeout=check.timeout.total_seconds(), allow_redirects=False, stream=True
            )
            body = response.raw.read(BODY_LIMIT, decode_content=True) if check.body else b""
            response.close()
        except requests.RequestException as exc:
            return _down(began, None, failure_kind(exc), str(exc))
        if response.status_code != check.expected_status:
            detail = f"expected {check.expected_status}, got {response.status_code}"
            return _down(began, response.status_code, "unexpected_status", detail)
        failed = failed_dependencies(body, check.body)
        if failed:
            detail = "body check failed: " + ", ".join(failed)
            return _down(began, response.status_code, "body_check_failed", detail, failed)
        return {
            "up": True,
            "status": response.status_code,
            "latency_ms": _ms(began),
            "failure": None,
            "detail": None,
            "failed_dependencies": [],
        }


def failure_kind(exc: requests.RequestException) -> str:
    """Name why a request failed, from the exception and the OS error beneath it."""
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    cause: BaseException | None = exc
    while cause is not None:
        if (
            isinstance(cause, ConnectionRefusedError)
            or getattr(cause, "errno", None) == errno.ECONNREFUSED
        ):
            return "connection_refused"
        if "NameResolutionError" in type(cause).__name__ or "gaierror" in type(cause).__name__:
            return "dns"
        cause = cause.__cause__ or cause.__context__ or _reason(cause)
    return "connection_error"


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
