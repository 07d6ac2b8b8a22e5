"""Alertmanager's v2 API from calmopsd's side: where alerts go, and how one post goes.

A post is ``POST {url}/api/v2/alerts`` with a JSON list of alerts; any 2xx is taken.
Alertmanager validates the whole list and refuses all of it (400) if one alert is
wrong, so :mod:`calmopsd.fleet.alerts` never builds one that ends before it starts.

The URL may carry basic-auth credentials (``http://user:password@host:9093``):
``requests`` sends them, and nothing here ever shows them — :func:`redact` is the only
form of the URL a log line gets, and a failure's reason is scrubbed of them too.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from calmopsd.config.alertmanager import AlertmanagerConfig
from calmopsd.fleet.alerts import Alert

if TYPE_CHECKING:
    import requests  # imported by the first post: a daemon that forwards nothing never holds it

REASON_CHARS = 300  # of a failure's reason or Alertmanager's answer, in a log line


@dataclass(frozen=True)
class Settings:
    """Where and how often: the ``alertmanager:`` section with its defaults filled in."""

    url: str
    interval: timedelta
    host: str
    timeout: timedelta

    @classmethod
    def of(cls, config: AlertmanagerConfig, hostname: str | None = None) -> Settings | None:
        """The settings, or None when no ``url`` is set (incidents are not forwarded)."""
        if config.url is None:
            return None
        return cls(
            url=str(config.url),
            interval=config.interval,
            host=config.host or hostname or socket.gethostname(),
            timeout=config.timeout,
        )

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/api/v2/alerts"

    @property
    def shown(self) -> str:
        """The URL as a log line may show it."""
        return redact(self.url)

    @property
    def lifetime(self) -> timedelta:
        """How long a posted firing alert lasts unless posted again: four intervals, so
        a round or two lost on the way does not end it, and a stopped calmopsd's ends."""
        return 4 * self.interval


class PostFailed(Exception):
    """A post that Alertmanager did not take; ``reason`` is safe to log."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def post(session: requests.Session, settings: Settings, alerts: Sequence[Alert]) -> None:
    """Post ``alerts`` in one request; :class:`PostFailed` unless Alertmanager answers 2xx."""
    import requests

    body = [alert.payload() for alert in alerts]
    try:
        response = session.post(
            settings.endpoint, json=body, timeout=settings.timeout.total_seconds()
        )
    except requests.RequestException as exc:
        raise PostFailed(scrub(f"{type(exc).__name__}: {exc}", settings.url)) from None
    if not 200 <= response.status_code < 300:
        said = scrub(f"HTTP {response.status_code}: {response.text.strip()}", settings.url)
        raise PostFailed(said, status=response.status_code)


def redact(url: str) -> str:
    """``url`` without its user and password, query and fragment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub(text: str, url: str) -> str:
    """``text`` cut to :data:`REASON_CHARS`, with the URL's credentials and query (as
    written and decoded) taken out wherever they appear."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    for secret in (userinfo, parts.password, parts.query):
        if secret:
            for form in {secret, unquote(secret)}:
                text = text.replace(form, "***")
    return text[:REASON_CHARS]
