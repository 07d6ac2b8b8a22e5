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
from typing import Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from calmopsd.config.section import Section
from calmopsd.config.units import ConfigPath, Name, shown

DEFAULT_LISTEN = "127.0.0.1:8787"
LOCAL_TOKEN_NAME = "local-cli"  # noqa: S105  # a name, not a secret
"""The daemon's own super-admin token for the CLI (``state_dir/api.token``); reserved."""

# The same rule as the store's organization ids (calmopsd/record/scope.py), which
# config may not import.
_ORGANIZATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LISTEN = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})")

Role = Literal["viewer", "operator"]


def split_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:8787`` → ("127.0.0.1", 8787); ``[::1]:8787`` → ("::1", 8787).

    Raises ``ValueError`` with a message fit for the config file's reader.
    """
    match = _LISTEN.fullmatch(listen.strip())
    hint = "must be IP:PORT, e.g. 127.0.0.1:8787 or [::1]:8787"
    if match is None:
        raise ValueError(f"{hint} (got {shown(listen)})")
    host = match.group("v6") or match.group("v4")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{hint}; {shown(host)} is not an IP address") from None
    if (match.group("v6") is not None) != (address.version == 6):
        raise ValueError(f"{hint}; write IPv6 addresses in brackets (got {shown(listen)})")
    port = int(match.group("port"))
    if port > 65535:
        raise ValueError(f"port must be 0-65535 (got {port})")
    return str(address), port


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

    @model_validator(mode="after")
    def _one_owner(self) -> Self:
        if (self.organization is None) == (not self.super_admin):
            raise ValueError(
                f"give exactly one of organization: ORG and super_admin: true (token {self.name!r})"
            )
        return self


class ApiConfig(Section):
    """The HTTP API."""

    enabled: bool = Field(default=True, description="Serve the HTTP API.")
    public: bool = Field(
        default=False,
        description="Allow a listen address other than loopback (logged as a warning at start).",
    )
    listen: str | None = Field(
        default=DEFAULT_LISTEN,
        description="IP:PORT to serve on ([::1]:8787 for IPv6; port 0: any free port); "
        "empty: no TCP, only unix_socket.",
    )
    unix_socket: ConfigPath | None = Field(
        default=None,
        description="Also serve on this unix socket (mode 0600); empty: none.",
    )
    tokens: list[ApiTokenConfig] = Field(
        default_factory=list, description="Who may call the API; none by default."
    )

    @field_validator("listen")
    @classmethod
    def _an_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        host, port = split_listen(value)
        if not ipaddress.ip_address(host).is_loopback and not info.data.get("public"):
            raise ValueError(
                f"{host} is not a loopback address: anyone who can reach it could try "
                "tokens; set api.public: true to serve beyond this host"
            )
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[ApiTokenConfig]) -> list[ApiTokenConfig]:
        for key in ("name", "sha256"):
            first: dict[str, int] = {}
            for index, token in enumerate(tokens):
                value = getattr(token, key)
                if value in first:
                    raise ValueError(
                        f"duplicate {key} (entries [{first[value]}] and [{index}]): "
                        "each token once, under one name"
                    )
                first[value] = index
        return tokens

    @model_validator(mode="after")
    def _somewhere(self) -> Self:
        if self.enabled and self.listen is None and self.unix_socket is None:
            raise ValueError("enabled, but neither listen nor unix_socket is set")
        return self
