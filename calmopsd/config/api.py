"""The HTTP API's settings (``api:``): where it listens and who may call it.

The API is on by default, on loopback only: a listen address beyond this host
must be asked for with ``public: true``, because every approval and revert is
one request away for whoever holds a token. Tokens are stored as the SHA-256 of
the secret, never the secret itself; each belongs to one organization or is a
platform super-admin, and is a viewer (reads) or an operator (also acts).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from calmopsd.config.reserved import LOCAL_TOKEN_NAME
from calmopsd.config.section import Section
from calmopsd.config.unique import repeats
from calmopsd.config.units import Name, OptionalPath, shown
from calmopsd.typed import (
    CrossCheck,
    Field,
    Problems,
    ValidationInfo,
    across_items,
    field_validator,
)

DEFAULT_LISTEN = "127.0.0.1:8787"
"""The daemon's own super-admin token for the CLI (``state_dir/api.token``); reserved."""

# The same rule as the store's organization ids (calmopsd/record/scope.py), which
# config may not import.
_ORGANIZATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BRACKETED = re.compile(r"\[(?P<host>[^\]]*)\]:(?P<port>[^:]*)")
_PLAIN = re.compile(r"(?P<host>[^:\[\]]*):(?P<port>[^:]*)")
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]*[A-Za-z][A-Za-z0-9.-]*")
_HINT = "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787"
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

Role = Literal["viewer", "operator"]
MetricsAccess = Literal["open_on_loopback", "token"]
"""``api.metrics``: who may read ``/metrics`` (:mod:`calmopsd.serve.monitoring`)."""


def split_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:8787`` → ("127.0.0.1", 8787); ``[::1]:8787`` → ("::1", 8787).

    Accepts exactly what the API server can bind: an IP address (no host name, no
    ``%scope``: the socket is bound to the address alone) and a port from 0 to 65535.
    Raises ``ValueError`` with a message fit for the config file's reader.
    """
    text = listen.strip()
    match = _BRACKETED.fullmatch(text) or _PLAIN.fullmatch(text)
    if match is None:
        raise ValueError(f"{_HINT}{_shape_hint(text)} (got {shown(listen)})")
    host, port = match.group("host"), _port(match.group("port"))
    address = _address(host, bracketed=text.startswith("["), listen=listen)
    reason = _unbindable(address)
    if reason:
        raise ValueError(f"{shown(host)} {reason}")
    return str(address), port


def _shape_hint(text: str) -> str:
    if text.count(":") > 1 and not text.startswith("["):
        return "; write IPv6 addresses in brackets"
    if ":" not in text:
        return "; the port is missing"
    return ""


def _port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise ValueError(f"port must be 0-65535 (0: any free port) (got {shown(text)})")
    return int(text)


def _address(host: str, *, bracketed: bool, listen: str) -> _Address:
    if bracketed and "%" in host:
        raise ValueError(
            f"{shown(host)} has a scope ({host[host.index('%') :]}), which the API cannot bind "
            "with: write the address alone, e.g. [::1]:8787 (a link-local fe80:: address, "
            "which needs one, cannot be used)"
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not bracketed and _HOST_NAME.fullmatch(host):
            raise ValueError(
                f"{_HINT}; {shown(host)} is a host name, and names are not looked up: "
                "write the address itself (127.0.0.1 for this host only)"
            ) from None
        raise ValueError(f"{_HINT}; {shown(host)} is not an IP address") from None
    if bracketed != (address.version == 6):
        raise ValueError(f"{_HINT}; write IPv6 addresses in brackets (got {shown(listen)})")
    return address


def _unbindable(address: _Address) -> str | None:
    """Why the API cannot serve on ``address``, though it is one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"is an IPv4 address in IPv6 form: write {address.ipv4_mapped}:PORT"
    if isinstance(address, ipaddress.IPv6Address) and address.is_link_local:
        return (
            "is link-local, which needs an interface scope the API cannot bind with: use a "
            "loopback, private or global address"
        )
    if address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        return "is a multicast or broadcast address, on which nothing can connect to a server"
    return None


def is_loopback(listen: str) -> bool:
    host, _ = split_listen(listen)
    return ipaddress.ip_address(host).is_loopback


