"""``HttpUrl``: an absolute http(s) URL with a host, kept in its normal spelling.

The normal spelling is the one browsers and pydantic give: scheme and host in lower
case, the scheme's default port dropped, and ``/`` for an empty path, so
``HTTPS://Status.Example.com:443`` is ``https://status.example.com/``.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from calmopsd.typed.errors import Invalid, error
from calmopsd.typed.scalars import Mode

MAX_LENGTH = 2083
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpUrl:
    """An http:// or https:// URL; ``str()`` gives its normal spelling."""

    __slots__ = ("_text", "host", "path", "port", "query", "scheme")

    def __init__(self, text: str) -> None:
        normal = _normal(text)
        parts = urlsplit(normal)
        self._text = normal
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self.path = parts.path
        self.query = parts.query or None

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"HttpUrl({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HttpUrl) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)


def _normal(text: str) -> str:
    """``text``'s normal spelling; ``Invalid`` says why it is no http(s) URL."""
    if len(text) > MAX_LENGTH:
        raise Invalid([error("url_too_long", text, {"max_length": MAX_LENGTH})])
    stripped = text.strip()
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in stripped):
        reason = "it holds a space or a control character"
        raise Invalid([error("url_parsing", text, {"error": reason})])
    # As browsers and pydantic read an http(s) URL, a backslash is a slash: so
    # http://evil.example\@good.example/ goes to evil.example, and says so.
    stripped = stripped.replace("\\", "/")
    if "://" not in stripped:
        reason = "relative URL without a base" if stripped else "input is empty"
        raise Invalid([error("url_parsing", text, {"error": reason})])
    try:
        parts = urlsplit(stripped)
        port = parts.port
    except ValueError:  # its words quote the URL, which may hold a password
        raise Invalid([error("url_parsing", text, {"error": "invalid port number"})]) from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise Invalid([error("url_scheme", text, {"expected_schemes": "'http' or 'https'"})])
    host = parts.hostname or ""
    if not host:
        raise Invalid([error("url_parsing", text, {"error": "empty host"})])
    if ":" not in host:
        host = _domain(host, text)
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            raise Invalid([error("url_parsing", text, {"error": "invalid IPv6 address"})]) from None
        host = f"[{host}]"
    user = parts.netloc.rpartition("@")[0]
    netloc = (f"{user}@" if user else "") + host.lower()
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


_FORBIDDEN_IN_HOST = frozenset("#%/:<>?@[\\]^|")


def _domain(host: str, text: str) -> str:
    """``host`` as DNS asks for it: no character a URL's host may not hold, and an
    international name in its ASCII (IDNA) form, as clients send it."""
    if any(char in _FORBIDDEN_IN_HOST for char in host):
        raise Invalid([error("url_parsing", text, {"error": "invalid domain character"})])
    if host.isascii():
        if host.rpartition(".")[2].isdigit():  # as browsers read it, an IPv4 address
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise Invalid(
                    [error("url_parsing", text, {"error": "invalid IPv4 address"})]
                ) from None
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise Invalid(
            [error("url_parsing", text, {"error": "invalid international domain name"})]
        ) from None


def to_url(value: Any, mode: Mode) -> HttpUrl:
    del mode
    if isinstance(value, HttpUrl):
        return value
    if not isinstance(value, str):
        raise Invalid([error("url_type", value)])
    return HttpUrl(value)
