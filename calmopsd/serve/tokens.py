"""Bearer tokens: who is calling, found in constant time.

The config holds only each token's SHA-256. A presented token is hashed and
compared with :func:`hmac.compare_digest` against *every* configured hash —
no early exit on a match or a mismatch — so the time taken says nothing about
which token, or how much of one, was right. Hashing first also makes the
compared values the same length whatever was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from calmopsd.config.reserved import LOCAL_TOKEN_NAME
from calmopsd.record.scope import Scope

if TYPE_CHECKING:
    from calmopsd.config.api import ApiTokenConfig, Role

_BEARER = re.compile(r"(?i:bearer) +([\x21-\x7e]{1,512})")
_UNIX_USER = re.compile(r"[A-Za-z0-9_.-]{1,32}")

Compare = Callable[[str, str], bool]


@dataclass(frozen=True)
class TokenEntry:
    """A token the API accepts: its name, whose it is, its role, and its hash."""

    name: str
    organization_id: str | None  # None: super-admin
    role: Role
    sha256: str

    @classmethod
    def from_config(cls, token: ApiTokenConfig) -> TokenEntry:
        return cls(token.name, None if token.super_admin else token.organization, token.role,
                   token.sha256)  # fmt: skip


@dataclass(frozen=True)
class Caller:
    """Who is asking, once authenticated: the scope every read and write goes through."""

    name: str
    scope: Scope
    role: Role
    super_admin: bool
    actor: str  # as the audit log records it: token:NAME, or cli:USER for the local CLI

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


def new_token() -> tuple[str, str]:
    """A fresh random token and its SHA-256 (what the config stores)."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def bearer(header: str | None) -> str | None:
    """The token in an ``Authorization: Bearer TOKEN`` header, or None."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match.group(1) if match else None


def actor_header(value: str | None) -> str | None:
    """The unix user named by ``X-Calmops-Actor`` if it is a plain user name, else None."""
    if value is None or not _UNIX_USER.fullmatch(value):
        return None
    return value


class Tokens:
    """The tokens in force: the config's (replaced as a whole on a reload) and the daemon's
    own local one (fresh at each start, kept across reloads)."""

    def __init__(
        self,
        configured: Iterable[TokenEntry] = (),
        local: TokenEntry | None = None,
        compare: Compare = hmac.compare_digest,
    ):
        self._configured: tuple[TokenEntry, ...] = tuple(configured)
        self.local = local
        self._compare = compare
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls, tokens: Iterable[ApiTokenConfig], local: TokenEntry | None = None
    ) -> Tokens:
        return cls([TokenEntry.from_config(token) for token in tokens], local)

    def replace(self, configured: Iterable[TokenEntry]) -> None:
        entries = tuple(configured)
        with self._lock:
            self._configured = entries

    def entries(self) -> tuple[TokenEntry, ...]:
        with self._lock:
            configured = self._configured
        return (*configured, self.local) if self.local is not None else configured

    def find(self, token: str) -> TokenEntry | None:
        """The entry whose hash matches ``token``, comparing against every entry."""
        presented = digest(token)
        found: TokenEntry | None = None
        for entry in self.entries():
            # No break: every entry is compared, whether or not one already matched.
            if self._compare(presented, entry.sha256) and found is None:
                found = entry
        return found


def local_token() -> tuple[str, TokenEntry]:
    """A fresh super-admin operator token for the local CLI, and its entry (hash only)."""
    token, sha256 = new_token()
    return token, TokenEntry(LOCAL_TOKEN_NAME, None, "operator", sha256)


def caller_for(entry: TokenEntry, actor_user: str | None) -> Caller:
    """The :class:`Caller` of an authenticated token; ``actor_user`` counts only for the
    daemon's local CLI token, whose calls are recorded under the person's user name."""
    scope = (
        Scope.platform()
        if entry.organization_id is None
        else Scope.organization(entry.organization_id)
    )
    actor = f"token:{entry.name}"
    if entry.name == LOCAL_TOKEN_NAME and actor_user is not None:
        actor = f"cli:{actor_user}"
    return Caller(entry.name, scope, entry.role, entry.organization_id is None, actor)