class ApiTokenConfig(Section):
    """One bearer token: its name, whose it is, what it may do, and the SHA-256 of its secret."""

    name: Name = Field(description="Names the token in the audit log (actor token:NAME).")
    organization: str | None = Field(
        default=None,
        description="The organization whose incidents the token sees and acts on "
        "(or set super_admin instead).",
    )
    super_admin: bool = Field(
        default=False,
        description="true: sees and acts on every organization's incidents and the "
        "platform's; every such access is logged (instead of organization).",
    )
    role: Role = Field(
        description="viewer (read only) or operator (also approve, reject, change status, "
        "revert, open incidents, run a health check)."
    )
    sha256: str = Field(
        description="SHA-256 of the token, in hex, as `calmopsd token create` prints it; "
        "the token itself is never stored."
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == LOCAL_TOKEN_NAME:
            raise ValueError(f"{LOCAL_TOKEN_NAME!r} is the daemon's own token; choose another name")
        return value

    @field_validator("organization")
    @classmethod
    def _an_organization_id(cls, value: str | None) -> str | None:
        if value is not None and not _ORGANIZATION.fullmatch(value):
            raise ValueError(
                "must be an organization id: 1-63 lowercase letters, digits, '-' or '_' "
                f"(got {shown(value)})"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _a_digest(cls, value: str) -> str:
        if not _SHA256.fullmatch(value):
            raise ValueError(
                "must be 64 lowercase hex digits, the sha256 `calmopsd token create` prints "
                "(never the token itself)"
            )
        return value

    def _one_owner(self) -> None:
        if (self.organization is None) == (not self.super_admin):
            raise ValueError(
                f"give exactly one of organization: ORG and super_admin: true (token {self.name!r})"
            )

    cross_checks = (CrossCheck(("name", "organization", "super_admin"), _one_owner),)


def _unique_tokens(tokens: list[tuple[int, Any]]) -> None:
    found = [
        ((index, key), f"duplicate {key} (entries [{first}] and [{index}]): "
         "each token once, under one name")
        for key in ("name", "sha256")
        for index, _, first in repeats((i, getattr(token, key)) for i, token in tokens)
    ]  # fmt: skip
    if found:
        raise Problems(sorted(found))


Tokens = Annotated[list[ApiTokenConfig], across_items(_unique_tokens)]
"""The type of ``api.tokens``: each name and each hash once."""


class ApiConfig(Section):
    """The HTTP API."""

    enabled: bool = Field(default=True, description="Serve the HTTP API.")
    public: bool = Field(
        default=False,
        description="Allow a listen address other than loopback (logged as a warning at start).",
    )
    listen: str | None = Field(
        default=DEFAULT_LISTEN,
        description="IP:PORT to serve on ([::1]:8787 for IPv6; port 0: any free port): an "
        "IP address, no host name or %scope; empty: no TCP, only unix_socket.",
    )
    unix_socket: OptionalPath = Field(
        default=None,
        description="Also serve on this unix socket (mode 0600); empty: none.",
    )
    tokens: Tokens = Field(
        default_factory=list, description="Who may call the API; none by default."
    )
    metrics: MetricsAccess = Field(
        default="open_on_loopback",
        description="Who may read /metrics: open_on_loopback (no token from 127.0.0.0/8, ::1 "
        "or the unix socket; a super-admin token from anywhere else) or token (a super-admin "
        "token always). /-/healthy and /-/ready never need one.",
    )

    @field_validator("listen")
    @classmethod
    def _an_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        host, port = split_listen(value)
        # Only a public known to be false: a wrong one is said on its own line.
        if not ipaddress.ip_address(host).is_loopback and info.data.get("public") is False:
            raise ValueError(
                f"{host} is not a loopback address: anyone who can reach it could try "
                "tokens; set api.public: true to serve beyond this host"
            )
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _somewhere(self) -> None:
        if self.enabled and self.listen is None and self.unix_socket is None:
            raise ValueError("enabled, but neither listen nor unix_socket is set")

    cross_checks = (CrossCheck(("enabled", "listen", "unix_socket"), _somewhere),)
