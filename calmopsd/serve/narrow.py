"""A read narrowed to one organization: ``organization_id`` in a query string or a page path.

A super-admin names any organization and reads as if through that organization's
scope (still a super-admin: its reads of an organization's data are still traced as
``api.bypass_read``, and what it may *do* is unchanged). An organization's token may
name only its own; any other id is simply not found, so the answer says nothing
about whether that organization exists.
"""

from __future__ import annotations

import dataclasses

from calmopsd.errors import NotFound
from calmopsd.record.scope import ORGANIZATION_ID, Scope
from calmopsd.serve.tokens import Caller


def narrowed(caller: Caller, organization_id: str | None) -> Caller:
    """The caller whose reads see ``organization_id``'s rows only (None: unchanged)."""
    if organization_id is None:
        return caller
    if not ORGANIZATION_ID.fullmatch(organization_id):
        raise NotFound(f"no organization {organization_id[:70]!r}")
    if not caller.super_admin:
        if organization_id != caller.scope.organization_id:
            raise NotFound(f"no organization {organization_id!r}")
        return caller
    return dataclasses.replace(caller, scope=Scope.organization(organization_id))
