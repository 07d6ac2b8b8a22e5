"""Delivering one notice: the ``Sender`` seam and the real one, through apprise.

apprise knows ~100 services by URL (mail over SMTP, Slack, Teams, Telegram, generic
JSON webhooks), so calmopsd writes no sender of its own. A URL holds secrets, so
what a failure says is apprise's own reason with every part of the URL that could be
one taken out. JSON, form and XML webhooks also get the notice's key as an
``Idempotency-Key`` header: a receiver can drop the one repeat a crash between
sending and recording can cause.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from calmopsd.config.notify import quiet_apprise

_KEYED_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
_SHORTEST_SECRET = 4


@dataclass(frozen=True)
class Delivery:
    """One try: delivered, or why not (free of the URL's secrets)."""

    ok: bool
    reason: str | None = None


class Sender(Protocol):
    def send(self, url: str, *, title: str, body: str, key: str) -> Delivery: ...


class AppriseSender:
    """Sends through apprise, synchronously, one notice at a time."""

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s

    def send(self, url: str, *, title: str, body: str, key: str) -> Delivery:
        import apprise  # only once a notice is due: its plugins cost memory

        quiet_apprise()
        # No persistent store: apprise would write a cache under $HOME, which the
        # hardened unit does not have.
        sender = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        if not sender.add(keyed(url, key)):
            return Delivery(False, "apprise could not use the target's URL")
        said: list[str] = []

        def heard(entry: Any, _plugin: Any) -> None:
            level = entry.level  # a name ("WARNING") in apprise 2, a number before
            number = logging.getLevelName(level) if isinstance(level, str) else level
            if isinstance(number, int) and number >= logging.WARNING:
                said.append(str(entry.message))

        try:
            result = sender.notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=self.timeout_s,
                log_callback=heard,
            )
        except Exception as exc:  # a plugin's own failure is this try's, not the daemon's
            return Delivery(False, scrubbed(f"{type(exc).__name__}: {exc}", url))
        if bool(result):
            return Delivery(True)
        return Delivery(False, scrubbed("; ".join(said) or "apprise reported a failure", url))


def keyed(url: str, key: str) -> str:
    """``url`` with the notice's key as an ``Idempotency-Key`` header, where apprise sends
    headers (its ``+Header=value`` arguments of JSON, form and XML webhooks)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _KEYED_SCHEMES:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}+Idempotency-Key={key}"


def secrets_of(url: str) -> list[str]:
    """The parts of ``url`` that may be secret, longest first: the whole, its user,
    password and host (several services put their token where a host would be), its path
    segments and query values, each as written and decoded."""
    parts = urlsplit(url)
    found = {url, parts.netloc, parts.query}
    found.update(p for p in (parts.username, parts.password, parts.hostname) if p)
    for segment in parts.path.split("/"):
        found.update((segment, unquote(segment)))
    for value in parts.query.split("&"):
        raw = value.split("=", 1)[-1]
        found.update((raw, unquote(raw)))
    found.update(value for _, value in parse_qsl(parts.query))
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    found.update((netloc_host, netloc_host.split(":", 1)[0]))
    return sorted((s for s in found if len(s) >= _SHORTEST_SECRET), key=len, reverse=True)


def scrubbed(reason: str, url: str) -> str:
    """``reason`` with every possibly secret part of ``url`` replaced by ``…``."""
    for secret in secrets_of(url):
        reason = reason.replace(secret, "…")
    return " ".join(reason.split())[:300]
