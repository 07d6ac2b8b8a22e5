"""Organization scopes: the only way to read or write tenant data.

Isolation lives here, in the store, not in callers. Every query of a tenant
table takes a :class:`Scope` and filters by it; an organization scope sees and
changes only its own rows (never another organization's, never platform-wide
rows, whose ``organization_id`` is NULL); the platform super-admin scope sees
and changes everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from calmopsd.errors import ScopeError

# Organization ids appear in URLs, logs and SQL parameters: keep them boring.
ORGANIZATION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Scope:
    """Who is asking: one organization, or the platform super-admin (``organization_id`` None)."""

    organization_id: str | None

    @classmethod
    def organization(cls, organization_id: str) -> Scope:
        if not ORGANIZATION_ID.fullmatch(organization_id):
            raise ScopeError(
                f"invalid organization id {organization_id!r}: "
                "use 1-63 lowercase letters, digits, '-' or '_'"
            )
        return cls(organization_id)

    @classmethod
    def platform(cls) -> Scope:
        return cls(None)

    @property
    def is_super_admin(self) -> bool:
        return self.organization_id is None

    def filter(self, column: str = "organization_id") -> tuple[str, list[str]]:
        """A WHERE fragment and its parameters restricting rows to this scope."""
        if self.is_super_admin:
            return "1 = 1", []
        return f"{column} = ?", [self.organization_id or ""]

    def sees(self, organization_id: str | None) -> bool:
        return self.is_super_admin or organization_id == self.organization_id

    def check_writes(self, organization_id: str | None) -> None:
        """Refuse a write to rows of ``organization_id`` that this scope cannot touch."""
        if not self.sees(organization_id):
            owner = organization_id or "the platform"
            raise ScopeError(f"scope {self.organization_id!r} cannot write rows of {owner}")
        if organization_id is not None and not ORGANIZATION_ID.fullmatch(organization_id):
            raise ScopeError(f"invalid organization id {organization_id!r}")
